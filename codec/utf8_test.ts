import assert from "node:assert/strict";
import { truncateUtf8, truncateUtf8String } from "./utf8.ts";

Deno.test("truncateUtf8 keeps short text whole", () => {
  assert.deepEqual(truncateUtf8("abc", 3), new TextEncoder().encode("abc"));
  assert.equal(truncateUtf8String("abc", 10), "abc");
});

Deno.test("truncateUtf8 never splits a character", () => {
  // "é" is 2 bytes, "€" 3 bytes, "😀" 4 bytes.
  assert.equal(truncateUtf8("aé", 2).length, 1);
  assert.equal(truncateUtf8("€€", 5).length, 3);
  assert.equal(truncateUtf8String("😀x", 3), "");
  assert.equal(truncateUtf8String("x😀", 4), "x");
  assert.equal(truncateUtf8String("x😀", 5), "x😀");
  for (let max = 0; max <= 12; max++) {
    const bytes = truncateUtf8("aé€😀b", max);
    assert.ok(bytes.length <= max);
    new TextDecoder("utf-8", { fatal: true }).decode(bytes); // throws on a split character
  }
});
