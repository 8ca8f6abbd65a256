/**
 * End-to-end tests of the relay core with the real `@moq/lite` 0.2.2 client over WebSocket:
 * pub/sub, announcements, late join, deduplication, fan-out, slow subscribers and bad input.
 */

import assert from "node:assert/strict";
import {
  connect,
  e2e,
  eventually,
  LEGACY_CLIENT_SETUP as CLIENT_SETUP,
  parseMetrics,
  payload,
  publish,
  RawWebSocket,
  readGroup,
  sampleValue,
  sleep,
  streamFrame,
  subscribe,
  subscribeLite02,
  watchAnnounced,
  within,
  writeGroup,
} from "../testing/mod.ts";

e2e("pub/sub: several groups of several frames arrive byte-exact", async (relay) => {
  const pubConn = await connect(relay.port, "anon");
  const subConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "demo");
  const track = await subscribe(subConn, "demo", "video");
  const upstream = await pub.request();
  assert.equal(upstream.name, "video");
  const sent: Uint8Array[][] = [];
  for (let g = 0; g < 5; g++) {
    const frames = [0, 1, 2, 3].map((f) => payload(100 + g * 1000 + f * 7000, g * 10 + f));
    sent.push(frames);
    writeGroup(upstream, frames);
    await sleep(20);
  }
  for (let g = 0; g < 5; g++) {
    const got = await readGroup(track);
    assert.ok(got, `group ${g} arrived`);
    assert.equal(got.sequence, g);
    assert.equal(got.frames.length, 4);
    for (let f = 0; f < 4; f++) {
      assert.deepEqual(got.frames[f], sent[g][f], `group ${g} frame ${f} byte-exact`);
    }
  }
  pubConn.close();
  subConn.close();
});

e2e("announcements: a broadcast appears, then disappears when its publisher leaves", async (relay) => {
  const viewer = await connect(relay.port, "anon");
  const events = await watchAnnounced(viewer, "");
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "room/cam1");
  await eventually("active announcement", () => events.includes("+room/cam1"));
  pub.broadcast.close();
  await eventually("ended announcement", () => events.includes("-room/cam1"));
  assert.deepEqual(events, ["+room/cam1", "-room/cam1"]);
  // A clean connection close unannounces at once too (no linger).
  const pub2Conn = await connect(relay.port, "anon");
  await publish(pub2Conn, "room/cam2");
  await eventually("second active", () => events.includes("+room/cam2"));
  pub2Conn.close();
  await eventually("second ended", () => events.includes("-room/cam2"), 3_000);
  viewer.close();
});

e2e("late join starts at the latest group", async (relay) => {
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "late");
  const first = await connect(relay.port, "anon");
  const firstTrack = await subscribe(first, "late", "t");
  const upstream = await pub.request();
  for (let g = 0; g < 4; g++) writeGroup(upstream, [payload(50, g)]);
  for (let g = 0; g < 4; g++) assert.equal((await readGroup(firstTrack))?.sequence, g);
  const late = await connect(relay.port, "anon");
  const lateTrack = await subscribe(late, "late", "t");
  const got = await readGroup(lateTrack);
  assert.equal(got?.sequence, 3, "late joiner begins with the latest group");
  assert.deepEqual(got?.frames[0], payload(50, 3));
  writeGroup(upstream, [payload(60, 4)]);
  assert.equal((await readGroup(lateTrack))?.sequence, 4, "then continues with newer groups");
  assert.equal(pub.requests.length, 1, "still one upstream subscription");
  for (const c of [pubConn, first, late]) c.close();
});

e2e(
  "dedup: three subscribers on separate connections cause one track request, cancelled after all leave",
  async (relay) => {
    const pubConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "dedup");
    const viewers = await Promise.all([1, 2, 3].map(() => connect(relay.port, "anon")));
    const tracks = await Promise.all(viewers.map((v) => subscribe(v, "dedup", "video")));
    const upstream = await pub.request();
    await sleep(300);
    writeGroup(upstream, [payload(10, 1)]);
    for (const t of tracks) assert.deepEqual((await readGroup(t))?.frames[0], payload(10, 1));
    assert.equal(pub.requests.length, 1, "the publisher saw exactly one track request");
    for (const t of tracks) t.close();
    for (const v of viewers) v.close();
    // The upstream stays warm briefly (5 s default), then is cancelled.
    await within(12_000, "upstream cancelled", upstream.closed);
    pubConn.close();
  },
);

e2e("fan-out: 20 subscribers each receive every group", async (relay) => {
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "fan");
  const viewers = await Promise.all(Array.from({ length: 20 }, () => connect(relay.port, "anon")));
  const tracks = await Promise.all(viewers.map((v) => subscribe(v, "fan", "t")));
  const upstream = await pub.request();
  await sleep(500);
  const frames = [payload(3000, 7), payload(20_000, 8)];
  for (let g = 0; g < 3; g++) writeGroup(upstream, frames);
  await Promise.all(tracks.map(async (t, i) => {
    for (let g = 0; g < 3; g++) {
      const got = await readGroup(t);
      assert.equal(got?.sequence, g, `viewer ${i} group ${g}`);
      assert.deepEqual(got?.frames, frames);
    }
  }));
  assert.equal(pub.requests.length, 1);
  for (const c of [pubConn, ...viewers]) c.close();
});

e2e("a subscriber that stops reading does not delay the others", async (relay) => {
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "slow");
  // The slow one: a raw WebSocket that subscribes and then never reads (TCP backpressure).
  const slow = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
  assert.ok(slow instanceof RawWebSocket);
  await slow.send(streamFrame(0, CLIENT_SETUP));
  const setupReply = await slow.receive();
  assert.equal(setupReply?.payload[0], 0x08, "SERVER_SETUP on stream 0");
  await slow.send(streamFrame(4, subscribeLite02(0, "slow", "t")));
  const upstream = await pub.request();
  const fastConns = await Promise.all([1, 2, 3].map(() => connect(relay.port, "anon")));
  const fast = await Promise.all(fastConns.map((c) => subscribe(c, "slow", "t")));
  await sleep(300);
  // ~16 MB through the relay: far more than the slow socket's kernel buffers and its 4 MiB budget.
  const GROUPS = 160;
  const readers = fast.map(async (t) => {
    const seen = new Set<number>();
    while (!seen.has(GROUPS - 1)) {
      const g = await readGroup(t, 30_000);
      if (!g) break;
      if (g.frames.length === 2) seen.add(g.sequence);
    }
    return seen.size;
  });
  for (let g = 0; g < GROUPS; g++) {
    writeGroup(upstream, [payload(50_000, g), payload(50_000, g + 1000)]);
    await sleep(15);
  }
  const counts = await within(60_000, "fast subscribers reach the last group", Promise.all(readers));
  for (const n of counts) assert.ok(n >= GROUPS * 0.9, `a fast subscriber got only ${n} of ${GROUPS} groups`);
  // The slow subscriber lost old groups instead of holding them all in the relay's memory.
  const metrics = parseMetrics(await (await fetch(`${relay.internalUrl}/metrics`)).text());
  const dropped = sampleValue(metrics, "moq_relay_groups_dropped_total");
  assert.ok(dropped > 0, `the slow subscriber lost no group (dropped=${dropped})`);
  slow.drop();
  for (const c of [pubConn, ...fastConns]) c.close();
}, { internal: true });

e2e(
  "garbage on a raw WebSocket closes that session only; a parallel pub/sub keeps working",
  async (relay) => {
    const pubConn = await connect(relay.port, "anon");
    const subConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "steady");
    const track = await subscribe(subConn, "steady", "t");
    const upstream = await pub.request();

    // 1. An unknown frame type.
    const bad = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(bad instanceof RawWebSocket);
    await bad.send(new Uint8Array([0x42, 0xde, 0xad, 0xbe, 0xef]));
    const closed = await bad.untilClosed();
    const appClose = closed.binary.find((m) => m[0] === 0x1d);
    assert.ok(appClose, "APPLICATION_CLOSE sent before the WebSocket close");
    assert.equal(appClose[1], 15, "close code 15 (protocol violation)");

    // 2. A malformed moq message: SETUP with an oversize length, then a truncated stream.
    const bad2 = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(bad2 instanceof RawWebSocket);
    await bad2.send(streamFrame(0, new Uint8Array([0x20, 0x00, 0x05, 0x09, 0xff, 0xff, 0xff, 0xff])));
    const closed2 = await bad2.untilClosed();
    assert.ok(closed2.binary.some((m) => m[0] === 0x1d), "malformed SETUP closes the session");

    // 3. Unknown stream type after a valid SETUP: only that stream is reset, the session lives.
    const odd = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(odd instanceof RawWebSocket);
    await odd.send(streamFrame(0, CLIENT_SETUP));
    await odd.receive();
    await odd.send(streamFrame(4, new Uint8Array([0x3f, 1, 2, 3])));
    const reset = await within(
      5_000,
      "reset of the unknown stream",
      (async () => {
        for (;;) {
          const f = await odd.receive();
          if (!f) throw new Error("closed");
          if (f.payload[0] === 0x04 && f.payload[1] === 4) return f.payload;
        }
      })(),
    );
    assert.equal(reset[2], 10, "reset code 10 (unexpected stream)");
    odd.drop();

    // 4. Abrupt disconnect mid-frame.
    const cut = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(cut instanceof RawWebSocket);
    await cut.send(streamFrame(0, CLIENT_SETUP.subarray(0, 5)));
    cut.drop();

    writeGroup(upstream, [payload(500, 1)]);
    const got = await readGroup(track);
    assert.deepEqual(got?.frames[0], payload(500, 1), "the healthy session still gets its data");
    pubConn.close();
    subConn.close();
  },
);

e2e("subscribing to a path shortly before it is announced waits instead of failing", async (relay) => {
  const subConn = await connect(relay.port, "anon");
  const track = await subscribe(subConn, "soon", "t");
  await sleep(300);
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "soon");
  const upstream = await pub.request();
  writeGroup(upstream, [payload(42, 42)]);
  assert.deepEqual((await readGroup(track))?.frames[0], payload(42, 42));
  subConn.close();
  pubConn.close();
});

e2e("outside the public prefix: the WebSocket upgrade is refused with 401", async (relay) => {
  const res = await RawWebSocket.connect(relay.port, "/private", ["webtransport"]);
  assert.ok(!(res instanceof RawWebSocket));
  assert.equal(res.status, 401);
});
