import assert from "node:assert/strict";
import { fnv1a64 } from "./fnv.ts";

Deno.test("fnv1a64: standard test vectors, and the basis is honoured", () => {
  assert.equal(fnv1a64(""), 0xcbf29ce484222325n);
  assert.equal(fnv1a64("a"), 0xaf63dc4c8601ec8cn);
  assert.equal(fnv1a64("foobar"), 0x85944171f73967e8n);
  assert.equal(fnv1a64(new Uint8Array(), 0x420c0decb00bn), 0x420c0decb00bn);
  assert.notEqual(fnv1a64("a", 0x420c0decb00bn), fnv1a64("a"));
});
