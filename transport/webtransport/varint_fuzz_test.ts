/**
 * Fuzz tests for the HTTP/3 varint codec: round-trip for every number ≤ 2^53−1 and bigint ≤
 * 2^62−1; decoding arbitrary bytes never throws (a short input is `null`) and consumes ≤ 8 bytes.
 * Encoding raises {@link VarintError} only.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { bytes, decodeOrReject, fuzzParams } from "../../testing/fuzz.ts";
import { decodeVarint, encodeVarint, VARINT_MAX, VarintError, varintLength } from "./varint.ts";

Deno.test("fuzz: h3 varints round-trip minimally", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.nat(0x3f), fc.nat(0x3fff), fc.nat(0x3fffffff), fc.maxSafeNat()),
      fc.nat(4),
      (v, at) => {
        const encoded = encodeVarint(v);
        assert.equal(encoded.length, varintLength(v));
        const padded = new Uint8Array(at + encoded.length);
        padded.set(encoded, at);
        assert.deepEqual(decodeVarint(padded, at), { value: v, length: encoded.length });
        assert.equal(decodeVarint(padded.subarray(0, padded.length - 1), at), null);
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: h3 bigint varints encode to 8 bytes above 2^53 and decode approximately", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: VARINT_MAX }), (v) => {
      const encoded = encodeVarint(v);
      const decoded = decodeVarint(encoded);
      assert.ok(decoded !== null);
      assert.equal(decoded.length, encoded.length);
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(decoded.value, Number(v));
      else assert.ok(Math.abs(decoded.value - Number(v)) <= Number(v) * 2 ** -50); // approximate, as documented
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: h3 varint decode of arbitrary bytes never throws; encode raises VarintError only", () => {
  fc.assert(
    fc.property(bytes(12), fc.nat(12), fc.double(), fc.bigInt(), (input, offset, n, big) => {
      const decoded = decodeVarint(input, offset);
      if (decoded !== null) {
        assert.ok([1, 2, 4, 8].includes(decoded.length));
        assert.ok(offset + decoded.length <= input.length);
        assert.ok(decoded.value >= 0 && decoded.value <= 2 ** 62);
      }
      decodeOrReject("encodeVarint(number)", [VarintError], () => encodeVarint(n));
      decodeOrReject("encodeVarint(bigint)", [VarintError], () => encodeVarint(big));
    }),
    fuzzParams(),
  );
});
