import assert from "node:assert/strict";
import {
  decodeBase64Flexible,
  encodeBase64Url,
  encodeKey,
  importSignKey,
  importVerifyKey,
  KeyError,
  parseKeyText,
  publicKey,
} from "./jwk.ts";
import { generateKey } from "./token_cli.ts";

const SECRET = "jvS2B_SKkvhtObaiKg9n2vq_Iqdus-nVCVVYBWf0BQA";
const HS = { alg: "HS256", key_ops: ["verify", "sign"], kty: "oct", k: SECRET, kid: "d55b1f13e6bda281" };

function b64(text: string, variant: "url" | "url-padded" | "std"): string {
  const bytes = new TextEncoder().encode(text);
  if (variant === "std") return bytes.toBase64();
  return bytes.toBase64({ alphabet: "base64url", omitPadding: variant === "url" });
}

Deno.test("key files: JSON and base64url/padded/standard base64 of it are all accepted", () => {
  // Chosen so the encodings differ: '>' and '?' produce '+' and '/' in standard base64.
  const json = JSON.stringify({ ...HS, note: ">>>???" });
  for (
    const text of [json, `  ${json}\n`, b64(json, "url"), b64(json, "url-padded"), b64(json, "std") + "\n"]
  ) {
    const key = parseKeyText(text, "k.jwk");
    assert.equal(key.alg, "HS256");
    assert.equal(key.kid, "d55b1f13e6bda281");
    assert.equal(key.material.k, SECRET);
  }
  assert.ok(b64(json, "std").includes("+") || b64(json, "std").includes("/"));
});

Deno.test("key members: kty defaults to oct, key_ops to sign+verify; material canonicalised", () => {
  const padded = decodeBase64Flexible(SECRET)!.toBase64(); // standard, padded
  const key = parseKeyText(JSON.stringify({ alg: "HS384", k: padded }), "legacy.jwk");
  assert.equal(key.kty, "oct");
  assert.deepEqual(key.keyOps, ["sign", "verify"]);
  assert.equal(key.material.k, SECRET);
  assert.equal(key.kid, undefined);
});

Deno.test("bad key files are refused with the file name and the problem", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /empty/],
    ["%%%", /neither a JSON object nor base64url/],
    ["{not json", /not valid JSON/],
    [b64("[1,2]", "url"), /must be a JSON object/],
    [JSON.stringify({ keys: [HS] }), /JWK Sets/],
    [JSON.stringify({ ...HS, alg: undefined }), /missing "alg"/],
    [JSON.stringify({ ...HS, alg: "HS1" }), /unsupported alg "HS1"/],
    [JSON.stringify({ ...HS, alg: "none" }), /unsupported alg "none"/],
    [JSON.stringify({ ...HS, kty: "XYZ" }), /unsupported kty "XYZ"/],
    [JSON.stringify({ ...HS, alg: "ES256" }), /alg ES256 needs kty EC, but the key has kty oct/],
    [JSON.stringify({ ...HS, k: encodeBase64Url(new Uint8Array(31)) }), /31 bytes; at least 32/],
    [JSON.stringify({ ...HS, k: undefined }), /missing key member "k"/],
    [JSON.stringify({ ...HS, k: "!!" }), /"k" is not valid base64url/],
    [JSON.stringify({ ...HS, key_ops: ["fly"] }), /unknown key_ops entry "fly"/],
    [JSON.stringify({ ...HS, key_ops: [] }), /key_ops is empty/],
    [JSON.stringify({ ...HS, key_ops: "sign" }), /key_ops must be an array/],
    [JSON.stringify({ ...HS, kid: "../etc/passwd" }), /kid "..\/etc\/passwd" must match/],
    [JSON.stringify({ ...HS, kid: "x".repeat(129) }), /must match/],
    [JSON.stringify({ ...HS, scope: {} }), /scope grants nothing/],
    [JSON.stringify({ ...HS, scope: { put: 1 } }), /scope.put must be/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseKeyText(text, "/etc/moq/root.jwk"), (e: unknown) => {
      assert.ok(e instanceof KeyError, String(e));
      assert.match(e.message, /\/etc\/moq\/root\.jwk/);
      assert.match(e.message, pattern, `${text} → ${e.message}`);
      return true;
    });
  }
});

Deno.test("curve and coordinate sizes must match the algorithm", async () => {
  const es256 = JSON.parse(encodeKey(await generateKey("ES256", "a"), "json"));
  const es384 = JSON.parse(encodeKey(await generateKey("ES384", "b"), "json"));
  const ed = JSON.parse(encodeKey(await generateKey("EdDSA", "c"), "json"));
  const rsa = JSON.parse(encodeKey(await generateKey("RS256", "d"), "json"));
  const cases: Array<[unknown, RegExp]> = [
    [{ ...es256, crv: "P-384" }, /alg ES256 needs crv P-256/],
    [{ ...es256, alg: "ES384" }, /alg ES384 needs crv P-384/],
    [{ ...es384, x: es256.x }, /P-384 member "x" must be 48 bytes, got 32/],
    [{ ...es256, y: undefined }, /missing key member "y"/],
    [{ ...ed, crv: "X25519" }, /needs crv Ed25519/],
    [{ ...ed, x: es384.x }, /Ed25519 member "x" must be 32 bytes/],
    [{ ...ed, alg: "ES256" }, /alg ES256 needs kty EC, but the key has kty OKP/],
    [{ ...rsa, dq: undefined, qi: undefined }, /RSA private key is incomplete: missing dq, qi/],
    [{ ...rsa, alg: "HS256" }, /alg HS256 needs kty oct/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => parseKeyText(JSON.stringify(value), "key.jwk"), pattern);
  }
  // A PS key may be stored as RS and vice versa only via its alg: both are kty RSA.
  assert.equal(parseKeyText(JSON.stringify({ ...rsa, alg: "PS512" }), "k").alg, "PS512");
});

Deno.test("public halves and key_ops are enforced at import", async () => {
  const es = await generateKey("ES256", "es");
  const pub = publicKey(es);
  assert.deepEqual(pub.keyOps, ["verify"]);
  assert.equal(pub.material.d, undefined);
  await importVerifyKey(pub, "pub");
  await assert.rejects(importSignKey(pub, "pub.jwk"), /pub\.jwk.*sign with the private key/);
  const hs = parseKeyText(JSON.stringify(HS), "hs");
  assert.throws(() => publicKey(hs, "hs.jwk"), /symmetric/);
  await assert.rejects(
    importVerifyKey({ ...hs, keyOps: ["sign"] }, "signonly.jwk"),
    /does not include "verify"/,
  );
  // Material WebCrypto rejects (a point not on the curve) is a KeyError, not a crash.
  const bad = { ...pub, material: { ...pub.material, x: encodeBase64Url(new Uint8Array(32).fill(7)) } };
  await assert.rejects(importVerifyKey(bad, "bad.jwk"), KeyError);
});

Deno.test("encodeKey writes base64url of compact JSON in upstream member order", () => {
  const key = parseKeyText(JSON.stringify(HS), "hs");
  const encoded = encodeKey(key);
  assert.match(encoded, /^[A-Za-z0-9_-]+$/);
  const json = new TextDecoder().decode(decodeBase64Flexible(encoded)!);
  assert.equal(json, JSON.stringify(HS));
});

Deno.test("a key file that is almost JSON: the error names where, never the key material", () => {
  const broken = [
    `{"alg":"HS256","k":"${SECRET}" "kid":"x"}`,
    `{"alg":"HS256","k":${SECRET}}`, // unquoted: the parser quotes the whole text in its message
    `${SECRET}`,
    b64(`{"alg":"HS256","k":"${SECRET}"`, "url"),
  ];
  for (const text of broken) {
    assert.throws(() => parseKeyText(text, "/etc/moq/root.jwk"), (e: unknown) => {
      assert.ok(e instanceof KeyError, String(e));
      assert.match(e.message, /root\.jwk/);
      assert.ok(!e.message.includes(SECRET) && !e.message.includes(SECRET.slice(0, 8)), e.message);
      return true;
    });
  }
});
