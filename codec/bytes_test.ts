import assert from "node:assert/strict";
import { concatBytes, encodeTlv, toHex } from "./bytes.ts";
import { VarintRangeError } from "./varint.ts";

Deno.test("concatBytes joins parts in order, honouring subarray offsets", () => {
  const backing = Uint8Array.of(9, 9, 3, 4, 9);
  const out = concatBytes([Uint8Array.of(1, 2), backing.subarray(2, 4), new Uint8Array(0), Uint8Array.of(5)]);
  assert.deepEqual(Array.from(out), [1, 2, 3, 4, 5]);
  assert.equal(concatBytes([]).byteLength, 0);
});

Deno.test("concatBytes returns a copy, never a part", () => {
  const part = Uint8Array.of(1, 2, 3);
  const out = concatBytes([part]);
  part[0] = 7;
  assert.equal(out[0], 1);
});

Deno.test("encodeTlv: varint type, varint length, payload", () => {
  // An HTTP/3 SETTINGS frame (type 0x04) with a 2-byte payload.
  assert.equal(toHex(encodeTlv(0x04, Uint8Array.of(0x08, 0x01))), "04020801");
  // CLOSE_WEBTRANSPORT_SESSION (0x2843, a 2-byte varint) with an empty payload.
  assert.equal(toHex(encodeTlv(0x2843, new Uint8Array(0))), "684300");
  // A 64-byte payload needs a 2-byte length.
  const long = encodeTlv(0, new Uint8Array(64).fill(0xaa));
  assert.equal(toHex(long.subarray(0, 3)), "004040");
  assert.equal(long.byteLength, 3 + 64);
  // A bigint type above 2^53 (a QUIC transport parameter id) keeps all 62 bits.
  assert.equal(toHex(encodeTlv(0x3d4f9c2a8b1e6075n, Uint8Array.of(1))), "fd4f9c2a8b1e60750101");
});

Deno.test("encodeTlv rejects a type outside the varint range", () => {
  assert.throws(() => encodeTlv(-1, new Uint8Array(0)), VarintRangeError);
  assert.throws(() => encodeTlv(1n << 62n, new Uint8Array(0)), VarintRangeError);
});

Deno.test("toHex: lowercase, two digits a byte", () => {
  assert.equal(toHex(Uint8Array.of(0, 1, 0x0f, 0xab, 0xff)), "00010fabff");
  assert.equal(toHex(new Uint8Array(0)), "");
});
