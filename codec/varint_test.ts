import assert from "node:assert/strict";
import {
  decodeVarint,
  encodeVarint,
  getVarint,
  getVarint62,
  MAX_VARINT,
  MAX_VARINT_NUMBER,
  putVarint,
  putVarint62,
  varintLength,
  VarintRangeError,
  varintSize,
  VarintTruncatedError,
} from "./varint.ts";
import { spacedHex } from "../testing/mod.ts";

const fromHex = (text: string) =>
  Uint8Array.from(text.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test("varint: RFC 9000 Appendix A.1 sample decodings", () => {
  assert.equal(getVarint62(fromHex("c2197c5eff14e88c"), 0), 151288809941952652n);
  assert.equal(getVarint(fromHex("9d7f3e7d"), 0), 494878333);
  assert.equal(getVarint(fromHex("7bbd"), 0), 15293);
  assert.equal(getVarint(fromHex("25"), 0), 37);
  assert.equal(getVarint(fromHex("4025"), 0), 37); // non-minimal two-byte form is accepted
  assert.deepEqual(decodeVarint(fromHex("9d7f3e7d")), { value: 494878333, length: 4 });
  assert.deepEqual(decodeVarint(fromHex("00 4025"), 1), { value: 37, length: 2 });
});

Deno.test("varint: RFC 9000 Appendix A.1 sample encodings (minimal)", () => {
  assert.equal(spacedHex(encodeVarint(151288809941952652n)), "c2 19 7c 5e ff 14 e8 8c");
  assert.equal(spacedHex(encodeVarint(494878333)), "9d 7f 3e 7d");
  assert.equal(spacedHex(encodeVarint(15293)), "7b bd");
  assert.equal(spacedHex(encodeVarint(37)), "25");
  assert.equal(spacedHex(encodeVarint(0x41)), "40 41"); // WebTransport bidi signal
  assert.equal(spacedHex(encodeVarint(0x54)), "40 54"); // WebTransport uni stream type
});

Deno.test("varint: size boundaries of every length class round-trip", () => {
  const cases: Array<[number, number]> = [
    [0, 1],
    [63, 1],
    [64, 2],
    [16383, 2],
    [16384, 4],
    [2 ** 30 - 1, 4],
    [2 ** 30, 8],
    [2 ** 32, 8],
    [MAX_VARINT_NUMBER, 8],
  ];
  for (const [value, size] of cases) {
    assert.equal(varintSize(value), size, `size of ${value}`);
    const out = new Uint8Array(size + 2);
    assert.equal(putVarint(out, 1, value), 1 + size, `end offset of ${value}`);
    assert.equal(varintLength(out[1]), size);
    assert.equal(getVarint(out, 1), value, `round trip of ${value}`);
    assert.equal(getVarint62(out, 1), BigInt(value));
  }
});

Deno.test("varint: the bigint form covers the full 62 bits", () => {
  for (const value of [0n, 63n, 64n, BigInt(MAX_VARINT_NUMBER), BigInt(MAX_VARINT_NUMBER) + 1n, MAX_VARINT]) {
    const out = new Uint8Array(8);
    const end = putVarint62(out, 0, value);
    assert.equal(end, varintSize(value));
    assert.equal(getVarint62(out, 0), value);
    assert.equal(spacedHex(encodeVarint(value)), spacedHex(out.subarray(0, end)));
  }
  assert.equal(spacedHex(encodeVarint(MAX_VARINT)), "ff ff ff ff ff ff ff ff");
});

Deno.test("varint: out-of-range values raise VarintRangeError", () => {
  const out = new Uint8Array(8);
  for (const bad of [-1, 1.5, NaN, Infinity, MAX_VARINT_NUMBER + 1]) {
    assert.throws(() => putVarint(out, 0, bad), VarintRangeError, String(bad));
    assert.throws(() => encodeVarint(bad), VarintRangeError, String(bad));
  }
  assert.throws(() => putVarint62(out, 0, -1n), VarintRangeError);
  assert.throws(() => encodeVarint(MAX_VARINT + 1n), VarintRangeError);
  assert.throws(() => encodeVarint(-1), /integer from 0 to 9007199254740991/);
});

Deno.test("varint: truncated input raises VarintTruncatedError or decodes to null", () => {
  for (const text of ["", "40", "80 ff", "80 ff d2", "c2 19 7c 5e ff 14 e8"]) {
    const bytes = text ? fromHex(text) : new Uint8Array(0);
    assert.throws(() => getVarint(bytes, 0), VarintTruncatedError, text);
    assert.throws(() => getVarint62(bytes, 0), VarintTruncatedError, text);
    assert.equal(decodeVarint(bytes), null, text);
  }
  assert.throws(() => getVarint(fromHex("25"), 1), VarintTruncatedError);
  assert.throws(() => getVarint(fromHex("80 ff"), 0), /needs 4 bytes, 2 are left/);
});
