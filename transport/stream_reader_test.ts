import assert from "node:assert/strict";
import { BoundsError, DecodeError, encodeVarint, Writer } from "../codec/mod.ts";
import { INITIAL_READ_BUFFER_BYTES, StreamReader } from "./stream_reader.ts";
import type { RecvStream } from "./types.ts";

/** A receive stream that yields `bytes` in chunks of `chunkSize`, then FIN. */
function chunked(bytes: Uint8Array, chunkSize: number): RecvStream & { reads: number } {
  let pos = 0;
  const stream = {
    reads: 0,
    read(): Promise<Uint8Array | null> {
      stream.reads++;
      if (pos >= bytes.length) return Promise.resolve(null);
      const chunk = bytes.slice(pos, pos + chunkSize);
      pos += chunk.length;
      return Promise.resolve(chunk);
    },
    stop(): void {},
  };
  return stream;
}

function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
}

Deno.test("StreamReader reassembles frames and messages across every chunk size", async () => {
  const big = pattern(3 * INITIAL_READ_BUFFER_BYTES + 17, 1); // grows the buffer several times
  const small = pattern(70, 2);
  const wire = new Writer()
    .varint(small.length).bytes(small)
    .varint(big.length).bytes(big)
    .varint(3).bytes(Uint8Array.of(0x25, 0x40, 0x25)) // a message: two varints
    .finish();
  for (const chunkSize of [1, 2, 7, 1000, wire.length]) {
    const reader = new StreamReader(chunked(wire, chunkSize));
    const first = await reader.frame(1 << 20);
    assert.deepEqual(
      first,
      Uint8Array.from([...encodeVarint(small.length), ...small]),
      `chunks of ${chunkSize}`,
    );
    const second = await reader.frame(1 << 20);
    assert.ok(second);
    assert.equal(second.length, encodeVarint(big.length).length + big.length, "exact-size buffer");
    assert.deepEqual(second.subarray(encodeVarint(big.length).length), big);
    const message = await reader.message(16);
    assert.equal(message.varint(), 0x25);
    assert.equal(message.varint(), 0x25);
    message.end("test message");
    assert.equal(await reader.frame(1 << 20), null, "clean FIN between frames");
  }
});

Deno.test("StreamReader rejects a declared size over the limit before reading the payload", async () => {
  const stream = chunked(new Writer().varint(1 << 30).finish(), 64);
  const reader = new StreamReader(stream);
  await assert.rejects(reader.frame(1 << 20), BoundsError);
  assert.equal(stream.reads, 1, "only the size prefix was read");
  await assert.rejects(
    new StreamReader(chunked(encodeVarint(100), 64)).message(10),
    /exceeds the 10-byte limit/,
  );
});

Deno.test("StreamReader reports a stream that ends inside a frame, message or varint", async () => {
  const cut = new Writer().varint(1 << 20).bytes(pattern(1000, 3)).finish();
  await assert.rejects(
    new StreamReader(chunked(cut, 100)).frame(1 << 21),
    /stream ended inside a frame \(1000 of 1048576 bytes\)/,
  );
  await assert.rejects(new StreamReader(chunked(cut, 100)).exact(5000), /after 1004 of 5000 bytes/);
  await assert.rejects(new StreamReader(chunked(Uint8Array.of(0x80, 1), 1)).varint(), DecodeError);
});

Deno.test("a declared frame size costs nothing until its bytes arrive", async () => {
  const READERS = 200;
  const DECLARED_BYTES = 1 << 20; // 200 MiB in total if allocated up front
  const before = Deno.memoryUsage().external;
  const pending: Promise<unknown>[] = [];
  const release: Array<() => void> = [];
  for (let i = 0; i < READERS; i++) {
    const { promise: hang, resolve } = Promise.withResolvers<Uint8Array | null>();
    release.push(() => resolve(null));
    let sent = false;
    const stream: RecvStream = {
      read: () => {
        if (sent) return hang; // the peer goes quiet after the size prefix and 10 bytes
        sent = true;
        return Promise.resolve(new Writer().varint(DECLARED_BYTES).bytes(pattern(10, i)).finish());
      },
      stop: () => {},
    };
    pending.push(new StreamReader(stream).frame(DECLARED_BYTES).catch((e) => e));
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  const grownMiB = (Deno.memoryUsage().external - before) / (1 << 20);
  for (const r of release) r();
  for (const outcome of await Promise.all(pending)) assert.ok(outcome instanceof DecodeError);
  assert.ok(
    grownMiB < 20,
    `${READERS} stalled 1 MiB frames grew external memory by ${grownMiB.toFixed(1)} MiB`,
  );
});

Deno.test("StreamReader calls onWait each time it is about to wait for the stream", async () => {
  // Three 2-byte frames per 6-byte chunk: a consumer batching per chunk is told after each chunk.
  const wire = new Uint8Array([1, 7, 1, 8, 1, 9, 1, 10, 1, 11, 1, 12]);
  const reader = new StreamReader(chunked(wire, 6));
  const events: string[] = [];
  reader.onWait = () => events.push("wait");
  for (;;) {
    const frame = await reader.frame(16);
    if (frame === null) break;
    events.push(String(frame[1]));
  }
  assert.deepEqual(events, ["wait", "7", "8", "9", "wait", "10", "11", "12", "wait"]);
});

Deno.test("StreamReader.frame returns small buffered frames as views, others as copies", async () => {
  const payload = pattern(100, 3);
  const wire = new Writer().varint(100).bytes(payload).varint(100).bytes(payload).bytes(
    new Uint8Array([0x40, 0x02, 7, 8]), // a non-minimal size prefix: copied and re-encoded
  ).finish();
  const reader = new StreamReader(chunked(wire, 150));
  const first = (await reader.frame(1024, 200))!;
  assert.equal(first.byteLength, 102);
  assert.ok(first.buffer.byteLength > 102, "a view of the received chunk");
  assert.deepEqual(first.subarray(2), payload);
  const second = (await reader.frame(1024, 200))!; // split across two chunks: copied
  assert.equal(second.buffer.byteLength, 102);
  assert.deepEqual(second.subarray(2), payload);
  const third = (await reader.frame(1024, 200))!;
  assert.deepEqual([...third], [2, 7, 8], "re-encoded minimally");
  assert.equal(await reader.frame(1024, 200), null);
});

Deno.test("StreamReader.bufferedFrame takes buffered small frames synchronously, else leaves them", async () => {
  const wire = new Writer().varint(2).bytes(new Uint8Array([5, 6])).varint(300).bytes(pattern(300, 4)).varint(
    1,
  )
    .bytes(new Uint8Array([9])).finish();
  const reader = new StreamReader(chunked(wire, 100));
  assert.equal(reader.bufferedFrame(1024, 64), undefined, "nothing buffered yet");
  const first = (await reader.frame(1024, 64))!;
  assert.deepEqual([...first], [2, 5, 6]);
  assert.equal(reader.bufferedFrame(1024, 64), undefined, "too large for a view: left for frame()");
  assert.throws(() => reader.bufferedFrame(100, 1024), BoundsError);
  const second = (await reader.frame(1024, 64))!;
  assert.equal(second.byteLength, 302);
  assert.deepEqual(second.subarray(2), pattern(300, 4));
  const third = reader.bufferedFrame(1024, 64) ?? (await reader.frame(1024, 64));
  assert.deepEqual([...third!], [1, 9]);
  assert.equal(await reader.frame(1024, 64), null);
});

Deno.test("StreamReader.bufferedFrameAfterVarint takes header and frame together, or neither", async () => {
  const wire = new Writer()
    .varint(300).varint(2).bytes(Uint8Array.of(5, 6)) // header 300 (two bytes), small frame
    .varint(7).varint(100).bytes(pattern(100, 3)) // too large for a 64-byte view
    .varint62(1n << 60n).varint(1).bytes(Uint8Array.of(9)) // header above 2^53 - 1
    .varint(1).varint(1).bytes(Uint8Array.of(8))
    .finish();
  // Split inside the second frame's payload.
  const reader = new StreamReader(chunked(wire, 10));
  assert.equal(reader.bufferedFrameAfterVarint(1024, 64), undefined, "nothing buffered yet");
  assert.equal(await reader.done(), false);
  const first = reader.bufferedFrameAfterVarint(1024, 64)!;
  assert.deepEqual([...first], [2, 5, 6]);
  assert.equal(reader.bufferedHeader, 300);
  assert.equal(reader.bufferedFrameAfterVarint(1024, 64), undefined, "too large / not all buffered");
  assert.throws(() => reader.bufferedFrameAfterVarint(50, 1024), BoundsError);
  // Nothing was consumed: the awaited path reads the same frame.
  assert.equal(await reader.varint(), 7);
  const second = (await reader.frame(1024, 64))!;
  assert.deepEqual(second.subarray(2), pattern(100, 3));
  // Whatever is buffered now, a header above 2^53 - 1 is left for the exact (bigint) path.
  assert.equal(reader.bufferedFrameAfterVarint(1024, 64), undefined);
  assert.equal(await reader.u8(), 0xd0);
  assert.equal((await reader.exact(7)).length, 7);
  assert.deepEqual([...(await reader.frame(1024, 64))!], [1, 9]);
  const last = reader.bufferedFrameAfterVarint(1024, 64) ??
    (await reader.varint(), await reader.frame(1024, 64));
  assert.deepEqual([...last!], [1, 8]);
  assert.equal(await reader.done(), true);
});
