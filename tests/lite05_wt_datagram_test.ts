/**
 * lite-05 over WebTransport carries single-frame groups as HTTP datagrams (RFC 9297: quarter stream
 * id + payload in a QUIC datagram, docs/webtransport.md §10): a publisher on our own WebTransport
 * client sends a group as a datagram, the relay forwards it as a datagram to a WebTransport lite-05
 * subscriber and on a stream to a WebSocket (lite-02) subscriber.
 *
 * @module
 */

import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import {
  BidiType05,
  decodeAnnounceRequest,
  decodeDatagram05,
  decodeSubscribe05,
  decodeTrack,
  decodeTrackInfo,
  encodeAnnounceBroadcast,
  encodeAnnounceOk,
  encodeDatagram05,
  encodeSetupStream,
  encodeStreamType05,
  encodeSubscribe05,
  encodeTrack,
  encodeTrackInfo,
  ProbeLevel,
  Role,
} from "../session/mod.ts";
import {
  dialWebTransport,
  fetchCertificateFingerprint,
  StreamReader,
  type TransportSession,
} from "../transport/mod.ts";
import {
  connect,
  readGroup,
  type RelayProcess,
  sleep,
  startRelay,
  subscribe,
  within,
} from "../testing/mod.ts";

async function dialWt05(relay: RelayProcess, role: Role): Promise<TransportSession> {
  const pin = Array.from(
    await fetchCertificateFingerprint(new URL(relay.httpUrl)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const session = await dialWebTransport(new URL(`https://127.0.0.1:${relay.port}/anon`), {
    logger: silentLogger(),
    protocols: ["moq-lite-05"],
    certificateSha256: [pin],
  });
  assert.equal(session.protocol, "moq-lite-05");
  const setup = await session.openUni();
  await setup.write(encodeSetupStream({ probe: ProbeLevel.None, role }));
  await setup.close();
  return session;
}

Deno.test({
  name:
    "lite-05 WebTransport datagrams: a datagram group from a WT publisher reaches a WT subscriber as an " +
    "HTTP datagram and a WebSocket subscriber on a stream",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay();
  try {
    const pub = await dialWt05(relay, Role.Publisher);
    const ann = await within(10_000, "ANNOUNCE request at the publisher", pub.acceptBidi());
    assert.ok(ann);
    const ar = new StreamReader(ann.recv);
    assert.equal(await ar.varint(), BidiType05.Announce);
    decodeAnnounceRequest(await ar.message(4096));
    await ann.send.write(encodeAnnounceOk({ hop: 0n, activeCount: 1 }));
    await ann.send.write(encodeAnnounceBroadcast({ active: true, suffix: "dg", hops: [] }));

    const sub = await dialWt05(relay, Role.Subscriber);
    assert.ok(sub.datagrams && sub.datagrams.maxBytes > 0, "the WebTransport session carries datagrams");
    assert.ok(sub.datagrams.maxBytes < 1500, `one QUIC packet less the prefix: ${sub.datagrams.maxBytes}`);
    const track = await sub.openBidi();
    await track.send.write(encodeStreamType05(BidiType05.Track));
    await track.send.write(encodeTrack({ broadcast: "dg", track: "audio" }));
    const up = await within(10_000, "TRACK at the publisher", pub.acceptBidi());
    assert.ok(up);
    const upr = new StreamReader(up.recv);
    assert.equal(await upr.varint(), BidiType05.Track);
    decodeTrack(await upr.message(4096));
    await up.send.write(
      encodeTrackInfo({ priority: 0, ordered: false, maxLatencyMs: 1000, timescale: 48_000 }),
    );
    await up.send.close();
    assert.equal(decodeTrackInfo(await new StreamReader(track.recv).message(4096)).timescale, 48_000);
    const upSub = await within(10_000, "SUBSCRIBE at the publisher", pub.acceptBidi());
    assert.ok(upSub);
    const usr = new StreamReader(upSub.recv);
    assert.equal(await usr.varint(), BidiType05.Subscribe);
    const upstreamId = decodeSubscribe05(await usr.message(4096)).id;

    const s = await sub.openBidi();
    await s.send.write(encodeStreamType05(BidiType05.Subscribe));
    await s.send.write(encodeSubscribe05({
      id: 9n,
      broadcast: "dg",
      track: "audio",
      priority: 0,
      ordered: false,
      maxLatencyMs: 0,
    }));
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
