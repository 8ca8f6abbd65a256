/**
 * JSON Web Keys in upstream moq-token's format (docs/relay.md §2.2, §2.3): parsing and
 * validation of key files, serialisation for the token tool, and import into WebCrypto.
 *
 * A key file holds either the JWK JSON object or base64url (no padding) of it; padded and standard
 * base64 are accepted too. Members: `kty` (default `oct`), `alg` (required), `key_ops` (default
 * `["sign","verify"]`), `kid`, `scope`, and the key material.
 *
 * @module
 */

import { importJWK } from "jose";
import { hasPrefix, joinPath, normalizePath } from "../relay/mod.ts";

/** Every signature algorithm a key may name, in upstream's order. */
export const ALGORITHMS = [
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "EdDSA",
] as const;

/** A JWS algorithm a key may use. */
export type Algorithm = typeof ALGORITHMS[number];

/** JWK key types. */
export type KeyType = "oct" | "RSA" | "EC" | "OKP";

/** JWK `key_ops` values. */
export type KeyOperation = "sign" | "verify" | "encrypt" | "decrypt";

/** The smallest accepted shared secret, in bytes. */
export const MIN_SECRET_BYTES = 32;

/** The longest accepted key id. */
export const MAX_KID_LENGTH = 128;

const KEY_OPERATIONS: readonly KeyOperation[] = ["sign", "verify", "encrypt", "decrypt"];
const RSA_PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;
const KID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * A key's authorisation ceiling (the JWK `scope` member): tokens it signs or verifies may only grant
 * paths at or below these. Lists are relative to `root`; an empty list denies that role.
 */
export interface KeyScope {
  root: string;
  put: string[];
  get: string[];
}

/** A validated key. Material members are canonical base64url without padding. */
export interface Jwk {
  alg: Algorithm;
  kty: KeyType;
  keyOps: KeyOperation[];
  kid?: string;
  scope?: KeyScope;
  /**
   * Key material by JWK member name: `k` (oct); `n`,`e` (+`d`,`p`,`q`,`dp`,`dq`,`qi`) (RSA);
   * `crv`,`x`,`y` (+`d`) (EC); `crv`,`x` (+`d`) (OKP).
   */
  material: Record<string, string>;
}

/** Raised for a key that cannot be read or used. The message names the source and the problem. */
export class KeyError extends Error {
  /** Where the key came from (a path, URL, or `stdin`). */
  readonly source: string;
  constructor(source: string, problem: string) {
    super(`invalid key ${source}: ${problem}`);
    this.name = "KeyError";
    this.source = source;
  }
}

/** Whether `kid` is a usable key id (`[A-Za-z0-9_-]{1,128}`, safe in file names and URLs). */
export function isValidKid(kid: string): boolean {
  return KID_PATTERN.test(kid);
}

/** Whether `alg` names a supported algorithm. */
export function isAlgorithm(alg: unknown): alg is Algorithm {
  return typeof alg === "string" && (ALGORITHMS as readonly string[]).includes(alg);
}

/**
 * Decode base64url, padded base64url, or standard base64 (with `+`/`/`). Returns `null` when the
 * text is not base64 at all.
 */
export function decodeBase64Flexible(text: string): Uint8Array<ArrayBuffer> | null {
  const s = text.trim().replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
  return decodeBase64UrlStrict(s);
}

/** Encode bytes as base64url without padding. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Decode strict base64url without padding (JWS segments). Returns `null` when invalid. */
export function decodeBase64UrlStrict(text: string): Uint8Array<ArrayBuffer> | null {
  // The built-in decoder skips ASCII whitespace and accepts padding; a JWS segment may hold neither.
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    return Uint8Array.fromBase64(text, { alphabet: "base64url" });
  } catch {
    return null;
  }
}

/**
 * Decode the text of a key file (a JSON object, or base64/base64url of it) into a JSON value,
 * without validating it as a key.
 * @param source named in error messages (path, URL, `stdin`).
 * @throws {KeyError}
 */
export function decodeKeyText(text: string, source: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") throw new KeyError(source, "the key file is empty");
  let json: string;
  if (trimmed.startsWith("{")) {
    json = trimmed;
  } else {
    const bytes = decodeBase64Flexible(trimmed.replace(/\s+/g, ""));
    if (bytes === null) {
      throw new KeyError(source, "neither a JSON object nor base64url-encoded JSON");
    }
    try {
      json = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new KeyError(source, "base64 content does not decode to UTF-8 JSON text");
    }
  }
  try {
    return JSON.parse(json);
  } catch (e) {
    // The parser's message quotes the text around the error, i.e. key material: keep only where.
    const at = e instanceof Error ? /at position \d+/.exec(e.message)?.[0] : undefined;
    throw new KeyError(source, `not valid JSON${at ? ` (${at})` : ""}`);
  }
}

/**
 * Parse and validate the text of a key file (JSON object, or base64/base64url of it).
 * @param source named in error messages (path, URL, `stdin`).
 * @throws {KeyError}
 */
export function parseKeyText(text: string, source: string): Jwk {
  return parseKeyObject(decodeKeyText(text, source), source);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, source: string, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw new KeyError(source, `${what} must be a string or an array of strings`);
}

function parseScope(value: unknown, source: string): KeyScope {
  if (!isRecord(value)) throw new KeyError(source, "scope must be an object {root, put, get}");
  const root = value.root ?? "";
  if (typeof root !== "string") throw new KeyError(source, "scope.root must be a string");
  const scope = {
    root,
    put: stringList(value.put, source, "scope.put"),
    get: stringList(value.get, source, "scope.get"),
  };
  if (scope.put.length === 0 && scope.get.length === 0) {
    throw new KeyError(source, "scope grants nothing: give scope.put and/or scope.get");
  }
  return scope;
}

/** Read a base64 material member, returning its canonical form and decoded length. */
function material(
  obj: Record<string, unknown>,
  name: string,
  source: string,
  required: boolean,
): { text: string; length: number } | undefined {
  const value = obj[name];
  if (value === undefined || value === null) {
    if (required) throw new KeyError(source, `missing key member "${name}"`);
    return undefined;
  }
  if (typeof value !== "string") {
    throw new KeyError(source, `key member "${name}" must be a base64url string`);
  }
  const bytes = decodeBase64Flexible(value);
  if (bytes === null || bytes.length === 0) {
    throw new KeyError(source, `key member "${name}" is not valid base64url`);
  }
  return { text: encodeBase64Url(bytes), length: bytes.length };
}

function expectKty(alg: Algorithm): KeyType {
  if (alg.startsWith("HS")) return "oct";
  if (alg.startsWith("RS") || alg.startsWith("PS")) return "RSA";
  if (alg.startsWith("ES")) return "EC";
  return "OKP";
}

/**
 * Validate a parsed JWK object.
 * @throws {KeyError}
 */
export function parseKeyObject(value: unknown, source: string): Jwk {
  if (!isRecord(value)) throw new KeyError(source, "a key must be a JSON object");
  if (Array.isArray(value.keys)) {
    throw new KeyError(source, 'JWK Sets ({"keys": [...]}) are not accepted: use one key per file');
  }
  const kty = value.kty ?? "oct";
  if (kty !== "oct" && kty !== "RSA" && kty !== "EC" && kty !== "OKP") {
    throw new KeyError(source, `unsupported kty ${JSON.stringify(kty)}: expected oct, RSA, EC or OKP`);
  }
  const alg = value.alg;
  if (alg === undefined) throw new KeyError(source, `missing "alg": name one of ${ALGORITHMS.join(", ")}`);
  if (!isAlgorithm(alg)) {
    throw new KeyError(
      source,
      `unsupported alg ${JSON.stringify(alg)}: expected one of ${ALGORITHMS.join(", ")}`,
    );
  }
  if (expectKty(alg) !== kty) {
    throw new KeyError(source, `alg ${alg} needs kty ${expectKty(alg)}, but the key has kty ${kty}`);
  }

  let keyOps: KeyOperation[] = ["sign", "verify"];
  if (value.key_ops !== undefined) {
    if (!Array.isArray(value.key_ops)) throw new KeyError(source, "key_ops must be an array");
    const ops = new Set<KeyOperation>();
    for (const op of value.key_ops) {
      if (!KEY_OPERATIONS.includes(op as KeyOperation)) {
        throw new KeyError(source, `unknown key_ops entry ${JSON.stringify(op)}: expected sign or verify`);
      }
      ops.add(op as KeyOperation);
    }
    if (ops.size === 0) throw new KeyError(source, "key_ops is empty: the key can neither sign nor verify");
    keyOps = [...ops];
  }

  let kid: string | undefined;
  if (value.kid !== undefined && value.kid !== null) {
    if (typeof value.kid !== "string" || !isValidKid(value.kid)) {
      throw new KeyError(source, `kid ${JSON.stringify(value.kid)} must match [A-Za-z0-9_-]{1,128}`);
    }
    kid = value.kid;
  }
  const scope = value.scope === undefined || value.scope === null
    ? undefined
    : parseScope(value.scope, source);

  const mat: Record<string, string> = {};
  switch (kty) {
    case "oct": {
      const k = material(value, "k", source, true)!;
      if (k.length < MIN_SECRET_BYTES) {
        throw new KeyError(
          source,
          `the secret "k" is ${k.length} bytes; at least ${MIN_SECRET_BYTES} are required (generate a new key)`,
        );
      }
      mat.k = k.text;
      break;
    }
    case "RSA": {
      mat.n = material(value, "n", source, true)!.text;
      mat.e = material(value, "e", source, true)!.text;
      const present = RSA_PRIVATE_MEMBERS.filter((m) => value[m] !== undefined && value[m] !== null);
      if (present.length > 0 && present.length < RSA_PRIVATE_MEMBERS.length) {
        const missing = RSA_PRIVATE_MEMBERS.filter((m) => !present.includes(m));
        throw new KeyError(source, `RSA private key is incomplete: missing ${missing.join(", ")}`);
      }
      for (const m of present) mat[m] = material(value, m, source, true)!.text;
      break;
    }
    case "EC": {
      const want = alg === "ES256" ? { crv: "P-256", size: 32 } : { crv: "P-384", size: 48 };
      if (value.crv !== want.crv) {
        throw new KeyError(
          source,
          `alg ${alg} needs crv ${want.crv}, but the key has crv ${JSON.stringify(value.crv)}`,
        );
      }
      mat.crv = want.crv;
      for (const m of ["x", "y", "d"]) {
        const part = material(value, m, source, m !== "d");
        if (part === undefined) continue;
        if (part.length !== want.size) {
          throw new KeyError(
            source,
            `${want.crv} member "${m}" must be ${want.size} bytes, got ${part.length}`,
          );
        }
        mat[m] = part.text;
      }
      break;
    }
    case "OKP": {
      if (value.crv !== "Ed25519") {
        throw new KeyError(
          source,
          `alg EdDSA needs crv Ed25519, but the key has crv ${JSON.stringify(value.crv)}`,
        );
      }
      mat.crv = "Ed25519";
      for (const m of ["x", "d"]) {
        const part = material(value, m, source, m === "x");
        if (part === undefined) continue;
        if (part.length !== 32) {
          throw new KeyError(source, `Ed25519 member "${m}" must be 32 bytes, got ${part.length}`);
        }
        mat[m] = part.text;
      }
      break;
    }
  }
  return { alg, kty, keyOps, kid, scope, material: mat };
}

/** Whether the key holds private (signing) material: the secret for `oct`, `d` otherwise. */
export function hasPrivateMaterial(key: Jwk): boolean {
  return key.kty === "oct" || key.material.d !== undefined;
}

/**
 * The verify-only half of an asymmetric key: private members removed, `key_ops = ["verify"]`,
 * same `kid` and `scope`.
 * @throws {KeyError} for `oct` keys, which have no public half.
 */
export function publicKey(key: Jwk, source = "key"): Jwk {
  if (key.kty === "oct") {
    throw new KeyError(source, `${key.alg} keys are symmetric: there is no public half to publish`);
  }
  const mat: Record<string, string> = {};
  for (const name of ["crv", "n", "e", "x", "y"]) {
    if (key.material[name] !== undefined) mat[name] = key.material[name];
  }
  return { ...key, keyOps: ["verify"], material: mat };
}

/** The key as a JSON object with upstream's member order: alg, key_ops, kty, material, kid, scope. */
export function keyToJson(key: Jwk): Record<string, unknown> {
  const out: Record<string, unknown> = { alg: key.alg, key_ops: [...key.keyOps], kty: key.kty };
  const order = ["crv", "k", "n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi"];
  for (const name of order) if (key.material[name] !== undefined) out[name] = key.material[name];
  if (key.kid !== undefined) out.kid = key.kid;
  if (key.scope !== undefined) {
    const scope: Record<string, unknown> = {};
    if (key.scope.root !== "") scope.root = key.scope.root;
    if (key.scope.put.length > 0) scope.put = key.scope.put;
    if (key.scope.get.length > 0) scope.get = key.scope.get;
    out.scope = scope;
  }
  return out;
}

/** Encode a key for a file: base64url of the compact JSON (upstream's default), or pretty JSON. */
export function encodeKey(key: Jwk, format: "base64url" | "json" = "base64url"): string {
  const json = keyToJson(key);
  if (format === "json") return JSON.stringify(json, null, 2);
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(json)));
}

const HMAC_HASH: Record<string, string> = { HS256: "SHA-256", HS384: "SHA-384", HS512: "SHA-512" };

/**
 * Import the key for verification (public material only).
 * @throws {KeyError} when the key cannot verify or the material is rejected by WebCrypto.
 */
export async function importVerifyKey(key: Jwk, source: string): Promise<CryptoKey> {
  if (!key.keyOps.includes("verify")) {
    throw new KeyError(source, `key_ops ${JSON.stringify(key.keyOps)} does not include "verify"`);
  }
  if (key.kty === "oct") return await importHmac(key, "verify", source);
  return await importAsymmetric(publicKey(key, source), source);
}

/**
 * Import the key for signing (needs private material).
 * @throws {KeyError} when the key cannot sign or the material is rejected by WebCrypto.
 */
export async function importSignKey(key: Jwk, source: string): Promise<CryptoKey> {
  if (!hasPrivateMaterial(key)) {
    throw new KeyError(
      source,
      'this is a public key (no private member "d"): sign with the private key file',
    );
  }
  if (!key.keyOps.includes("sign")) {
    throw new KeyError(source, `key_ops ${JSON.stringify(key.keyOps)} does not include "sign"`);
  }
  if (key.kty === "oct") return await importHmac(key, "sign", source);
  return await importAsymmetric(key, source);
}

async function importHmac(key: Jwk, usage: "sign" | "verify", source: string): Promise<CryptoKey> {
  const bytes = decodeBase64Flexible(key.material.k)!;
  try {
    return await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: HMAC_HASH[key.alg] }, false, [
      usage,
    ]);
  } catch (e) {
    throw new KeyError(source, `the secret was rejected (${e instanceof Error ? e.message : String(e)})`);
  }
}

function verifyParams(alg: Algorithm): AlgorithmIdentifier | EcdsaParams | RsaPssParams {
  const bits = alg.slice(2);
  if (alg.startsWith("ES")) return { name: "ECDSA", hash: `SHA-${bits}` };
  if (alg.startsWith("PS")) return { name: "RSA-PSS", saltLength: Number(bits) / 8 };
  if (alg.startsWith("RS")) return { name: "RSASSA-PKCS1-v1_5" };
  return { name: "Ed25519" };
}

async function importAsymmetric(key: Jwk, source: string): Promise<CryptoKey> {
  try {
    const imported = await importJWK({ kty: key.kty, ...key.material }, key.alg);
    if (imported instanceof Uint8Array) throw new Error("unexpected symmetric key");
    // WebCrypto defers some checks (an EC point off the curve) to first use: probe it now.
    if (imported.type === "public") {
      await crypto.subtle.verify(verifyParams(key.alg), imported, new Uint8Array(512), new Uint8Array(1));
    }
    return imported;
  } catch (e) {
    throw new KeyError(
      source,
      `the ${key.kty} key material was rejected (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/**
 * Whether every absolute grant of a token (root + each put/get entry) falls at or below some absolute
 * path of the key's scope (§2.4). An empty scope list denies that role.
 */
export function scopeAllows(
  scope: KeyScope,
  root: string,
  put: readonly string[],
  get: readonly string[],
): boolean {
  const scopeRoot = normalizePath(scope.root);
  const tokenRoot = normalizePath(root);
  const within = (grants: readonly string[], allowed: readonly string[]): boolean => {
    const bases = allowed.map((p) => joinPath(scopeRoot, normalizePath(p)));
    return grants.every((g) => {
      const full = joinPath(tokenRoot, normalizePath(g));
      return bases.some((base) => hasPrefix(full, base));
    });
  };
  return within(put, scope.put) && within(get, scope.get);
}
