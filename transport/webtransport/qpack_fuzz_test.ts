/**
 * Fuzz tests for the static-table QPACK decoder. Declared error: {@link QpackError} (Huffman
 * failures are wrapped into it). Field sections round-trip with and without Huffman coding.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { assertBounded, bytes, decodeOrReject, fuzzParams, mutated } from "../../testing/mod.ts";
import {
  decodeFieldSection,
  encodeFieldSection,
  type HeaderField,
  QpackError,
  STATIC_TABLE,
} from "./_qpack.ts";

const STATIC_STRINGS = new Set(STATIC_TABLE.flat());

/** Fields plus the characters of strings that did not come from the static table. */
function decodedSize(fields: HeaderField[]): number {
  let size = fields.length;
  for (const [name, value] of fields) {
    if (!STATIC_STRINGS.has(name)) size += name.length;
    if (!STATIC_STRINGS.has(value)) size += value.length;
  }
  return size;
}

const fieldName = fc.stringMatching(/^[a-z0-9-]{1,24}$/);
const field: fc.Arbitrary<HeaderField> = fc.oneof(
  fc.constantFrom(...STATIC_TABLE).map(([n, v]) => [n, v] as HeaderField),
  fc.tuple(fc.constantFrom(...STATIC_TABLE.map(([n]) => n)), fc.string({ unit: "grapheme", maxLength: 40 })),
  fc.tuple(fieldName, fc.string({ unit: "grapheme", maxLength: 40 })),
);
const section = fc.tuple(fc.array(field, { maxLength: 8 }), fc.boolean());

Deno.test("fuzz: QPACK field sections round-trip (plain and Huffman)", () => {
  fc.assert(
    fc.property(section, ([fields, huffman]) => {
      assert.deepEqual(decodeFieldSection(encodeFieldSection(fields, { huffman })), fields);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary field sections decode or raise QpackError; output bounded by input", () => {
  const encoded = section.map(([fields, huffman]) => encodeFieldSection(fields, { huffman }));
  fc.assert(
    fc.property(fc.oneof(bytes(), mutated(encoded)), (input) => {
      const fields = decodeOrReject("decodeFieldSection", [QpackError], () => decodeFieldSection(input));
      if (fields !== undefined) assertBounded("decodeFieldSection", decodedSize(fields), input.length, 2);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: field lines are self-delimiting: decode(A + lines of B) = decode(A) + decode(B)", () => {
  const encoded = section.map(([fields, huffman]) => encodeFieldSection(fields, { huffman }));
  fc.assert(
    fc.property(fc.oneof(bytes(), mutated(encoded)), section, (a, [fieldsB, huffman]) => {
      const first = decodeOrReject("decodeFieldSection", [QpackError], () => decodeFieldSection(a));
      if (first === undefined) return;
      const b = encodeFieldSection(fieldsB, { huffman });
      const joined = Uint8Array.from([...a, ...b.subarray(2)]);
      assert.deepEqual(decodeFieldSection(joined), [...first, ...decodeFieldSection(b)]);
    }),
    fuzzParams(),
  );
});

// Found by review while fuzzing: a prefix integer made of ≥ 147 zero continuation bytes overflowed its
// multiplier to Infinity (0 × Infinity = NaN), so the NaN length ended the section early and the
// decoder returned a bogus field instead of an error, silently ignoring the rest of the section.
Deno.test("QPACK: an endless prefix integer is a QpackError, not a silently truncated section", () => {
  const input = Uint8Array.from([0x00, 0x00, 0x2f, ...new Array(160).fill(0x80), 0x01, 0xc1]);
  assert.throws(() => decodeFieldSection(input), QpackError);
});
