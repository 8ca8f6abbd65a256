/**
 * moq-lite-05 over raw QUIC, which carries no URL: the client names its root and `?jwt=` in the
 * SETUP Path. A raw lite-05 publisher written here with the relay's own codec and QUIC dialer
 * publishes under a token-scoped root; `@moq/net` 0.3.4 (WebSocket, `?jwt=` in its URL) receives
 * its groups and timestamps. A forged token or a missing Path is refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseKeyText, runTokenCommand, signToken, type TokenIo } from "../auth/mod.ts";
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
  encodeFrame05,
  encodeGroupHeader05,
  encodeSetupStream,
  encodeStreamType05,
  encodeSubscribe05,
  encodeSubscribeResponse05,
  encodeTrack,
  encodeTrackInfo,
  FrameTimestampEncoder,
  ProbeLevel,
  readSetupStream,
  Role,
  UniType05,
} from "../session/mod.ts";
import {
  dialQuic,
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
import { loadNet } from "../testing/moq_net.ts";

/** What `@moq/net` hands back for a frame. */
interface NetFrame {
  payload: Uint8Array;
  timestamp: { as(scale: number): number };
}

const quietIo: TokenIo = { stdout: () => {}, stderr: () => {}, stdin: () => Promise.resolve("") };

/** A relay that admits only tokens signed with a fresh key; returns a token for root `room`. */
async function tokenRelay(): Promise<{ relay: RelayProcess; token: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "moq-lite05-quic-" });
  const keyPath = `${dir}/key.jwk`;
  assert.equal(await runTokenCommand(["generate", "--out", keyPath], quietIo), 0);
  const key = parseKeyText(await Deno.readTextFile(keyPath), keyPath);
  const token = await signToken(key, { root: "room", put: [""], get: [""] });
  const relay = await startRelay({ auth: `key = "${keyPath}"` });
  return { relay, token, dir };
}

async function dial05(
  relay: RelayProcess,
  path: string | undefined,
  role = Role.Publisher,
): Promise<TransportSession> {
  const pin = Array.from(
    await fetchCertificateFingerprint(new URL(relay.httpUrl)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const session = await dialQuic(new URL(`moql://127.0.0.1:${relay.port}/`), {
    logger: silentLogger(),
    alpns: ["moq-lite-05"],
    certificateSha256: [pin],
  });
  assert.equal(session.protocol, "moq-lite-05");
  const setup = await session.openUni();
  await setup.write(encodeSetupStream({ probe: ProbeLevel.None, role, path }));
  await setup.close();
  return session;
}

Deno.test({
  name:
    "lite-05 raw QUIC: SETUP Path carries root and ?jwt=; @moq/net receives the raw publisher's timestamps",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const { relay, token, dir } = await tokenRelay();
  const Net = await loadNet();
  try {
    const pub = await dial05(relay, `/room?jwt=${token}`);
    // The relay's SETUP, then its ANNOUNCE_REQUEST: we are authorised to publish.
    const relaySetup = await within(10_000, "the relay's SETUP", pub.acceptUni());
    assert.ok(relaySetup);
    const sr = new StreamReader(relaySetup);
    assert.equal(await sr.varint(), UniType05.Setup);
    await readSetupStream(sr);
    const announce = await within(10_000, "ANNOUNCE_REQUEST", pub.acceptBidi());
    assert.ok(announce);
    const ar = new StreamReader(announce.recv);
    assert.equal(await ar.varint(), BidiType05.Announce);
    assert.equal(decodeAnnounceRequest(await ar.message(4096)).prefix, "");
    await announce.send.write(encodeAnnounceOk({ hop: 0n, activeCount: 1 }));
    await announce.send.write(encodeAnnounceBroadcast({ active: true, suffix: "cam", hops: [] }));

    // The viewer: same root and token, in its URL.
    const viewer = await within(
      10_000,
      "@moq/net connect",
      Net.Connection.connect(new URL(`${relay.httpUrl}/room?jwt=${token}`)),
    );
    const consumer = viewer.consume(Net.Path.from("cam"));
    const infoReady = consumer.resolveTrackInfo("video");
    // The relay asks the raw publisher for TRACK_INFO …
    const trackStream = await within(10_000, "TRACK", pub.acceptBidi());
    assert.ok(trackStream);
    const tr = new StreamReader(trackStream.recv);
    assert.equal(await tr.varint(), BidiType05.Track);
    assert.deepEqual(decodeTrack(await tr.message(4096)), { broadcast: "cam", track: "video" });
    await trackStream.send.write(
      encodeTrackInfo({ priority: 3, ordered: false, maxLatencyMs: 4000, timescale: 48_000 }),
    );
    await trackStream.send.close();
    const info = await within(10_000, "TRACK_INFO at the viewer", infoReady);
    assert.equal(info.timescale, 48_000);
    assert.equal(info.priority, 3);

    // … then subscribes; START, one group with timestamped frames.
    const subscriber = consumer.subscribe("video");
    const subStream = await within(10_000, "SUBSCRIBE", pub.acceptBidi());
    assert.ok(subStream);
    const ssr = new StreamReader(subStream.recv);
    assert.equal(await ssr.varint(), BidiType05.Subscribe);
    const sub = decodeSubscribe05(await ssr.message(4096));
    await subStream.send.write(encodeSubscribeResponse05({ type: "start", group: 0 }));
    const group = await pub.openUni();
    await group.write(encodeGroupHeader05({ subscribeId: sub.id, sequence: 0 }));
    const clock = new FrameTimestampEncoder();
    const stamps = [96_000n, 97_024n, 96_500n];
    for (const [i, ts] of stamps.entries()) {
      await group.write(encodeFrame05(clock, ts, Uint8Array.of(i, i + 1, i + 2)));
    }
    await group.close();

    const got = await within(10_000, "the group at the viewer", subscriber.recvGroup());
    assert.ok(got);
    for (const [i, ts] of stamps.entries()) {
      const frame: NetFrame | undefined = await within(10_000, `frame ${i}`, got.readFrame());
      assert.ok(frame);
      assert.deepEqual(frame.payload, Uint8Array.of(i, i + 1, i + 2));
      assert.equal(frame.timestamp.as(Net.Time.Timescale(48_000)), Number(ts));
    }
    subscriber.close();
    viewer.close();
    pub.close(0, "done");

    // A forged token, and no Path at all (the URL-less root has no token), are refused.
    for (const path of [`/room?jwt=${token.slice(0, -4)}AAAA`, undefined]) {
      const refused = await dial05(relay, path);
      const closed = await within(10_000, "refusal", refused.closed);
      assert.equal(closed.code, 6, `refused with 6 for path ${path === undefined ? "(none)" : "(forged)"}`);
    }
    assert.ok(
      relay.logs.every((l) => !l.includes(token.slice(-20))),
      "the token never reaches the relay log",
    );
  } finally {
    await relay.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** Read the relay's SETUP, then answer its ANNOUNCE_REQUEST with one active `suffix`. */
async function announceAs(pub: TransportSession, suffix: string): Promise<void> {
  const relaySetup = await within(10_000, "the relay's SETUP", pub.acceptUni());
  assert.ok(relaySetup);
  const sr = new StreamReader(relaySetup);
  assert.equal(await sr.varint(), UniType05.Setup);
  await readSetupStream(sr);
  const announce = await within(10_000, "ANNOUNCE_REQUEST", pub.acceptBidi());
  assert.ok(announce);
  const ar = new StreamReader(announce.recv);
  assert.equal(await ar.varint(), BidiType05.Announce);
  decodeAnnounceRequest(await ar.message(4096));
  await announce.send.write(encodeAnnounceOk({ hop: 0n, activeCount: 1 }));
  await announce.send.write(encodeAnnounceBroadcast({ active: true, suffix, hops: [] }));
}

Deno.test({
  name:
    "lite-05 raw QUIC datagrams: a single-frame group sent as a datagram reaches a QUIC subscriber as one, " +
    "a lite-02 WebSocket subscriber on a stream",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay();
  try {
    const pub = await dial05(relay, "/anon");
    await announceAs(pub, "dg");
    const sub = await dial05(relay, "/anon", Role.Subscriber);
    assert.ok(sub.datagrams && sub.datagrams.maxBytes > 0, "Deno's QUIC carries datagrams");
    // The viewer asks for TRACK_INFO; the relay asks the publisher, then subscribes upstream.
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
      id: 5n,
      broadcast: "dg",
      track: "audio",
      priority: 0,
      ordered: false,
      maxLatencyMs: 0,
    }));
    const ws = await connect(relay.port, "anon");
    const wsTrack = await subscribe(ws, "dg", "audio");
    await sleep(500);

    const payload = Uint8Array.of(1, 2, 3, 4, 5);
    pub.datagrams!.send(
      encodeDatagram05({ subscribeId: upstreamId, sequence: 7, timestamp: 96_000n, payload }),
    );
    const body = await within(10_000, "the datagram at the subscriber", sub.datagrams.receive());
    assert.ok(body);
    assert.deepEqual(decodeDatagram05(body), { subscribeId: 5n, sequence: 7, timestamp: 96_000n, payload });
    const got = await readGroup(wsTrack);
    assert.deepEqual(got, { sequence: 7, frames: [payload] });
    ws.close();
    sub.close(0, "done");
    pub.close(0, "done");
  } finally {
    await relay.stop("SIGKILL");
  }
});
