/**
 * {@link ChunkWriter} on a real loopback TCP connection: bytes arrive in order across chunk
 * boundaries, written chunks are pooled (a busy writer stops allocating), trim lets an idle
 * writer's buffers go, and the queue cap fails the writer once.
 */

import assert from "node:assert/strict";
import { pattern, tcpPair, withTimeout } from "../testing/mod.ts";
import { ChunkWriter, MAX_IN_PLACE_BYTES, WRITE_CHUNK_BYTES, WRITE_POOL_BUFFERS } from "./chunk_writer.ts";

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await conn.read(out.subarray(got));
    if (read === null) throw new Error(`the stream ended after ${got} of ${n} bytes`);
    got += read;
  }
  return out;
}

Deno.test("ChunkWriter: in-place heads and appended payloads arrive in order; chunks are pooled and trimmed", async () => {
  const pair = await tcpPair();
  try {
    const failures: string[] = [];
    const writer = new ChunkWriter(pair.a, {
      maxQueueBytes: 64 * 1024 * 1024,
      onFailed: (r) => failures.push(r),
    });
    const expected: Uint8Array[] = [];
    let total = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 40; i++) {
        const size = [3, 200, 5_000, 16_000, 70_000][(i + round) % 5];
        const payload = pattern(size, round * 100 + i);
        // A 4-byte head written in place, then the payload appended (spread over chunks if need be).
        const at = writer.begin(4, 4 + size);
        assert.ok(at >= 0);
        new DataView(writer.buffer.buffer, writer.buffer.byteOffset).setUint32(at, size);
        writer.append(payload);
        const head = new Uint8Array(4);
        new DataView(head.buffer).setUint32(0, size);
        expected.push(head, payload);
        total += 4 + size;
      }
      assert.ok(writer.bufferedBytes > 0);
      const want = new Uint8Array(expected.reduce((n, b) => n + b.length, 0));
      let off = 0;
      for (const b of expected) {
        want.set(b, off);
        off += b.length;
      }
      expected.length = 0;
      assert.deepEqual(await withTimeout(readExactly(pair.b, want.length), 10_000, "the bytes"), want);
      await withTimeout(writer.drained(), 5_000, "drained");
      // Busy: written chunks were kept for reuse, but never more than the pool bound.
      assert.ok(writer.heldBytes <= (WRITE_POOL_BUFFERS + 1) * WRITE_CHUNK_BYTES, `held ${writer.heldBytes}`);
    }
    assert.ok(total > 10 * WRITE_CHUNK_BYTES);
    assert.ok(writer.heldBytes > 0);
    writer.trim(); // sent since the last trim: keeps a couple of chunks
    assert.ok(writer.heldBytes <= 3 * WRITE_CHUNK_BYTES, `held ${writer.heldBytes}`);
    writer.trim(); // quiet since: lets everything go
    assert.equal(writer.heldBytes, 0);
    assert.throws(() => writer.begin(MAX_IN_PLACE_BYTES + 17, MAX_IN_PLACE_BYTES + 17), RangeError);
    assert.deepEqual(failures, []);
  } finally {
    pair.close();
  }
});

Deno.test("ChunkWriter: past the queue cap it drops everything and fails once; a stopped writer takes nothing", async () => {
  const pair = await tcpPair();
  try {
    const failures: string[] = [];
    const writer = new ChunkWriter(pair.a, { maxQueueBytes: 1024 * 1024, onFailed: (r) => failures.push(r) });
    let accepted = 0;
    while (writer.begin(16_000, 16_000) >= 0) accepted++; // the peer never reads
    assert.ok(accepted <= 1024 * 1024 / 16_000, `accepted ${accepted}`);
    assert.equal(failures.length, 1);
    assert.match(failures[0], /stopped reading/);
    assert.ok(writer.stopped);
    assert.equal(writer.begin(10, 10), -1);
    assert.equal(failures.length, 1);
    await withTimeout(writer.drained(), 5_000, "drained after the stop");
  } finally {
    pair.close();
  }
});
