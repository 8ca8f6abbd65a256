/**
 * Fuzz tests for JWT parsing and verification. Declared error: {@link AuthError}. Signed claims
 * round-trip; no error message carries the key's secret.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { decodeOrReject, decodeOrRejectAsync, fuzzParams } from "../testing/mod.ts";
import { decodeTokenHeader, parseClaims, type VerifyingKey, verifyToken } from "./_verify.ts";
import { type Jwk, parseKeyText } from "./jwk.ts";
import { loadKeyText } from "./_key_source.ts";
import { AuthError } from "./types.ts";
import { signRaw } from "../testing/mod.ts";

const SECRET = "jvS2B_SKkvhtObaiKg9n2vq_Iqdus-nVCVVYBWf0BQA";
const HS_KEY = `{"alg":"HS256","key_ops":["verify","sign"],"kty":"oct","k":"${SECRET}","kid":"fuzz"}`;
const NOW_MS = 1_800_000_000_000;
const hs: Jwk = parseKeyText(HS_KEY, "hs");
const hsVerify: VerifyingKey = await loadKeyText(HS_KEY, "hs");

const pathList = fc.array(fc.stringMatching(/^[a-z0-9/]{0,12}$/), { minLength: 1, maxLength: 3 });
const claimsArb = fc.record({
  root: fc.stringMatching(/^[a-z0-9/]{0,12}$/),
  put: pathList,
  get: pathList,
  exp: fc.option(fc.integer({ min: NOW_MS / 1000, max: NOW_MS / 1000 + 1e6 }), { nil: undefined }),
  iat: fc.option(fc.integer({ min: 0, max: NOW_MS / 1000 }), { nil: undefined }),
});

/** Tokens with a few characters overwritten, inserted or removed. */
function mutatedToken(tokens: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const chars = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "];
  const edit = fc.tuple(fc.constantFrom("set", "insert", "delete"), fc.nat(), fc.constantFrom(...chars));
  return fc.tuple(tokens, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([token, edits]) => {
    const out = [...token];
    for (const [kind, at, c] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (kind === "set") out[i] = c;
      else if (kind === "insert") out.splice(i, 0, c);
      else out.splice(i, 1);
    }
    return out.join("");
  });
}

Deno.test("fuzz: signed claims round-trip through verifyToken", async () => {
  await fc.assert(
    fc.asyncProperty(claimsArb, async (claims) => {
      const token = await signRaw(hs, { typ: "JWT" }, claims);
      const out = await verifyToken(token, hsVerify, { nowMs: NOW_MS });
      assert.deepEqual(out, { ...structuredClone(claims), nbf: undefined, legacy: false });
    }),
    { ...fuzzParams(), numRuns: Math.min(fuzzParams().numRuns ?? 100, 5000) },
  );
});

Deno.test("fuzz: arbitrary and mutated tokens raise only AuthError, never quoting the secret", async () => {
  const tokens = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.tuple(fc.string(), fc.string(), fc.string()).map((parts) => parts.join(".")),
    mutatedToken(fc.constantFrom(await signRaw(hs, {}, { root: "", put: "a", get: "b" }))),
  );
  await fc.assert(
    fc.asyncProperty(tokens, async (token) => {
      let message = "";
      await decodeOrRejectAsync("verifyToken", [AuthError], async () => {
        try {
          return await verifyToken(token, hsVerify, { nowMs: NOW_MS });
        } catch (error) {
          message = error instanceof Error ? error.message : String(error);
          throw error;
        }
      });
      assert.ok(!message.includes(SECRET));
      decodeOrReject("decodeTokenHeader", [AuthError], () => decodeTokenHeader(token));
    }),
    { ...fuzzParams(), numRuns: Math.min(fuzzParams().numRuns ?? 100, 20000) },
  );
});

Deno.test("fuzz: arbitrary JSON payloads raise only AuthError from parseClaims", () => {
  const member = fc.constantFrom("root", "put", "get", "exp", "iat", "nbf", "cluster", "pub", "sub", "path");
  const claimish = fc.dictionary(member, fc.jsonValue({ maxDepth: 2 }));
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), claimish), (payload) => {
      const claims = decodeOrReject("parseClaims", [AuthError], () => parseClaims(payload));
      if (claims !== undefined) {
        assert.ok(Array.isArray(claims.put) && Array.isArray(claims.get));
        assert.ok(claims.put.every((p) => typeof p === "string"));
      }
    }),
    fuzzParams(),
  );
});
