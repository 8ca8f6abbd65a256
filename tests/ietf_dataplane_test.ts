/**
 * The interop runner's seven data-plane vectors (englishm/moq-interop-runner
 * `docs/tests/vectors/data-plane.json`, revision 1) through the relay: a publisher PUBLISHes the track,
 * a subscriber's pending SUBSCRIBE (RENDEZVOUS_TIMEOUT) receives every subgroup stream exactly as
 * sent — group, subgroup, first-object (18+) and end-of-group bits, object ids, priorities, object
 * properties, payloads — then PUBLISH_DONE TRACK_ENDED with the exact stream count.
 */

import assert from "node:assert/strict";
import { type Draft, e2e, eventually, RawIetfPeer, sleep, within } from "../testing/mod.ts";

interface VectorObject {
  group: number;
  subgroup: number;
  id: number;
  priority: number;
  props?: { type: number; value: number | string }[];
}

const t = (n: number) => new TextEncoder().encode("t".repeat(n));
const o = (group: number, subgroup: number, id: number, priority = 200): VectorObject => ({
  group,
  subgroup,
  id,
  priority,
});

/** The objects of each vector, in emission order. */
const VECTORS: Record<string, VectorObject[]> = {
  "subscribe-one-subgroup-per-group": [
    o(0, 0, 0),
    o(0, 0, 1),
    o(0, 0, 2),
    o(1, 0, 0, 201),
    o(1, 0, 1, 201),
    o(1, 0, 2, 201),
  ],
  "subscribe-one-subgroup-per-object": [o(0, 0, 0), o(0, 1, 1), o(0, 2, 2)],
  "subscribe-two-subgroups-per-group": [
    o(0, 0, 0),
    o(0, 1, 1),
    o(0, 0, 2),
    o(0, 1, 3),
    o(0, 0, 4),
    o(0, 1, 5),
  ],
  "subscribe-nonzero-start-group": [o(5, 0, 0, 201), o(5, 0, 1, 201), o(6, 0, 0), o(6, 0, 1)],
  "subscribe-nonzero-start-object": [o(0, 0, 3), o(0, 0, 4), o(0, 0, 5)],
  "subscribe-sparse-group-object-ids": [0, 2, 4].flatMap((g) => [o(g, 0, 0), o(g, 0, 2), o(g, 0, 4)]),
  "subscribe-object-properties": [
    { ...o(0, 0, 0), props: [{ type: 14336, value: 4660 }, { type: 14337, value: "high-type-3801" }] },
    { ...o(0, 0, 1), props: [{ type: 14338, value: 270544960 }, { type: 14339, value: "high-type-3803" }] },
  ],
};

/** The first object emitted in a group has 16 bytes, the others 8. */
function payloads(objects: VectorObject[]): Uint8Array[] {
  const seen = new Set<number>();
  return objects.map((x) => {
    const first = !seen.has(x.group);
    seen.add(x.group);
    return t(first ? 16 : 8);
  });
}

const params = (props: VectorObject["props"]) =>
  (props ?? []).map((p) => ({
    type: p.type,
    value: typeof p.value === "number" ? p.value : new TextEncoder().encode(p.value),
  }));

for (const draft of [14, 15, 16, 17, 18, 19, 20] as Draft[]) {
  for (const [id, objects] of Object.entries(VECTORS)) {
    e2e(`data-plane d${draft} ${id}`, async (relay) => {
      const ns = ["moq-interop", id];
      const name = crypto.randomUUID().replaceAll("-", "");
      const sub = await RawIetfPeer.connect(relay.port, draft);
      const subReq = await sub.request({
        kind: "subscribe",
        requestId: 0,
        namespace: ns,
        name,
        params: [{ type: 0x04, value: 5000 }],
      });
      await sleep(200);
      const pub = await RawIetfPeer.connect(relay.port, draft);
      const req = await pub.request({
        kind: "publish",
        requestId: 0,
        namespace: ns,
        name,
        trackAlias: 3,
        params: [],
        properties: [],
      });
      assert.equal(
        (await within(5_000, "PUBLISH_OK", req.next()))?.kind,
        draft <= 16 ? "publishOk" : "requestOk",
      );
      assert.equal((await within(5_000, "SUBSCRIBE_OK", subReq.next()))?.kind, "subscribeOk");
      // One stream per (group, subgroup), objects in emission order within it.
      const bytes = payloads(objects);
      const streams = new Map<
        string,
        { group: number; subgroup: number; priority: number; objs: number[] }
      >();
      objects.forEach((x, i) => {
        const key = `${x.group}/${x.subgroup}`;
        if (!streams.has(key)) {
          streams.set(key, { group: x.group, subgroup: x.subgroup, priority: x.priority, objs: [] });
        }
        streams.get(key)!.objs.push(i);
      });
      await Promise.all([...streams.values()].map((s) =>
        pub.sendSubgroup(
          3,
          s.group,
          s.objs.map((i) => ({ id: objects[i].id, payload: bytes[i], ext: params(objects[i].props) })),
          s.subgroup,
          { priority: s.priority, endOfGroup: false },
        )
      ));
      await req.send({
        kind: "publishDone",
        requestId: 0,
        statusCode: 0x2,
        streamCount: streams.size,
        reason: "",
      });
      await req.finish();
      const done = await within(5_000, "PUBLISH_DONE", subReq.next());
      assert.equal(done?.kind, "publishDone");
      assert.equal(done?.kind === "publishDone" && done.statusCode, 0x2);
      assert.equal(done?.kind === "publishDone" && done.streamCount, streams.size);
      await eventually("every stream", () => sub.data.length >= streams.size, 5_000);
      assert.equal(sub.data.length, streams.size);
      for (const d of sub.data) {
        const want = streams.get(`${d.header.group}/${d.header.subgroup ?? 0}`);
        assert.ok(want, `unexpected stream ${d.header.group}/${d.header.subgroup}`);
        assert.ok(d.finished, "FIN");
        assert.equal(d.header.publisherPriority, want.priority);
        assert.equal(d.header.endOfGroup, false);
        assert.equal(d.header.firstObjectBit, draft >= 18);
        assert.deepEqual(d.objects.map((x) => x.objectId), want.objs.map((i) => objects[i].id));
        assert.deepEqual(d.objects.map((x) => x.payload), want.objs.map((i) => bytes[i]));
        assert.deepEqual(d.objects.map((x) => x.extensions), want.objs.map((i) => params(objects[i].props)));
      }
      pub.close();
      sub.close();
    }, { server: `version = ["moq-transport-${draft}"]` });
  }
}
