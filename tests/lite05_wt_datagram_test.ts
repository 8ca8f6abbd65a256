/**
 * lite-05 over WebTransport carries single-frame groups as HTTP datagrams (RFC 9297: quarter stream
 * id + payload in a QUIC datagram, docs/webtransport.md §10): a publisher on our own WebTransport
 * client sends a group as a datagram, the relay forwards it as a datagram to a WebTransport lite-05
 * subscriber and on a stream to a WebSocket (lite-02) subscriber.
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
  relayTrackInfo05,
  sleep,
  startRelay,
  subscribe,
  within,
} from "../testing/mod.ts";

Deno.test({
  name:
    "lite-05 WebTransport datagrams: a datagram group from a WT publisher reaches a WT subscriber as an " +
    "HTTP datagram and a WebSocket subscriber on a stream",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay();
  try {
    const pub = await dialLite05(relay, { over: "webtransport", urlPath: "/anon" });
    await answerAnnounce05(pub, "dg");

    const sub = await dialLite05(relay, { over: "webtransport", urlPath: "/anon", role: Role.Subscriber });
    assert.ok(sub.datagrams && sub.datagrams.maxBytes > 0, "the WebTransport session carries datagrams");
    assert.ok(sub.datagrams.maxBytes < 1500, `one QUIC packet less the prefix: ${sub.datagrams.maxBytes}`);
    const info = { priority: 0, ordered: false, maxLatencyMs: 1000, timescale: 48_000 };
    assert.equal((await relayTrackInfo05(sub, pub, "dg", "audio", info)).timescale, 48_000);
    const upSub = await acceptRequest05(pub, BidiType05.Subscribe, "SUBSCRIBE at the publisher");
    const upstreamId = decodeSubscribe05(await readMessage05(upSub)).id;

    await openSubscribe05(sub, 9n, "dg", "audio");
    const ws = await connect(relay.port, "anon");
    const wsTrack = await subscribe(ws, "dg", "audio");
    await sleep(500);

    const payload = Uint8Array.of(9, 8, 7, 6, 5, 4);
    pub.datagrams!.send(
      encodeDatagram05({ subscribeId: upstreamId, sequence: 3, timestamp: 480_000n, payload }),
    );
    const body = await within(10_000, "the datagram at the WT subscriber", sub.datagrams.receive());
    assert.ok(body);
    assert.deepEqual(decodeDatagram05(body), { subscribeId: 9n, sequence: 3, timestamp: 480_000n, payload });
    assert.deepEqual(await readGroup(wsTrack), { sequence: 3, frames: [payload] });
    ws.close();
    sub.close(0, "done");
    pub.close(0, "done");
  } finally {
    await relay.stop("SIGKILL");
  }
});
