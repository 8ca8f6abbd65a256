/**
 * Fuzz tests for the HPACK/QPACK Huffman code (RFC 7541 Appendix B). Declared error:
 * {@link HuffmanError}. The shortest code is 5 bits, so output ≤ 8/5 × input.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { assertBounded, bytes, decodeOrReject, fuzzParams } from "../../testing/mod.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength, HuffmanError } from "./_huffman.ts";

Deno.test("fuzz: Huffman encode → decode is the identity", () => {
  fc.assert(
    fc.property(bytes(128), (input) => {
      const encoded = huffmanEncode(input);
      assert.equal(encoded.length, huffmanEncodedLength(input));
      assert.deepEqual(huffmanDecode(encoded), input);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary Huffman input decodes or raises HuffmanError; output ≤ 8/5 of input", () => {
  fc.assert(
    fc.property(bytes(128), (input) => {
      const out = decodeOrReject("huffmanDecode", [HuffmanError], () => huffmanDecode(input));
      if (out !== undefined) assertBounded("huffmanDecode", out.length, input.length, 8 / 5, 0);
    }),
    fuzzParams(),
  );
});
