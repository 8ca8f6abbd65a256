import assert from "node:assert/strict";
import { SessionClosedError, StreamResetError, StreamStoppedError } from "../types.ts";
import type { Frame } from "./framing.ts";
import { pattern, RawClient, readAll, startWebSocketServer, withTimeout } from "../../testing/mod.ts";
import { sleep } from "../../util/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Send `data` on `id` in `chunk`-byte STREAM frames, FIN on the last one. */
function sendStream(client: RawClient, id: number, data: Uint8Array, chunk = 1000, fin = true): void {
  for (let offset = 0; offset < data.length; offset += chunk) {
    const end = Math.min(offset + chunk, data.length);
    client.send({ type: "stream", id, data: data.subarray(offset, end), fin: fin && end === data.length });
  }
}

function isClose(frame: Frame): frame is Extract<Frame, { type: "close" }> {
  return frame.type === "close";
}

Deno.test("webtransport: a client bidi stream echoes 150 KB byte-exact, chunked at 16 360 bytes", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  try {
    assert.equal(client.ws.protocol, "webtransport");
    assert.equal(client.framing, "webtransport");
    const session = await relay.nextSession();
    assert.equal(session.kind, "websocket");
    assert.equal(session.protocol, "");
    assert.equal(session.url.pathname, "/room");
    assert.equal(session.url.searchParams.get("jwt"), "t");
    assert.match(session.peer, /^127\.0\.0\.1:\d+$/);

    const data = pattern(150_000);
    sendStream(client, 0, data, 777);
    const bidi = (await session.acceptBidi())!;
    const received = await readAll(bidi.recv);
    assert.deepEqual(received, data);
    await bidi.send.write(received);
    await bidi.send.close();
    assert.equal(bidi.send.bufferedBytes, 0);
    assert.equal(await bidi.send.stopped, -1);

    const echoed = await client.readStream(0);
    assert.deepEqual(echoed, data);
    const sizes = client.streamFrames(0).map((frame) => frame.data.length);
    assert.ok(sizes.every((size) => size <= 16_360), `frame sizes ${sizes}`);
    assert.ok(sizes.includes(16_360), "large writes use full 16 360-byte frames");
    // Exactly one frame per message: every message decoded to exactly one frame.
    assert.equal(client.messages.length, client.frames.length);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: relay-opened streams use ids 1,5 (bidi) and 3,7 (uni) and carry 120 KB", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url, ["webtransport"]);
  try {
    const session = await relay.nextSession();
    const bidiA = await session.openBidi();
    const bidiB = await session.openBidi();
    const uniA = await session.openUni();
    const uniB = await session.openUni();
    const big = pattern(120_000, 7);
    await Promise.all([
      bidiA.send.write(enc.encode("bidi-a")).then(() => bidiA.send.close()),
      bidiB.send.write(enc.encode("bidi-b")).then(() => bidiB.send.close()),
      uniA.write(big).then(() => uniA.close()),
      uniB.close(),
    ]);
    assert.equal(dec.decode(await client.readStream(1)), "bidi-a");
    assert.equal(dec.decode(await client.readStream(5)), "bidi-b");
    assert.deepEqual(await client.readStream(3), big);
    assert.deepEqual(await client.readStream(7), new Uint8Array(0));

    // The client answers on the relay's bidi stream.
    client.send({ type: "stream", id: 1, data: enc.encode("pong"), fin: true });
    assert.equal(dec.decode(await readAll(bidiA.recv)), "pong");
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: STOP_SENDING makes the relay reset at once and never write on that id again", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    const uni = await session.openUni();
    await uni.write(enc.encode("hello"));
    await client.until((f) => f.type === "stream" && f.id === 3, "data on stream 3");
    client.send({ type: "stop_sending", id: 3, code: 7 });
    assert.equal(await withTimeout(uni.stopped, 2000, "stopped"), 7);
    await client.until(
      (f) => f.type === "reset_stream" && f.id === 3 && f.code === 7,
      "RESET_STREAM 3 code 7",
    );
    await assert.rejects(
      uni.write(enc.encode("more")),
      (e) => e instanceof StreamStoppedError && e.code === 7,
    );
    await uni.close(); // never throws
    uni.reset(3); // no second RESET
    assert.equal(uni.bufferedBytes, 0);

    // The session keeps working; later frames never reuse id 3.
    const next = await session.openUni();
    await next.write(enc.encode("after"));
    await next.close();
    assert.equal(dec.decode(await client.readStream(7)), "after");
    const resetIndex = client.frames.findIndex((f) => f.type === "reset_stream" && f.id === 3);
    assert.ok(
      !client.frames.slice(resetIndex + 1).some((f) => "id" in f && f.id === 3),
      "nothing after RESET",
    );
    assert.equal(client.frames.filter((f) => f.type === "reset_stream").length, 1);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: peer RESET_STREAM rejects reads with its code; unknown ids are ignored", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    client.send({ type: "stream", id: 2, data: enc.encode("abc"), fin: false });
    const uni = (await session.acceptUni())!;
    assert.equal(dec.decode((await uni.read())!), "abc");
    const pending = uni.read();
    client.send({ type: "reset_stream", id: 2, code: 9, finalSize: 0 });
    await assert.rejects(pending, (e) => e instanceof StreamResetError && e.code === 9);
    await assert.rejects(uni.read(), StreamResetError);

    // Frames for unknown or finished ids are ignored; the session keeps working.
    client.send({ type: "reset_stream", id: 1002, code: 1, finalSize: 0 });
    client.send({ type: "stop_sending", id: 99, code: 1 });
    client.send({ type: "stream", id: 2, data: enc.encode("late"), fin: true });
    client.send({ type: "stream", id: 0, data: enc.encode("ping"), fin: true });
    const bidi = (await session.acceptBidi())!;
    assert.equal(dec.decode(await readAll(bidi.recv)), "ping");
    // The reset-only uni stream 1002 and the late data on 2 never surfaced as new streams.
    const more = await Promise.race([session.acceptUni(), sleep(100).then(() => "none")]);
    assert.equal(more, "none");
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: local stop() sends STOP_SENDING and ends reads with null", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    client.send({ type: "stream", id: 2, data: enc.encode("xyz"), fin: false });
    const uni = (await session.acceptUni())!;
    const pending = uni.read();
    assert.equal(dec.decode((await pending)!), "xyz");
    const next = uni.read();
    uni.stop(4);
    assert.equal(await next, null);
    const frame = await client.until((f) => f.type === "stop_sending", "STOP_SENDING");
    assert.deepEqual(frame, { type: "stop_sending", id: 2, code: 4 });
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: peer APPLICATION_CLOSE code 0 is a clean end (abrupt false)", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  const session = await relay.nextSession();
  client.send({ type: "close", code: 0, reason: "", application: true });
  const info = await withTimeout(session.closed, 2000, "session close");
  assert.deepEqual(info, { code: 0, reason: "", remote: true, abrupt: false });
  const event = await withTimeout(client.closed, 2000, "ws close");
  assert.equal(event.code, 1000);
  await relay.close();
});

Deno.test("webtransport: relay close sends APPLICATION_CLOSE then WS close 1000; pending work settles", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  const session = await relay.nextSession();
  client.send({ type: "stream", id: 0, data: enc.encode("a"), fin: false });
  const bidi = (await session.acceptBidi())!;
  await bidi.recv.read();
  const pendingRead = bidi.recv.read();
  const pendingAccept = session.acceptUni();
  session.close(7, "bye");
  session.close(8, "twice"); // idempotent
  await assert.rejects(pendingRead, SessionClosedError);
  assert.equal(await pendingAccept, null);
  await assert.rejects(session.openUni(), SessionClosedError);
  await assert.rejects(bidi.send.write(enc.encode("x")), SessionClosedError);
  assert.equal(await bidi.send.stopped, -1);
  assert.deepEqual(await session.closed, { code: 7, reason: "bye", remote: false, abrupt: false });
  const event = await withTimeout(client.closed, 2000, "ws close");
  assert.equal(event.code, 1000);
  assert.deepEqual(client.messages.at(-1), Uint8Array.of(0x1d, 0x07, 0x62, 0x79, 0x65));
  await relay.close();
});

Deno.test("webtransport: a socket dropped without application close is abrupt", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url);
  const session = await relay.nextSession();
  await client.close();
  const info = await withTimeout(session.closed, 2000, "session close");
  assert.equal(info.remote, true);
  assert.equal(info.abrupt, true);
  assert.equal(info.code, 1);
  assert.match(info.reason, /WebSocket closed without an application close/);
  await relay.close();
});

Deno.test("webtransport: garbage closes only the offending session with code 15", async () => {
  const garbage: Array<[string, Uint8Array | string, RegExp]> = [
    ["text", "hello", /text WebSocket message/],
    ["empty", new Uint8Array(0), /empty WebSocket message/],
    ["unknown type", Uint8Array.of(0x42, 0x00), /unknown frame type 0x42/],
    ["truncated varint", Uint8Array.of(0x08, 0x40), /truncated inside stream id/],
  ];
  const relay = startWebSocketServer();
  const good = await RawClient.connect(relay.url);
  const goodSession = await relay.nextSession();
  try {
    for (const [name, bytes, pattern_] of garbage) {
      const bad = await RawClient.connect(relay.url);
      const badSession = await relay.nextSession();
      bad.sendRaw(bytes);
      const info = await withTimeout(badSession.closed, 2000, `close after ${name}`);
      assert.equal(info.code, 15, name);
      assert.equal(info.remote, false);
      assert.match(info.reason, pattern_, name);
      const frame = await bad.until(isClose, `APPLICATION_CLOSE after ${name}`);
      assert.ok(isClose(frame) && frame.code === 15 && pattern_.test(frame.reason), name);
      assert.equal((await withTimeout(bad.closed, 2000, "ws close")).code, 1000);

      // The other session is unaffected.
      const id = garbage.findIndex(([n]) => n === name) * 4;
      good.send({ type: "stream", id, data: enc.encode(`ping ${name}`), fin: true });
      const bidi = (await goodSession.acceptBidi())!;
      assert.equal(dec.decode(await readAll(bidi.recv)), `ping ${name}`);
      await bidi.send.write(enc.encode("pong"));
      await bidi.send.close();
      assert.equal(dec.decode(await good.readStream(id)), "pong");
    }
  } finally {
    await good.close();
    await relay.close();
  }
});

Deno.test("webtransport: too many concurrent peer streams closes the session with code 11", async () => {
  const relay = startWebSocketServer({ maxOpenStreams: 3 });
  const client = await RawClient.connect(relay.url);
  const session = await relay.nextSession();
  for (const id of [0, 4, 8]) client.send({ type: "stream", id, data: enc.encode("x"), fin: false });
  for (let i = 0; i < 3; i++) assert.ok(await session.acceptBidi());
  client.send({ type: "stream", id: 12, data: enc.encode("x"), fin: false });
  const info = await withTimeout(session.closed, 2000, "session close");
  assert.equal(info.code, 11);
  assert.match(info.reason, /too many concurrently open peer streams \(limit 3\)/);
  await client.closed;
  await relay.close();
});

Deno.test("webtransport: finished streams free their slot in the concurrent-stream cap", async () => {
  const relay = startWebSocketServer({ maxOpenStreams: 2 });
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    for (let i = 0; i < 10; i++) {
      client.send({ type: "stream", id: 2 + 4 * i, data: enc.encode(`u${i}`), fin: true });
      const uni = (await session.acceptUni())!;
      assert.equal(dec.decode(await readAll(uni)), `u${i}`);
    }
    const outcome = await Promise.race([session.closed.then(() => "closed"), sleep(50).then(() => "open")]);
    assert.equal(outcome, "open");
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: unread bytes beyond the cap close the session with code 11", async () => {
  const relay = startWebSocketServer({ maxUnreadBytes: 1000 });
  const client = await RawClient.connect(relay.url);
  const session = await relay.nextSession();
  sendStream(client, 2, pattern(2000), 500, false);
  const info = await withTimeout(session.closed, 2000, "session close");
  assert.equal(info.code, 11);
  assert.match(info.reason, /not read yet/);
  await client.closed;
  await relay.close();
});

Deno.test("webtransport: write() applies backpressure through bufferedBytes and the socket buffer", async () => {
  const relay = startWebSocketServer({ socketBufferBytes: 64 * 1024 });
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    const uni = await session.openUni();
    const data = pattern(2_000_000, 3);
    const written = uni.write(data);
    // Only about the socket bound went out synchronously; the rest waits in the stream queue.
    assert.ok(uni.bufferedBytes > 1_000_000, `bufferedBytes ${uni.bufferedBytes}`);
    await withTimeout(written, 10_000, "write to drain");
    assert.equal(uni.bufferedBytes, 0);
    await uni.close();
    assert.deepEqual(await client.readStream(3, 10_000), data);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: streams share the socket round-robin", async () => {
  const relay = startWebSocketServer({ socketBufferBytes: 16 * 1024 });
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    const a = await session.openUni();
    const b = await session.openUni();
    const done = Promise.all([a.write(pattern(200_000, 1)), b.write(pattern(200_000, 2))]);
    await done;
    await Promise.all([a.close(), b.close()]);
    await client.readStream(3);
    await client.readStream(7);
    const order = client.frames.filter((f) => f.type === "stream").map((f) => (f as { id: number }).id);
    // Interleaved: stream 7 starts long before stream 3 finishes.
    assert.ok(order.indexOf(7) < order.lastIndexOf(3), `order ${order.join(",")}`);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("webtransport: local reset discards queued bytes and settles pending writes", async () => {
  const relay = startWebSocketServer({ socketBufferBytes: 1 });
  const client = await RawClient.connect(relay.url);
  try {
    const session = await relay.nextSession();
    const uni = await session.openUni();
    const first = uni.write(pattern(100_000));
    assert.ok(uni.bufferedBytes > 0);
    uni.reset(13);
    await withTimeout(first, 1000, "pending write to settle");
    assert.equal(uni.bufferedBytes, 0);
    assert.equal(await uni.stopped, -1);
    await assert.rejects(uni.write(enc.encode("x")), /reset/);
    const reset = await client.until((f) => f.type === "reset_stream", "RESET_STREAM");
    assert.deepEqual(reset, { type: "reset_stream", id: 3, code: 13, finalSize: 0 });
    await sleep(20);
    assert.ok(client.streamData(3).length < 100_000, "queued bytes were discarded");
  } finally {
    await client.close();
    await relay.close();
  }
});
