/**
 * Fuzz test for the qmux byte-stream record reader ({@link RecordReader}): any byte stream, cut
 * into any chunks, yields records no larger than the limit or throws only {@link RecordStreamError}.
 */

import assert from "node:assert/strict";
import { bytes, concat, decodeOrRejectAsync, fc, fuzzParams, mutated } from "../../testing/mod.ts";
import { encodeVarint } from "../../codec/mod.ts";
import { RecordReader, RecordStreamError } from "./_record_socket.ts";

/** The part of a `Deno.Conn` the reader uses: `read` over fixed chunks, then EOF. */
function chunkedConn(data: Uint8Array, cuts: number[]): Deno.Conn {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const c of cuts) {
    if (at >= data.length) break;
    const n = 1 + (c % Math.max(1, data.length - at));
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  if (at < data.length) chunks.push(data.subarray(at));
  let pending: Uint8Array | undefined;
  return {
    read(buf: Uint8Array): Promise<number | null> {
      pending ??= chunks.shift();
      if (pending === undefined) return Promise.resolve(null);
      const n = Math.min(buf.length, pending.length);
      buf.set(pending.subarray(0, n));
      pending = n < pending.length ? pending.subarray(n) : undefined;
      return Promise.resolve(n);
    },
  } as unknown as Deno.Conn;
}

const records = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }).map((rs) => {
  return concat(rs.flatMap((r) => [encodeVarint(r.length), r]));
});

Deno.test("fuzz: RecordReader throws only RecordStreamError, records within the limit, always ends", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(bytes(1024), mutated(records)),
      fc.array(fc.nat(), { maxLength: 16 }),
      fc.constantFrom(16, 256, 64 * 1024),
      async (data, cuts, limit) => {
        const reader = new RecordReader(chunkedConn(data, cuts));
        let total = 0;
        await decodeOrRejectAsync("RecordReader", [RecordStreamError], async () => {
          for (let i = 0; i <= data.length; i++) {
            const r = await reader.next(limit);
            if (r === null) return;
            assert.ok(r.length <= limit);
            total += r.length;
          }
          throw new Error("the reader yielded more records than input bytes");
        });
        assert.ok(total <= data.length);
      },
    ),
    fuzzParams(),
  );
});

Deno.test("RecordReader: a stream that ends right after a record's Size is an error, not stale buffer bytes", async () => {
  // One whole record "ab", then the Size of a 2-byte record and EOF.
  const reader = new RecordReader(chunkedConn(Uint8Array.from([2, 0x61, 0x62, 2]), [3, 1]));
  assert.deepEqual(await reader.next(), Uint8Array.from([0x61, 0x62]));
  await assert.rejects(reader.next(), RecordStreamError);
});
