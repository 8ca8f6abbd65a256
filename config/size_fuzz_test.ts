/**
 * Fuzz tests for byte sizes. Declared error: {@link SizeError}. Formatted sizes parse back.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { decodeOrReject, fuzzParams } from "../testing/mod.ts";
import { formatSize, parseSize, SizeError } from "./_size.ts";

const sizeish = fc.string({ unit: fc.constantFrom(..."0123456789. %kKmMgGtTpPiIbB"), maxLength: 24 });

Deno.test("fuzz: formatSize output parses back to the same bytes", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.nat(1 << 20), fc.maxSafeNat(), fc.nat(1 << 20).map((n) => n * 2 ** 30)),
      (bytes) => {
        assert.equal(parseSize(formatSize(bytes)), bytes);
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary sizes parse to a safe non-negative integer or raise SizeError", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 24 }), sizeish), fc.boolean(), (text, allowPercent) => {
      const bytes = decodeOrReject(
        "parseSize",
        [SizeError],
        () => parseSize(text, { allowPercent, memoryBytes: 8 * 2 ** 30 }),
      );
      if (bytes !== undefined) assert.ok(Number.isSafeInteger(bytes) && bytes >= 0);
    }),
    fuzzParams(),
  );
});
