/**
 * moq-lite-05 over raw QUIC, which carries no URL: the client names its root and `?jwt=` in the
 * SETUP Path. A raw lite-05 publisher (testing/raw_lite05.ts: the relay's own codec and QUIC
 * dialer, every message written by the test) publishes under a token-scoped root; `@moq/net` 0.3.4
 * (WebSocket, `?jwt=` in its URL) receives its groups and timestamps. A forged token or a missing
 * Path is refused. Datagrams over raw QUIC: tests/lite05_datagram_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { signToken } from "../auth/mod.ts";
import {
  BidiType05,
  decodeSubscribe05,
  decodeTrack,
  encodeFrame05,
  encodeGroupHeader05,
  encodeSubscribeResponse05,
  encodeTrackInfo,
  FrameTimestampEncoder,
} from "../session/mod.ts";
import {
  acceptRequest05,
  answerAnnounce05,
  dialLite05,
  generateTestKey,
  readMessage05,
  readRelaySetup05,
  type RelayProcess,
  startRelay,
  within,
} from "../testing/mod.ts";
import { loadNet } from "../testing/moq_net.ts";

/** What `@moq/net` hands back for a frame. */
interface NetFrame {
  payload: Uint8Array;
  timestamp: { as(scale: number): number };
}

/** A relay that admits only tokens signed with a fresh key; returns a token for root `room`. */
async function tokenRelay(): Promise<{ relay: RelayProcess; token: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "moq-lite05-quic-" });
  const { keyPath, key } = await generateTestKey(`${dir}/key.jwk`);
  const token = await signToken(key, { root: "room", put: [""], get: [""] });
  const relay = await startRelay({ auth: `key = "${keyPath}"` });
  return { relay, token, dir };
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
    const pub = await dialLite05(relay, { setupPath: `/room?jwt=${token}` });
    // The relay's SETUP, then its ANNOUNCE_REQUEST: we are authorised to publish.
    await readRelaySetup05(pub);
    assert.equal((await answerAnnounce05(pub, "cam")).prefix, "");

    // The viewer: same root and token, in its URL.
    const viewer = await within(
      10_000,
      "@moq/net connect",
      Net.Connection.connect(new URL(`${relay.httpUrl}/room?jwt=${token}`)),
    );
    const consumer = viewer.consume(Net.Path.from("cam"));
    const infoReady = consumer.resolveTrackInfo("video");
    // The relay asks the raw publisher for TRACK_INFO …
    const trackStream = await acceptRequest05(pub, BidiType05.Track, "TRACK");
    assert.deepEqual(decodeTrack(await readMessage05(trackStream)), { broadcast: "cam", track: "video" });
    await trackStream.stream.send.write(
      encodeTrackInfo({ priority: 3, ordered: false, maxLatencyMs: 4000, timescale: 48_000 }),
    );
    await trackStream.stream.send.close();
    const info = await within(10_000, "TRACK_INFO at the viewer", infoReady);
    assert.equal(info.timescale, 48_000);
    assert.equal(info.priority, 3);

    // … then subscribes; START, one group with timestamped frames.
    const subscriber = consumer.subscribe("video");
    const subStream = await acceptRequest05(pub, BidiType05.Subscribe, "SUBSCRIBE");
    const sub = decodeSubscribe05(await readMessage05(subStream));
    await subStream.stream.send.write(encodeSubscribeResponse05({ type: "start", group: 0 }));
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
      const refused = await dialLite05(relay, { setupPath: path });
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
