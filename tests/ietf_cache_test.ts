/**
 * moq-transport features beyond upstream's relay, against a relay restricted to draft-18 with a raw
 * client: FETCH (standalone and joining) and subscribe filters served from the group cache,
 * TRACK_STATUS, and a protocol violation closing only the offending session.
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  publishGroups,
  publishNamespaceRequest,
  RawIetfPeer,
  type RelayProcess,
  sleep,
  standaloneFetch,
  subscribeRequest,
  within,
} from "../testing/mod.ts";

const DRAFT: Draft = 18;
const NS = ["cache", "demo"];
const OPTS = { server: `version = ["moq-transport-${DRAFT}"]` };
const obj = (g: number, o: number) => new TextEncoder().encode(`g${g}o${o}`.repeat(o + 1));

/** A publisher that PUBLISHes `video` and sends groups 0..2 of 3 objects each; the relay caches them. */
async function cachedPublisher(relay: RelayProcess): Promise<RawIetfPeer> {
  const groups = [0, 1, 2].map((g) => [0, 1, 2].map((o) => obj(g, o)));
  const { peer, reply } = await publishGroups(relay, DRAFT, NS, "video", 9, groups);
  assert.equal(reply?.kind, "requestOk");
  return peer;
}

e2e("FETCH: a standalone range is served from the cache, byte-exact and in order", async (relay) => {
  const pub = await cachedPublisher(relay);
  const sub = await RawIetfPeer.connect(relay.port, DRAFT);
  const req = await sub.request(standaloneFetch(NS, "video", [0, 1], [2, 2]));
  const ok = await within(5_000, "FETCH_OK", req.next());
  assert.equal(ok?.kind, "fetchOk");
  assert.deepEqual(ok?.kind === "fetchOk" && ok.endLocation, { group: 2, object: 1 });
  await eventually("fetch stream", () => sub.fetches.length === 1, 5_000);
  const got = sub.fetches[0].objects.map((o) => [o.group, o.objectId, new TextDecoder().decode(o.payload)]);
  const want = [[0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1]].map((
    [g, o],
  ) => [g, o, new TextDecoder().decode(obj(g, o))]);
  assert.deepEqual(got, want);
  assert.ok(sub.fetches[0].finished);
  pub.close();
  sub.close();
}, OPTS);

e2e("FETCH: a relative joining fetch completes a subscription back to its join point", async (relay) => {
  const pub = await cachedPublisher(relay);
  const sub = await RawIetfPeer.connect(relay.port, DRAFT);
  const s = await sub.request(subscribeRequest(NS, "video"));
  const ok = await within(5_000, "SUBSCRIBE_OK", s.next());
  assert.equal(ok?.kind, "subscribeOk");
  assert.deepEqual(ok?.kind === "subscribeOk" && ok.largest, { group: 2, object: 2 });
  const f = await sub.request({
    kind: "fetch",
    requestId: 2,
    spec: { type: "relativeJoining", joiningRequestId: 0, offset: 2 },
    params: [],
  });
  assert.equal((await within(5_000, "FETCH_OK", f.next()))?.kind, "fetchOk");
  await eventually("live group and fetch", () => sub.fetches.length === 1 && sub.data.length >= 1, 5_000);
  // The subscription starts at group 2 (the latest); the fetch brings groups 0 and 1.
  assert.deepEqual(sub.data.map((d) => d.header.group), [2]);
  assert.deepEqual([...new Set(sub.fetches[0].objects.map((o) => o.group))], [0, 1]);
  assert.deepEqual(
    sub.fetches[0].objects.map((o) => o.payload),
    [0, 1].flatMap((g) => [0, 1, 2].map((o) => obj(g, o))),
  );
  pub.close();
  sub.close();
}, OPTS);

e2e("SUBSCRIBE: an absolute-start filter replays the cached groups from its start", async (relay) => {
  const pub = await cachedPublisher(relay);
  const sub = await RawIetfPeer.connect(relay.port, DRAFT);
  const s = await sub.request({
    kind: "subscribe",
    requestId: 0,
    namespace: NS,
    name: "video",
    filter: { type: "absoluteStart", start: { group: 1, object: 0 } },
    params: [],
  });
  assert.equal((await within(5_000, "SUBSCRIBE_OK", s.next()))?.kind, "subscribeOk");
  await eventually("groups 1 and 2", () => sub.data.length >= 2, 5_000);
  assert.deepEqual(sub.data.map((d) => d.header.group).sort(), [1, 2]);
  for (const d of sub.data) {
    assert.deepEqual(d.objects.map((o) => o.payload), [0, 1, 2].map((o) => obj(d.header.group, o)));
  }
  pub.close();
  sub.close();
}, OPTS);

e2e("TRACK_STATUS: the largest cached location, or DOES_NOT_EXIST", async (relay) => {
  const pub = await cachedPublisher(relay);
  const sub = await RawIetfPeer.connect(relay.port, DRAFT);
  const t = await sub.request({
    kind: "trackStatus",
    requestId: 0,
    namespace: NS,
    name: "video",
    params: [],
  });
  const ok = await within(5_000, "TRACK_STATUS reply", t.next());
  assert.equal(ok?.kind, "requestOk");
  const largest = ok?.kind === "requestOk" ? ok.params.find((p) => p.type === 0x09)?.value : undefined;
  assert.deepEqual(largest, Uint8Array.of(2, 2));
  const missing = await sub.request({
    kind: "trackStatus",
    requestId: 2,
    namespace: ["nope"],
    name: "x",
    params: [],
  });
  const err = await within(5_000, "TRACK_STATUS error", missing.next());
  assert.equal(err?.kind === "requestError" && err.code, 0x10);
  pub.close();
  sub.close();
}, OPTS);

e2e("a malformed request closes only the offending session, with a warn line", async (relay) => {
  const good = await RawIetfPeer.connect(relay.port, DRAFT);
  const bad = await RawIetfPeer.connect(relay.port, DRAFT);
  const s = await bad.transport.openBidi();
  // SUBSCRIBE (0x03) whose 16-bit length promises 4 bytes of a body that is not a SUBSCRIBE.
  await s.send.write(Uint8Array.of(0x03, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff));
  const info = await within(5_000, "bad session closed", bad.transport.closed);
  assert.notEqual(info.code, 0);
  await relay.waitForLog(/WARN.*closing session on protocol error/);
  // The other session still works.
  const req = await good.request({
    kind: "publishNamespace",
    requestId: 0,
    namespace: ["still", "here"],
    params: [],
  });
  assert.equal((await within(5_000, "REQUEST_OK", req.next()))?.kind, "requestOk");
  good.close();
}, OPTS);

e2e("MAX_REQUEST_ID: the relay grants a window, raises it, and refuses an id beyond it", async (relay) => {
  const peer = await RawIetfPeer.connect(relay.port, 16);
  const setup = peer.setup;
  assert.equal(setup?.kind, "serverSetup");
  const granted = setup?.kind === "serverSetup" ? setup.options.find((o) => o.type === 0x02)?.value : 0;
  assert.equal(granted, 256);
  const req = await peer.request(publishNamespaceRequest(["a"]));
  assert.equal((await within(5_000, "REQUEST_OK", req.next()))?.kind, "requestOk");
  await eventually(
    "MAX_REQUEST_ID",
    () => peer.sessionMessages.some((m) => m.kind === "maxRequestId"),
    5_000,
  );
  const raised = peer.sessionMessages.find((m) => m.kind === "maxRequestId");
  assert.ok(raised?.kind === "maxRequestId" && raised.requestId > 256);
  // An id beyond what was granted closes the session with TOO_MANY_REQUESTS.
  await peer.writeControl({ kind: "publishNamespace", requestId: 10_000, namespace: ["b"], params: [] });
  const info = await within(5_000, "session closed", peer.transport.closed);
  assert.equal(info.code, 0x7);
}, { server: `version = ["moq-transport-16"]` });

e2e("MAX_REQUEST_ID: the relay honours the peer's limit (REQUESTS_BLOCKED) and its raise", async (relay) => {
  const pub = await RawIetfPeer.connect(relay.port, 15, "anon", 0);
  const ann = await pub.request(publishNamespaceRequest(NS));
  assert.equal((await within(5_000, "REQUEST_OK", ann.next()))?.kind, "requestOk");
  const sub = await RawIetfPeer.connect(relay.port, 15);
  const first = await sub.request(subscribeRequest(NS, "a"));
  assert.equal((await within(5_000, "refused", first.next()))?.kind, "requestError");
  await eventually(
    "REQUESTS_BLOCKED",
    () => pub.sessionMessages.some((m) => m.kind === "requestsBlocked"),
    5_000,
  );
  assert.equal(pub.incoming.length, 0, "no SUBSCRIBE beyond the limit");
  await pub.writeControl({ kind: "maxRequestId", requestId: 10 });
  await sleep(100);
  const second = await sub.request(subscribeRequest(NS, "b"));
  await eventually("upstream SUBSCRIBE", () => pub.incoming.length === 1, 5_000);
  const up = pub.incoming[0];
  assert.equal(up.first.kind === "subscribe" && up.first.requestId, 1);
  await up.req.send({ kind: "subscribeOk", requestId: 1, trackAlias: 4, params: [], properties: [] });
  assert.equal((await within(5_000, "SUBSCRIBE_OK", second.next()))?.kind, "subscribeOk");
  pub.close();
  sub.close();
}, { server: `version = ["moq-transport-15"]` });

for (const draft of [16, 18] as Draft[]) {
  e2e(`GOAWAY on drain (draft-${draft})`, async (relay) => {
    const peer = await RawIetfPeer.connect(relay.port, draft);
    relay.child.kill("SIGTERM");
    await eventually("GOAWAY", () => peer.sessionMessages.some((m) => m.kind === "goaway"), 5_000);
    await within(15_000, "session closed", peer.transport.closed);
  }, { server: `version = ["moq-transport-${draft}"]` });
}

e2e(
  "SUBSCRIBE: an absolute range ends with PUBLISH_DONE SUBSCRIPTION_ENDED once its last group is sent",
  async (relay) => {
    const pub = await cachedPublisher(relay);
    const sub = await RawIetfPeer.connect(relay.port, DRAFT);
    const s = await sub.request({
      kind: "subscribe",
      requestId: 0,
      namespace: NS,
      name: "video",
      filter: { type: "absoluteRange", start: { group: 0, object: 0 }, endGroup: 1 },
      params: [],
    });
    assert.equal((await within(5_000, "SUBSCRIBE_OK", s.next()))?.kind, "subscribeOk");
    const done = await within(5_000, "PUBLISH_DONE", s.next());
    assert.equal(done?.kind === "publishDone" && done.statusCode, 0x3);
    assert.equal(done?.kind === "publishDone" && done.streamCount, 2);
    await eventually("groups 0 and 1", () => sub.data.length >= 2, 5_000);
    assert.deepEqual(sub.data.map((d) => d.header.group).sort(), [0, 1]);
    pub.close();
    sub.close();
  },
  OPTS,
);
