/**
 * OBJECT_DATAGRAM between moq-transport peers on raw QUIC and on WebTransport (HTTP datagrams): a
 * publisher's datagrams become cached single-object groups, forwarded as datagrams to a subscriber
 * whose transport carries them (payload, object id, priority and properties kept) and on subgroup
 * streams to a WebSocket subscriber, whose transport has none. A malformed datagram is dropped with
 * a warn line and the session goes on.
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  publishNamespaceRequest,
  RawIetfPeer,
  type RelayProcess,
  sleep,
  subscribeRequest,
  within,
} from "../testing/mod.ts";
import type { Ietf } from "../session/mod.ts";

/** A datagram-carrying transport to dial: raw QUIC (ALPN) or WebTransport (`wt-protocol`). */
type DatagramTransport = "quic" | "webtransport";

async function dialRaw(relay: RelayProcess, draft: Draft, over: DatagramTransport): Promise<RawIetfPeer> {
  const peer = await RawIetfPeer.dial(relay, draft, over);
  assert.ok(peer.transport.datagrams, `${over} carries datagrams`);
  return peer;
}

const GROUPS = 6;

const CASES: [Draft, DatagramTransport][] = [
  [14, "quic"],
  [16, "quic"],
  [18, "quic"],
  [20, "quic"],
  [16, "webtransport"],
  [20, "webtransport"],
];

for (const [draft, over] of CASES) {
  e2e(
    `moq-transport-${draft} ${over}: OBJECT_DATAGRAMs relayed as datagrams and as streams`,
    async (relay) => {
      const pub = await dialRaw(relay, draft, over);
      const ann = await pub.request(publishNamespaceRequest(["room"]));
      assert.ok(await within(5_000, "announce OK", ann.next()));
      const subQuic = await dialRaw(relay, draft, over);
      const subWs = await RawIetfPeer.connect(relay.port, draft, "");
      const reqQuic = await subQuic.request(subscribeRequest(["room"], "cam"));
      await pub.answerSubscribe(9, 10_000);
      assert.equal((await within(5_000, "SUBSCRIBE_OK", reqQuic.next()))?.kind, "subscribeOk");
      const reqWs = await subWs.request(subscribeRequest(["room"], "cam"));
      assert.equal((await within(5_000, "SUBSCRIBE_OK (ws)", reqWs.next()))?.kind, "subscribeOk");
      await sleep(100);

      // A malformed datagram (reserved type) is dropped; the session stays up.
      pub.transport.datagrams!.send(Uint8Array.of(0x3f, 9, 0));
      const sent: Ietf.Datagram[] = [];
      for (let g = 0; g < GROUPS; g++) {
        const d: Ietf.Datagram = {
          trackAlias: 9,
          group: g,
          objectId: g % 2 === 0 ? 0 : 3 + g,
          publisherPriority: 100 + g,
          extensions: g === 3 ? [{ type: 0x02, value: 77 }] : [],
          payload: Uint8Array.from({ length: 50 + g * 100 }, (_, i) => (i * 7 + g) & 0xff),
          endOfGroup: true,
        };
        sent.push(d);
        pub.sendDatagram(d);
        await sleep(30);
      }
      // Loopback datagrams are not lost in practice; a few are allowed to be, without failing.
      await eventually(`datagrams at the ${over} subscriber`, () => subQuic.datagrams.length >= GROUPS - 1);
      assert.equal(subQuic.data.length, 0, "no subgroup stream where datagrams are carried");
      for (const got of subQuic.datagrams) {
        const want = sent[got.group];
        assert.ok(want, `group ${got.group} was sent`);
        assert.deepEqual(got.payload, want.payload, `group ${got.group} payload byte-exact`);
        assert.equal(got.objectId, want.objectId, `group ${got.group} object id`);
        assert.equal(got.publisherPriority, want.publisherPriority, `group ${got.group} priority`);
        assert.deepEqual(got.extensions, want.extensions, `group ${got.group} properties`);
      }
      // The WebSocket subscriber gets every received group on a subgroup stream.
      await eventually(
        "streams at the WebSocket subscriber",
        () => subWs.data.length >= subQuic.datagrams.length,
      );
      for (const s of subWs.data) {
        const want = sent[s.header.kind === "subgroup" ? s.header.group : -1];
        assert.ok(want);
        assert.equal(s.objects.length, 1);
        assert.deepEqual(s.objects[0].payload, want.payload);
        assert.equal(s.objects[0].objectId, want.objectId);
      }
      assert.ok(
        relay.logs.some((l) => /malformed OBJECT_DATAGRAM dropped/.test(l)),
        "a warn line for the bad one",
      );
      pub.close();
      subQuic.close();
      subWs.close();
    },
    { auth: `public = ""`, server: `version = ["moq-transport-${draft}"]` },
  );
}
