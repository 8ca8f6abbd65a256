import assert from "node:assert/strict";
import { VarintRangeError } from "./varint.ts";
import { Writer } from "./writer.ts";

Deno.test("Writer grows from a tiny capacity and keeps earlier bytes", () => {
  const w = new Writer(1);
  const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
  w.u8(7).bytes(payload).varint(15293);
  const out = w.finish();
  assert.equal(out.length, 1 + 1000 + 2);
  assert.equal(out[0], 7);
  assert.deepEqual(out.subarray(1, 1001), payload);
  assert.deepEqual(Array.from(out.subarray(1001)), [0x7b, 0xbd]);
  assert.equal(w.length, out.length);
});

Deno.test("Writer.view is a view, finish a copy", () => {
  const w = new Writer().u8(1);
  const copy = w.finish();
  const view = w.view();
  copy[0] = 9;
  assert.equal(w.view()[0], 1);
  assert.equal(view.length, 1);
});

Deno.test("Writer rejects values a varint cannot carry", () => {
  assert.throws(() => new Writer().varint(-1), VarintRangeError);
  assert.throws(() => new Writer().varint62(1n << 62n), VarintRangeError);
});

Deno.test("Writer.string writes a varint length and UTF-8", () => {
  assert.deepEqual(Array.from(new Writer().string("é").finish()), [2, 0xc3, 0xa9]);
});
