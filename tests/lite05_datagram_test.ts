/**
 * lite-05 carries single-frame groups as datagrams: QUIC datagrams on raw QUIC, HTTP datagrams on
 * WebTransport (RFC 9297: quarter stream id + payload in a QUIC datagram, docs/webtransport.md §10).
 * A publisher on our own QUIC or WebTransport client sends a group as a datagram; the relay
 * forwards it as a datagram to a lite-05 subscriber on the same transport and on a stream to a
 * WebSocket (lite-02) subscriber.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BidiType05, decodeDatagram05, decodeSubscribe05, encodeDatagram05, Role } from "../session/mod.ts";
import {
  acceptRequest05,
  answerAnnounce05,
  connect,
  dialLite05,
  openSubscribe05,
  readGroup,
  readMessage05,
  readRelaySetup05,
  relayTrackInfo05,
  sleep,
  startRelay,
  subscribe,
  within,
} from "../testing/mod.ts";

/** One run of the scenario: the transport and the values that must come through. */
interface DatagramCase {
  over: "quic" | "webtransport";
  name: string;
  /** The subscriber's subscription id (the relay rewrites the publisher's). */
  subscribeId: bigint;
  sequence: number;
  timestamp: bigint;
  payload: Uint8Array;
}

const CASES: DatagramCase[] = [
  {
    over: "quic",
    name:
      "lite-05 raw QUIC datagrams: a single-frame group sent as a datagram reaches a QUIC subscriber as one, " +
      "a lite-02 WebSocket subscriber on a stream",
    subscribeId: 5n,
    sequence: 7,
    timestamp: 96_000n,
    payload: Uint8Array.of(1, 2, 3, 4, 5),
  },
  {
    over: "webtransport",
    name:
      "lite-05 WebTransport datagrams: a datagram group from a WT publisher reaches a WT subscriber as an " +
      "HTTP datagram and a WebSocket subscriber on a stream",
    subscribeId: 9n,
    sequence: 3,
    timestamp: 480_000n,
    payload: Uint8Array.of(9, 8, 7, 6, 5, 4),
  },
];

for (const c of CASES) {
  Deno.test({ name: c.name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const relay = await startRelay();
    try {
      // Raw QUIC carries no URL: the root is the SETUP Path; WebTransport's is its URL path.
      const dial = (role: Role) =>
        c.over === "quic"
          ? dialLite05(relay, { setupPath: "/anon", role })
          : dialLite05(relay, { over: "webtransport", urlPath: "/anon", role });
      const pub = await dial(Role.Publisher);
      if (c.over === "quic") await readRelaySetup05(pub);
      await answerAnnounce05(pub, "dg");

      const sub = await dial(Role.Subscriber);
      assert.ok(sub.datagrams && sub.datagrams.maxBytes > 0, `the ${c.over} session carries datagrams`);
      if (c.over === "webtransport") {
        assert.ok(
          sub.datagrams.maxBytes < 1500,
          `one QUIC packet less the prefix: ${sub.datagrams.maxBytes}`,
        );
      }
      // The viewer asks for TRACK_INFO; the relay asks the publisher, then subscribes upstream.
      const info = { priority: 0, ordered: false, maxLatencyMs: 1000, timescale: 48_000 };
      assert.equal((await relayTrackInfo05(sub, pub, "dg", "audio", info)).timescale, 48_000);
      const upSub = await acceptRequest05(pub, BidiType05.Subscribe, "SUBSCRIBE at the publisher");
      const upstreamId = decodeSubscribe05(await readMessage05(upSub)).id;

      await openSubscribe05(sub, c.subscribeId, "dg", "audio");
      const ws = await connect(relay.port, "anon");
      const wsTrack = await subscribe(ws, "dg", "audio");
      await sleep(500);

      const { sequence, timestamp, payload } = c;
      pub.datagrams!.send(encodeDatagram05({ subscribeId: upstreamId, sequence, timestamp, payload }));
      const body = await within(10_000, `the datagram at the ${c.over} subscriber`, sub.datagrams.receive());
      assert.ok(body);
      assert.deepEqual(decodeDatagram05(body), { subscribeId: c.subscribeId, sequence, timestamp, payload });
      assert.deepEqual(await readGroup(wsTrack), { sequence, frames: [payload] });
      ws.close();
      sub.close(0, "done");
      pub.close(0, "done");
    } finally {
      await relay.stop("SIGKILL");
    }
  });
}
