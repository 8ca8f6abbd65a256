/**
 * Fuzz tests for JWK key parsing and base64 helpers. Declared error: {@link KeyError} (parsing and
 * import); the base64 decoders never throw (invalid input is `null`).
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { assertBounded, decodeOrReject, decodeOrRejectAsync, fuzzParams } from "../testing/mod.ts";
import {
  decodeBase64Flexible,
  decodeBase64UrlStrict,
  encodeBase64Url,
  encodeKey,
  importVerifyKey,
  type Jwk,
  KeyError,
  keyToJson,
  parseKeyObject,
  parseKeyText,
} from "./jwk.ts";
import { generateKey } from "./token_cli.ts";

const B64_CHARS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n."];
const base64ish = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: fc.constantFrom(...B64_CHARS), maxLength: 64 }),
);

Deno.test("fuzz: base64url round-trips and the decoders never throw; output ≤ 3/4 of input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), base64ish, (data, text) => {
      const encoded = encodeBase64Url(data);
      assert.match(encoded, /^[A-Za-z0-9_-]*$/);
      assert.deepEqual(decodeBase64UrlStrict(encoded), data);
      assert.deepEqual(decodeBase64Flexible(encoded), data);
      for (const decode of [decodeBase64Flexible, decodeBase64UrlStrict]) {
        const out = decode(text);
        if (out !== null) assertBounded(decode.name, out.length, text.length, 3 / 4, 0);
      }
    }),
    fuzzParams(),
  );
});

/** One key of each family, generated once (RSA generation is slow). */
const KEYS: Jwk[] = await Promise.all(
  (["HS256", "ES256", "EdDSA", "RS256"] as const).map((alg, i) => generateKey(alg, `fuzz${i}`)),
);

/** Key texts with a few characters overwritten, inserted or removed. */
function mutatedText(texts: string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.constantFrom("set", "insert", "delete"),
    fc.nat(),
    fc.constantFrom(...B64_CHARS, '"', "{", "}", ":", ","),
  );
  return fc.tuple(fc.constantFrom(...texts), fc.array(edit, { minLength: 1, maxLength: 3 })).map(
    ([text, edits]) => {
      const chars = [...text];
      for (const [kind, at, c] of edits) {
        const i = chars.length === 0 ? 0 : at % chars.length;
        if (kind === "set") chars[i] = c;
        else if (kind === "insert") chars.splice(i, 0, c);
        else chars.splice(i, 1);
      }
      return chars.join("");
    },
  );
}

Deno.test("fuzz: keys round-trip through encodeKey and parseKeyText in both formats", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...KEYS),
      fc.constantFrom("base64url" as const, "json" as const),
      (key, format) => {
        assert.deepEqual(keyToJson(parseKeyText(encodeKey(key, format), "fuzz")), keyToJson(key));
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary and mutated key texts raise only KeyError, at parse and at import", async () => {
  const texts = KEYS.flatMap((key) => [encodeKey(key, "json"), encodeKey(key, "base64url")]);
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 64 }), mutatedText(texts)), async (text) => {
      const key = decodeOrReject("parseKeyText", [KeyError], () => parseKeyText(text, "fuzz"));
      if (key !== undefined) {
        await decodeOrRejectAsync("importVerifyKey", [KeyError], () => importVerifyKey(key, "fuzz"));
      }
    }),
    { ...fuzzParams(), numRuns: Math.min(fuzzParams().numRuns ?? 100, 5000) },
  );
});

Deno.test("fuzz: arbitrary JSON values raise only KeyError from parseKeyObject", () => {
  const member = fc.constantFrom(
    "alg",
    "kty",
    "k",
    "kid",
    "key_ops",
    "scope",
    "crv",
    "x",
    "y",
    "d",
    "n",
    "e",
    "keys",
  );
  const jwkish = fc.dictionary(
    member,
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom("HS256", "oct", "EC", "P-256", "AAAA")),
  );
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), jwkish), (value) => {
      decodeOrReject("parseKeyObject", [KeyError], () => parseKeyObject(value, "fuzz"));
    }),
    fuzzParams(),
  );
});
