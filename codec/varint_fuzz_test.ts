/**
 * Fuzz tests for the moq-lite varint writer and the {@link BodyReader} varint decoders: every value
 * 0…2^53−1 (and 2^62−1 as a bigint) round-trips minimally; arbitrary bytes decode or raise
 * {@link DecodeError} only. Encoders raise {@link EncodeError} only.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { bytes, decodeOrReject, fuzzParams } from "../testing/mod.ts";
import { BodyReader, DecodeError } from "./reader.ts";
import {
  encodeVarint,
  MAX_VARINT as MAX_VI62,
  VarintRangeError as EncodeError,
  varintSize,
} from "./varint.ts";
import { Writer } from "./writer.ts";

Deno.test("fuzz: vi53 varints round-trip with the minimal size", () => {
  fc.assert(
    fc.property(fc.oneof(fc.nat(0x3f), fc.nat(0x3fff), fc.nat(0x3fffffff), fc.maxSafeNat()), (value) => {
      const encoded = encodeVarint(value);
      assert.equal(encoded.length, varintSize(value));
      const r = new BodyReader(encoded);
      assert.equal(r.varint(), value);
      assert.equal(r.remaining, 0);
      assert.equal(new BodyReader(encoded).varint62(), BigInt(value));
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: vi62 varints round-trip through Writer.varint62", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_VI62 }), (value) => {
      const encoded = new Writer(1).varint62(value).finish();
      const r = new BodyReader(encoded);
      assert.equal(r.varint62(), value);
      assert.equal(r.remaining, 0);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: out-of-range values raise EncodeError only", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.double(), fc.integer({ min: -(2 ** 60), max: -1 })),
      fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
      (n, big) => {
        decodeOrReject("encodeVarint", [EncodeError], () => encodeVarint(n));
        decodeOrReject("Writer.varint62", [EncodeError], () => new Writer().varint62(big));
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: BodyReader varints over arbitrary bytes raise DecodeError only and consume ≤ 8 bytes", () => {
  fc.assert(
    fc.property(bytes(16), (input) => {
      const r = new BodyReader(input);
      const value = decodeOrReject("BodyReader.varint", [DecodeError], () => r.varint());
      if (value !== undefined) {
        assert.ok(Number.isSafeInteger(value) && value >= 0);
        assert.ok(input.length - r.remaining <= 8);
        // Re-encoding gives the same value (possibly shorter: non-minimal input is accepted).
        assert.equal(new BodyReader(encodeVarint(value)).varint(), value);
      }
      const big = decodeOrReject(
        "BodyReader.varint62",
        [DecodeError],
        () => new BodyReader(input).varint62(),
      );
      if (big !== undefined) assert.ok(big >= 0n && big <= MAX_VI62);
    }),
    fuzzParams(),
  );
});
