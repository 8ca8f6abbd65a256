/**
 * Fuzz tests for the RFC 8941 List subset. `parseList`/`parseStringList` never throw (invalid input is
 * `null`/`[]`); `serializeString` declares {@link RangeError} for characters an sf-string cannot carry.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { decodeOrReject, fuzzParams } from "../../testing/mod.ts";
import { parseList, parseStringList, serializeString } from "./_structured_fields.ts";

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 24,
});
const sfText = fc.string({
  unit: fc.constantFrom(...'"\\ \t,;=()*:?@-aA0z9.\u00e9\u0000'),
  maxLength: 48,
});

Deno.test("fuzz: sf-string lists round-trip through serializeString and parseStringList", () => {
  fc.assert(
    fc.property(fc.array(printable, { maxLength: 6 }), fc.constantFrom(",", ", ", " ,\t"), (strings, sep) => {
      const text = strings.map(serializeString).join(sep);
      assert.deepEqual(parseStringList(text), strings);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: parseList never throws and returns at most one member per character", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 64 }), sfText), (text) => {
      const members = parseList(text);
      if (members !== null) assert.ok(members.length <= text.length);
      const strings = parseStringList(text);
      assert.ok(strings.reduce((n, s) => n + s.length, 0) <= text.length);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: serializeString accepts printable ASCII and raises RangeError for anything else", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 16 }), (value) => {
      const out = decodeOrReject("serializeString", [RangeError], () => serializeString(value));
      if (out !== undefined) assert.deepEqual(parseStringList(out), [value]);
      else assert.ok([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7e));
    }),
    fuzzParams(),
  );
});
