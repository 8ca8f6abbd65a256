/**
 * End to end through a relay process: moq-lite-04 over WebSocket with the record framings
 * (`qmux-01.moq-lite-04`, `qmux-02.moq-lite-04`, what `@moq/net` 0.3.4 offers). A publisher and a
 * subscriber of this project's WebSocket transport, each offering only that subprotocol, exchange
 * one group byte for byte; a third client, `@moq/qmux` 0.3.3's own session, negotiates the same
 * way, and an offer the relay cannot serve gets HTTP 400.
 */
import assert from "node:assert/strict";
import Session from "../testing/qmux03.ts";
import { BenchPublisher } from "../bench/client.ts";
import { encodeVarint } from "../codec/mod.ts";
import { silentLogger } from "../log/mod.ts";
import {
  BidiType,
  decodeGroupHeader,
  decodeSubscribeFields,
  encodeStreamType,
  encodeSubscribe,
  MAX_MESSAGE_BYTES,
  Version,
} from "../session/mod.ts";
import { StreamReader } from "../transport/mod.ts";
import type { TransportSession } from "../transport/mod.ts";
import { dialWebSocket } from "../transport/mod.ts";
import type { WebSocketSession } from "../transport/mod.ts";
import { e2e, sleep, within } from "../testing/mod.ts";
import { RawWebSocket } from "../testing/mod.ts";

const FRAMES = [1, 100, 16_000, 70_000, 5];

function payload(size: number, seed: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31 + seed) % 251);
}

async function dial(port: number, subprotocol: string): Promise<TransportSession> {
  const session = await dialWebSocket(new URL(`http://127.0.0.1:${port}/`), {
    logger: silentLogger(),
    protocols: [subprotocol],
  });
  assert.equal(session.protocol, "moq-lite-04");
  assert.equal((session as WebSocketSession).framing, subprotocol.split(".")[0]);
  return session;
}

/** Subscribe to `path`/`track` and return the frames of the first group, in order. */
async function subscribeOneGroup(
  session: TransportSession,
  path: string,
  track: string,
): Promise<Uint8Array[]> {
  const stream = await session.openBidi();
  await stream.send.write(encodeStreamType(BidiType.Subscribe));
  await stream.send.write(encodeSubscribe(Version.Lite04, {
    id: 7n,
    broadcast: path,
    track,
    priority: 0,
    ordered: true,
    maxLatencyMs: 0,
  }));
  const control = new StreamReader(stream.recv);
  assert.equal(await control.varint(), 0, "SUBSCRIBE_OK first");
  decodeSubscribeFields(await control.message(MAX_MESSAGE_BYTES), "SUBSCRIBE_OK");
  const group = (await session.acceptUni())!;
  const reader = new StreamReader(group);
  assert.equal(await reader.varint(), 0, "a GROUP stream");
  const header = decodeGroupHeader(await reader.message(MAX_MESSAGE_BYTES));
  assert.equal(header.subscribeId, 7n);
  assert.equal(header.sequence, 3);
  const frames: Uint8Array[] = [];
  while (!(await reader.done())) frames.push(await reader.exact(await reader.varint()));
  return frames;
}

for (const draft of ["qmux-01", "qmux-02"]) {
  e2e(`relay process: ${draft}.moq-lite-04 publisher → subscriber, byte-exact`, async (relay) => {
    const path = `anon/${draft}`;
    const pub = new BenchPublisher(await dial(relay.port, `${draft}.moq-lite-04`), "relay", path);
    const sub = await dial(relay.port, `${draft}.moq-lite-04`);
    try {
      await within(5_000, "announce reached the relay", pub.announced);
      const receiving = subscribeOneGroup(sub, path, "video");
      await within(5_000, "upstream subscription", pub.subscribed());
      const send = (await pub.openGroup(3))!;
      const sent = FRAMES.map((size, i) => payload(size, i));
      for (const frame of sent) {
        await send.write(encodeVarint(frame.length));
        await send.write(frame);
      }
      await send.close();
      const received = await within(10_000, "the group", receiving);
      assert.equal(received.length, sent.length);
      for (let i = 0; i < sent.length; i++) assert.deepEqual(received[i], sent[i], `frame ${i}`);
    } finally {
      pub.close();
      sub.close(0, "done");
      await Promise.all([pub.session.closed, sub.closed]);
    }
  });
}

e2e("relay process: @moq/qmux 0.3.3 with @moq/net's offer negotiates qmux-02.moq-lite-05", async (relay) => {
  const client = new Session(`http://127.0.0.1:${relay.port}/anon`, {
    protocols: ["moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"],
    versions: { "moq-lite-05": null, "moq-lite-04": null, "moq-lite-03": null, "moql": null },
  });
  try {
    await within(5_000, "the session", client.ready);
    assert.equal(client.protocol, "moq-lite-05");
    // Our empty SETUP; the lite-05 relay answers with its own Setup stream (type 0x1), which must
    // arrive through qmux-02 records.
    const setup = await client.createUnidirectionalStream();
    const writer = setup.getWriter();
    await writer.write(Uint8Array.of(0x01, 0x01, 0x00));
    await writer.close();
    const incoming = client.incomingUnidirectionalStreams.getReader();
    const { value } = await within(5_000, "the relay's first stream", incoming.read());
    incoming.releaseLock();
    assert.ok(value);
    const reader = value.getReader();
    const first = await within(5_000, "the Setup stream's bytes", reader.read());
    assert.equal(first.value?.[0], 0x01);
  } finally {
    client.close();
    await sleep(150);
  }
});

e2e("relay process: an offer of only unknown qmux drafts gets 400", async (relay) => {
  const result = await RawWebSocket.connect(relay.port, "/anon", ["qmux-03.moq-lite-04", "qmux-09"]);
  assert.ok(!(result instanceof RawWebSocket));
  assert.equal(result.status, 400);
  assert.match(result.body, /no supported WebSocket subprotocol offered/);
});
