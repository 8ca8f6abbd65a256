/**
 * WebSocket sessions over the relay's HTTP gate with direct WebSockets, the path plain-HTTP
 * sessions take in the relay: the session runs on `ConnWebSocket`, whose send side frames
 * one-frame messages in place (`beginBinary`) and wakes the send pump when its buffer drained
 * (`notifyBelow`) instead of the pump polling `bufferedAmount`. Raw clients and a dialed session
 * on the other end check the bytes, the framing and the flow control.
 */

import assert from "node:assert/strict";
import { decodeFrames, DEFAULT_MAX_RECORD_SIZE_BYTES, MAX_STREAM_PAYLOAD_BYTES } from "./framing.ts";
import {
  assertWriteWaitsForCredit,
  exchangeBidi,
  pattern,
  QMUX_CLIENT_PARAMS,
  QMUX_TIGHT_CREDIT_PARAMS,
  RawClient,
  readAll,
  receiveUniTexts,
  sendUniTexts,
  startGateWebSocketServer,
  uniTexts,
  withDialedQmux,
  withRawSession,
  withTimeout,
} from "../../testing/mod.ts";
import type { TransportSession } from "../types.ts";
import type { AcceptWebSocketOptions } from "./upgrade.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Start a gate server (`options`), connect a raw client offering `protocols` (`setup` runs on it
 * first, e.g. to send transport parameters), run `fn` with it and the relay's session, then close both.
 */
async function withGateClient(
  options: Partial<AcceptWebSocketOptions>,
  protocols: string[],
  fn: (client: RawClient, session: TransportSession) => Promise<void>,
  setup: (client: RawClient) => void = () => {},
): Promise<void> {
  const relay = await startGateWebSocketServer(options);
  const client = await RawClient.connect(relay.url, protocols);
  setup(client);
  await withRawSession(relay, client, fn);
}

Deno.test("gate webtransport: 2 MB through a 64 KiB socket bound drains byte-exact, one frame per message", async () => {
  await withGateClient({ socketBufferBytes: 64 * 1024 }, ["webtransport"], async (client, session) => {
    const uni = await session.openUni();
    const data = pattern(2_000_000, 3);
    const written = uni.write(data);
    // Only about the socket bound went out synchronously; the rest waits in the stream queue.
    assert.ok(uni.bufferedBytes > 1_000_000, `bufferedBytes ${uni.bufferedBytes}`);
    await withTimeout(written, 10_000, "write to drain");
    assert.equal(uni.bufferedBytes, 0);
    await uni.close();
    assert.deepEqual(await client.readStream(3, 10_000), data);
    const sizes = client.streamFrames(3).map((frame) => frame.data.length);
    assert.ok(sizes.every((size) => size <= MAX_STREAM_PAYLOAD_BYTES), `frame sizes ${sizes}`);
    assert.equal(client.messages.length, client.frames.length);
  });
});

Deno.test("gate webtransport: small writes and a FIN after them; a bidi stream echoes", async () => {
  await withGateClient({}, ["webtransport"], async (client, session) => {
    const uni = await session.openUni();
    const parts: string[] = [];
    for (let i = 0; i < 200; i++) {
      parts.push(`frame ${i};`);
      uni.write(enc.encode(`frame ${i};`)).catch(() => {});
    }
    await uni.close();
    assert.equal(dec.decode(await client.readStream(3)), parts.join(""));
    const data = pattern(150_000, 5);
    for (let offset = 0; offset < data.length; offset += 777) {
      const end = Math.min(offset + 777, data.length);
      client.send({ type: "stream", id: 0, data: data.subarray(offset, end), fin: end === data.length });
    }
    const bidi = (await session.acceptBidi())!;
    const received = await readAll(bidi.recv);
    assert.deepEqual(received, data);
    await bidi.send.write(received);
    await bidi.send.close();
    assert.deepEqual(await client.readStream(0), data);
  });
});

Deno.test("gate webtransport: streams share the socket round-robin under a 16 KiB bound", async () => {
  await withGateClient({ socketBufferBytes: 16 * 1024 }, ["webtransport"], async (client, session) => {
    const a = await session.openUni();
    const b = await session.openUni();
    await Promise.all([a.write(pattern(200_000, 1)), b.write(pattern(200_000, 2))]);
    await Promise.all([a.close(), b.close()]);
    assert.deepEqual(await client.readStream(3), pattern(200_000, 1));
    assert.deepEqual(await client.readStream(7), pattern(200_000, 2));
    const order = client.frames.filter((f) => f.type === "stream").map((f) => (f as { id: number }).id);
    assert.ok(order.indexOf(7) < order.lastIndexOf(3), `order ${order.join(",")}`);
  });
});

Deno.test("gate qmux-00: the relay waits for stream and connection credit, then sends the rest", async () => {
  await withGateClient({}, ["qmux-00"], async (client, session) => {
    await assertWriteWaitsForCredit(client, await session.openUni(), pattern(100_000, 9));
    assert.equal(client.decodeError, null);
  }, (client) => client.send({ type: "transport_parameters", params: QMUX_TIGHT_CREDIT_PARAMS }));
});

Deno.test("gate qmux-00: a dialed session and the gate exchange 1.5 MiB each way and 60 streams", async () => {
  const relay = await startGateWebSocketServer({ maxStreamsUni: 20, maxStreamsBidi: 20 });
  await withDialedQmux(relay, 10, async (client, server) => {
    const up = pattern(1_572_864, 21);
    const down = pattern(1_572_864, 22);
    const { received, echoed } = await exchangeBidi(client, server, up, down);
    assert.deepEqual(received, up);
    assert.deepEqual(echoed, down);
    const COUNT = 60;
    const [, got] = await Promise.all([sendUniTexts(server, "s", COUNT), receiveUniTexts(client, COUNT)]);
    assert.deepEqual(got, uniTexts("s", COUNT));
  });
});

Deno.test("gate qmux-01: records of many streams stay within max_record_size under a small bound", async () => {
  await withGateClient({ socketBufferBytes: 16 * 1024 }, ["qmux-01.moq-lite-04"], async (client, session) => {
    const streams = await Promise.all(Array.from({ length: 10 }, () => session.openUni()));
    const writes = streams.map((s, i) => s.write(enc.encode(`stream ${i}`)).then(() => s.close()));
    const big = await session.openUni();
    const bigData = pattern(200_000, 7);
    await Promise.all([...writes, big.write(bigData).then(() => big.close())]);
    for (let i = 0; i < 10; i++) assert.equal(dec.decode(await client.readStream(i * 4 + 3)), `stream ${i}`);
    assert.deepEqual(await client.readStream(43), bigData);
    const perMessage = client.messages.map((m) => decodeFrames(m, "qmux-01").length);
    assert.ok(Math.max(...perMessage) > 1, `some record holds several frames (${perMessage})`);
    for (const message of client.messages) assert.ok(message.length <= DEFAULT_MAX_RECORD_SIZE_BYTES);
    // Once the small streams are done, the big stream's records (framed in place) hold one full frame.
    const single = client.messages.filter((m) =>
      m.length > 15 * 1024 && decodeFrames(m, "qmux-01").length === 1
    );
    assert.ok(single.length >= 10, `${single.length} full single-frame records`);
    assert.equal(client.decodeError, null);
  }, (client) => client.send({ type: "transport_parameters", params: QMUX_CLIENT_PARAMS }));
});
