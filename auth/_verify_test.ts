import assert from "node:assert/strict";
import { CompactSign } from "jose";
import {
  checkClaims,
  CLOCK_LEEWAY_SECONDS,
  decodeTokenHeader,
  type VerifyingKey,
  verifyToken,
} from "./_verify.ts";
import { decodeBase64Flexible, encodeKey, type Jwk, parseKeyText } from "./jwk.ts";
import { loadKeyText } from "./_key_source.ts";
import { generateKey, signToken } from "./token_cli.ts";
import { AuthError, type AuthFailureReason } from "./types.ts";
import { b64json, signRaw } from "../testing/mod.ts";

const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;
const HS_KEY =
  '{"alg":"HS256","key_ops":["verify","sign"],"kty":"oct","k":"jvS2B_SKkvhtObaiKg9n2vq_Iqdus-nVCVVYBWf0BQA","kid":"d55b1f13e6bda281"}';

async function reason(promise: Promise<unknown>): Promise<AuthFailureReason> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof AuthError, `expected AuthError, got ${e}`);
    return e.reason;
  }
  assert.fail("expected the token to be rejected");
}

async function fixtures() {
  const hs: Jwk = parseKeyText(HS_KEY, "hs");
  const es: Jwk = await generateKey("ES256", "es");
  const hsVerify: VerifyingKey = await loadKeyText(HS_KEY, "hs");
  const esVerify: VerifyingKey = await loadKeyText(encodeKey(es), "es");
  return { hs, es, hsVerify, esVerify };
}

Deno.test("verifyToken accepts a good token and returns typed claims", async () => {
  const { hs, hsVerify } = await fixtures();
  const token = await signRaw(hs, { typ: "JWT" }, {
    root: "demo",
    put: "alice",
    get: ["bob"],
    exp: null,
    iat: 1,
  });
  const claims = await verifyToken(token, hsVerify, { nowMs: NOW_MS });
  assert.deepEqual(claims, {
    root: "demo",
    put: ["alice"],
    get: ["bob"],
    exp: undefined,
    iat: 1,
    nbf: undefined,
    legacy: false,
  });
});

Deno.test("every bad token form is refused with the right reason", async () => {
  const { hs, es, hsVerify, esVerify } = await fixtures();
  const good = await signRaw(hs, {}, { put: ["a"] });
  const [h, p] = good.split(".");
  const otherHs = await generateKey("HS256");
  const wrongKeySig = (await signRaw(otherHs, {}, { put: ["a"] })).split(".")[2];
  const esPublicX = decodeBase64Flexible(es.material.x)!;
  // Classic confusion: HMAC keyed with public key bytes, header claiming HS256.
  const confused = await new CompactSign(new TextEncoder().encode('{"put":["a"]}'))
    .setProtectedHeader({ alg: "HS256" })
    .sign(esPublicX);

  const cases: Array<[string, () => Promise<unknown>, AuthFailureReason]> = [
    ["not base64", () => verifyToken("a$b.c.d", hsVerify), "malformed"],
    ["header not JSON", () => verifyToken(`${b64json("nope")}.${p}.sig`, hsVerify), "malformed"],
    ["header is an array", () => verifyToken(`${b64json([1])}.${p}.sig`, hsVerify), "malformed"],
    ["header without alg", () => verifyToken(`${b64json({ typ: "JWT" })}.${p}.sig`, hsVerify), "malformed"],
    [
      "kid not a string",
      () => verifyToken(`${b64json({ alg: "HS256", kid: 7 })}.${p}.x`, hsVerify),
      "malformed",
    ],
    ["2 segments", () => verifyToken(`${h}.${p}`, hsVerify), "malformed"],
    ["4 segments", () => verifyToken(`${good}.extra`, hsVerify), "malformed"],
    ["empty", () => verifyToken("", hsVerify), "malformed"],
    ["padded signature", () => verifyToken(`${good}=`, hsVerify), "malformed"],
    ["alg none", () => verifyToken(`${b64json({ alg: "none" })}.${p}.`, hsVerify), "alg_mismatch"],
    ["alg NONE", () => verifyToken(`${b64json({ alg: "NONE" })}.${p}.`, hsVerify), "alg_mismatch"],
    ["HS256 token, ES256 key", () => verifyToken(good, esVerify), "alg_mismatch"],
    ["HS256 keyed with ES public key", () => verifyToken(confused, esVerify), "alg_mismatch"],
    ["wrong signature", () => verifyToken(`${h}.${p}.${wrongKeySig}`, hsVerify), "bad_signature"],
    [
      "wrong key",
      async () => verifyToken(await signRaw(otherHs, {}, { put: ["a"] }), hsVerify),
      "bad_signature",
    ],
    [
      "tampered payload",
      () => verifyToken(`${h}.${b64json({ put: [""] })}.${good.split(".")[2]}`, hsVerify),
      "bad_signature",
    ],
    ["payload not JSON", async () => verifyToken(await signRaw(hs, {}, "hello"), hsVerify), "malformed"],
    ["payload is a string", async () => verifyToken(await signRaw(hs, {}, '"x"'), hsVerify), "malformed"],
    ["put is a number", async () => verifyToken(await signRaw(hs, {}, { put: 3 }), hsVerify), "malformed"],
    [
      "get has a number",
      async () => verifyToken(await signRaw(hs, {}, { get: ["a", 1] }), hsVerify),
      "malformed",
    ],
    [
      "root is a number",
      async () => verifyToken(await signRaw(hs, {}, { root: 1, put: ["a"] }), hsVerify),
      "malformed",
    ],
    [
      "exp is a string",
      async () => verifyToken(await signRaw(hs, {}, { put: ["a"], exp: "soon" }), hsVerify),
      "malformed",
    ],
    ["useless", async () => verifyToken(await signRaw(hs, {}, { root: "demo" }), hsVerify), "useless"],
    [
      "empty lists",
      async () => verifyToken(await signRaw(hs, {}, { put: [], get: [] }), hsVerify),
      "useless",
    ],
    [
      "legacy pub/sub/path",
      async () => verifyToken(await signRaw(hs, {}, { path: "demo", pub: "", sub: "" }), hsVerify),
      "useless",
    ],
    [
      "expired",
      async () =>
        verifyToken(await signRaw(hs, {}, { put: ["a"], exp: NOW - CLOCK_LEEWAY_SECONDS - 1 }), hsVerify, {
          nowMs: NOW_MS,
        }),
      "expired",
    ],
    [
      "nbf in the future",
      async () =>
        verifyToken(await signRaw(hs, {}, { put: ["a"], nbf: NOW + CLOCK_LEEWAY_SECONDS + 5 }), hsVerify, {
          nowMs: NOW_MS,
        }),
      "not_yet_valid",
    ],
  ];
  for (const [name, attempt, want] of cases) {
    assert.equal(await reason(attempt()), want, name);
  }
});

Deno.test("legacy tokens get a message that says what to do", async () => {
  const { hs, hsVerify } = await fixtures();
  await assert.rejects(
    verifyToken(await signRaw(hs, {}, { path: "demo", pub: "" }), hsVerify),
    /legacy claims \(pub\/sub\/path\).*re-issue/,
  );
});

Deno.test("exp and nbf inside the leeway are accepted; exp null means no expiry", async () => {
  const { hs, hsVerify } = await fixtures();
  const opts = { nowMs: NOW_MS };
  for (
    const payload of [
      { put: ["a"], exp: NOW - 3 },
      { put: ["a"], exp: NOW - CLOCK_LEEWAY_SECONDS },
      { put: ["a"], exp: NOW },
      { put: ["a"], exp: null },
      { put: ["a"], nbf: NOW + 3 },
      { put: ["a"], nbf: null },
    ]
  ) {
    const claims = await verifyToken(await signRaw(hs, {}, payload), hsVerify, opts);
    assert.deepEqual(claims.put, ["a"], JSON.stringify(payload));
  }
  // With zero leeway, the upstream rule (exp < now rejects) applies.
  assert.equal(
    await reason(
      verifyToken(await signRaw(hs, {}, { put: ["a"], exp: NOW - 1 }), hsVerify, {
        ...opts,
        leewaySeconds: 0,
      }),
    ),
    "expired",
  );
});

Deno.test("a key's scope bounds the token's grants", async () => {
  const scoped = parseKeyText(
    JSON.stringify({ ...JSON.parse(HS_KEY), scope: { root: "rooms", put: ["123"], get: [""] } }),
    "scoped",
  );
  const verifying = await loadKeyText(encodeKey(scoped), "scoped");
  const unscoped = parseKeyText(HS_KEY, "hs");
  // Inside the scope.
  const ok = await signToken(scoped, { root: "rooms/123", put: ["alice"], get: [""] });
  assert.deepEqual((await verifyToken(ok, verifying)).put, ["alice"]);
  const ok2 = await signToken(scoped, { root: "rooms", get: ["456"] });
  assert.deepEqual((await verifyToken(ok2, verifying)).get, ["456"]);
  // Outside: signed with the same secret but without the scope (a forged wider grant).
  for (
    const claims of [
      { root: "rooms", put: ["456"] },
      { root: "", put: [""] },
      { root: "rooms", put: ["1234"] },
      { root: "other", get: [""] },
    ]
  ) {
    const forged = await signToken(unscoped, claims);
    assert.equal(await reason(verifyToken(forged, verifying)), "scope", JSON.stringify(claims));
  }
  // An empty scope list denies that role entirely.
  const subOnly = parseKeyText(JSON.stringify({ ...JSON.parse(HS_KEY), scope: { get: ["x"] } }), "s");
  assert.throws(
    () => checkClaims({ root: "", put: ["x"], get: [], legacy: false }, subOnly.scope),
    /scope/,
  );
});

Deno.test("decodeTokenHeader reads alg and kid without verifying", () => {
  const header = decodeTokenHeader(`${b64json({ typ: "JWT", alg: "ES256", kid: "abc" })}.e30.sig`);
  assert.deepEqual(header, { alg: "ES256", kid: "abc", typ: "JWT" });
});
