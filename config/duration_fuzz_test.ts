/**
 * Fuzz tests for humantime durations. Declared error: {@link DurationError}. Formatted durations
 * parse back to the same milliseconds.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { decodeOrReject, fuzzParams } from "../testing/mod.ts";
import { DurationError, formatDuration, parseDuration } from "./_duration.ts";

const durationish = fc.string({ unit: fc.constantFrom(..."0123456789.. smhdwMyuµnsecond"), maxLength: 32 });

Deno.test("fuzz: formatDuration output parses back to the same milliseconds", () => {
  fc.assert(
    fc.property(fc.oneof(fc.nat(10_000), fc.nat(), fc.integer({ min: 0, max: 2 ** 48 })), (ms) => {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary durations parse to a finite non-negative number or raise DurationError", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ maxLength: 32 }), durationish),
      fc.constantFrom(undefined, "s" as const, "ms" as const),
      (text, bareUnit) => {
        const ms = decodeOrReject("parseDuration", [DurationError], () => parseDuration(text, { bareUnit }));
        if (ms !== undefined) assert.ok(Number.isFinite(ms) && ms >= 0 && ms <= Number.MAX_SAFE_INTEGER);
      },
    ),
    fuzzParams(),
  );
});
