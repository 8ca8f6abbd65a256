/**
 * Object properties between moq-transport peers of different drafts: a draft-14/16 publisher's
 * extension headers reach a draft-16/18 subscriber re-encoded in the subscriber's property coding
 * (absolute types in 14–15, delta types in 16, leading-ones varints from 17), with payloads and
 * object ids intact.
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  publishNamespaceRequest,
  RawIetfPeer,
  subscribeRequest,
  within,
} from "../testing/mod.ts";

const PAIRS: [Draft, Draft][] = [[14, 18], [16, 18], [14, 16], [18, 16]];

for (const [pubDraft, subDraft] of PAIRS) {
  e2e(
    `properties from a draft-${pubDraft} publisher reach a draft-${subDraft} subscriber intact`,
    async (relay) => {
      const pub = await RawIetfPeer.connect(relay.port, pubDraft, "");
      const ann = await pub.request(publishNamespaceRequest(["x"]));
      assert.ok(await within(5_000, "announce", ann.next()));
      const sub = await RawIetfPeer.connect(relay.port, subDraft, "");
      const req = await sub.request(subscribeRequest(["x"], "t"));
      await pub.answerSubscribe(4);
      assert.equal((await within(5_000, "SUBSCRIBE_OK", req.next()))?.kind, "subscribeOk");
      const ext = [{ type: 0x3c, value: 1_000_000 }, { type: 0x02, value: 9 }, {
        type: 0x0b,
        value: Uint8Array.of(7, 8),
      }];
      const sorted = [...ext].sort((a, b) => a.type - b.type);
      // Draft-14 types are absolute, so any order; 16+ delta-codes them, sorted.
      const objects = [
        { id: 0, payload: new Uint8Array(300).fill(1), ext: pubDraft <= 15 ? ext : sorted },
        { id: 4, payload: Uint8Array.of(2) },
      ];
      await pub.sendSubgroup(4, 0, objects);
      await eventually("objects", () => sub.data.length > 0, 5_000);
      const got = sub.data[0].objects;
      assert.deepEqual(got.map((o) => o.objectId), [0, 4]);
      assert.deepEqual(got.map((o) => o.payload), objects.map((o) => o.payload));
      assert.deepEqual([...got[0].extensions].sort((a, b) => a.type - b.type), sorted);
      assert.deepEqual(got[1].extensions, []);
      pub.close();
      sub.close();
    },
    { auth: `public = ""` },
  );
}
