import assert from "node:assert/strict";
import { BodyReader, BoundsError, DecodeError } from "./reader.ts";
import { Writer } from "./writer.ts";

Deno.test("BodyReader reads what Writer wrote", () => {
  const w = new Writer(1)
    .varint(5)
    .varint(16384)
    .varint62(1n << 60n)
    .u8(0xab)
    .bool(true)
    .u16(0x1234)
    .u32(0xdeadbeef)
    .string("héllo")
    .bytes(Uint8Array.of(1, 2, 3));
  const r = new BodyReader(w.finish());
  assert.equal(r.varint(), 5);
  assert.equal(r.varint(), 16384);
  assert.equal(r.varint62(), 1n << 60n);
  assert.equal(r.u8(), 0xab);
  assert.equal(r.bool(), true);
  assert.equal(r.u16(), 0x1234);
  assert.deepEqual(Array.from(r.bytes(4)), [0xde, 0xad, 0xbe, 0xef]);
  assert.equal(r.string(), "héllo");
  assert.deepEqual(Array.from(r.rest()), [1, 2, 3]);
  r.end("test message");
  assert.equal(r.remaining, 0);
});

Deno.test("BodyReader raises DecodeError on truncation and bad values", () => {
  assert.throws(() => new BodyReader(Uint8Array.of()).varint(), DecodeError);
  assert.throws(() => new BodyReader(Uint8Array.of(0x40)).varint(), /message truncated inside a varint/);
  assert.throws(() => new BodyReader(Uint8Array.of(0x80, 1, 2)).varint62(), DecodeError);
  assert.throws(() => new BodyReader(Uint8Array.of()).u8(), DecodeError);
  assert.throws(() => new BodyReader(Uint8Array.of(2)).bool(), /invalid bool/);
  assert.throws(() => new BodyReader(Uint8Array.of(1, 2)).bytes(3), /a field needs 3 bytes, 2 left/);
  assert.throws(() => new BodyReader(Uint8Array.of(2, 0xc3, 0x28)).string(), /not valid UTF-8/);
  assert.throws(() => new BodyReader(Uint8Array.of(1)).end("SETUP"), /SETUP has 1 trailing bytes/);
  // An 8-byte varint above 2^53-1 does not fit the number form.
  const big = new Writer().varint62(1n << 60n).finish();
  assert.throws(() => new BodyReader(big).varint(), /larger than 2\^53-1/);
  assert.equal(new BodyReader(big).clampedVarint(), Number.MAX_SAFE_INTEGER);
});

Deno.test("BodyReader rejects strings over the limit with BoundsError before reading them", () => {
  const r = new BodyReader(new Writer().varint(5000).finish());
  assert.throws(() => r.string(4096), BoundsError);
});

Deno.test("BodyReader never reads past a subarray's end", () => {
  const backing = Uint8Array.of(0x25, 0x26, 0x27);
  const r = new BodyReader(backing.subarray(0, 1));
  assert.equal(r.varint(), 0x25);
  assert.throws(() => r.u8(), DecodeError);
});

Deno.test("BodyReader errors name the unit and the field", () => {
  assert.throws(
    () => new BodyReader(Uint8Array.of(), "frame").varint("stream id"),
    /frame truncated: missing stream id/,
  );
  assert.throws(
    () => new BodyReader(Uint8Array.of(0x40), "frame").varint("stream id"),
    /frame truncated inside stream id/,
  );
  assert.throws(
    () => new BodyReader(Uint8Array.of(1), "frame").bytes(5, "stream data"),
    /stream data needs 5 bytes, 1 left/,
  );
  const r = new BodyReader(Uint8Array.of(7));
  assert.equal(r.peekU8(), 7);
  assert.equal(r.u8(), 7);
  assert.equal(r.peekU8(), undefined);
});
