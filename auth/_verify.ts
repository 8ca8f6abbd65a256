/**
 * Compact JWT verification with upstream's claim rules (docs/relay.md §2.4) plus a clock
 * leeway for `exp`/`nbf` (§8 item 24). The signature is checked with `jose.compactVerify` restricted
 * to the key's algorithm; every claim is checked here (docs/protocol.md §16 item 13).
 *
 * @module
 */

import { compactVerify, errors } from "jose";
import { AuthError } from "./types.ts";
import { decodeBase64UrlStrict, isAlgorithm, type Jwk, type KeyScope, scopeAllows } from "./jwk.ts";

/** Clock-skew allowance applied to `exp` and `nbf`, in seconds. */
export const CLOCK_LEEWAY_SECONDS = 5;

/** A key ready to verify signatures. */
export interface VerifyingKey {
  /** The validated JWK (its `alg`, `kid`, `scope`). */
  jwk: Jwk;
  /** The imported public (or HMAC) key. */
  cryptoKey: CryptoKey;
  /** Where it came from, for logs. */
  source: string;
}

/** The protected header members the relay looks at. */
export interface TokenHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

/** Decoded, type-checked claims. `put`/`get` are always arrays. */
export interface TokenClaims {
  root: string;
  put: string[];
  get: string[];
  /** Expiry, unix seconds (absent or null in the token = never). */
  exp?: number;
  iat?: number;
  nbf?: number;
  /** The payload carries pre-2025 `pub`/`sub`/`path` claims (which grant nothing). */
  legacy: boolean;
}

/** Options for {@link verifyToken} and {@link checkClaims}. */
export interface VerifyOptions {
  /** The current time in milliseconds (default `Date.now()`). */
  nowMs?: number;
  /** Clock leeway in seconds (default {@link CLOCK_LEEWAY_SECONDS}). */
  leewaySeconds?: number;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function decodeJsonSegment(segment: string, what: string): unknown {
  const bytes = decodeBase64UrlStrict(segment);
  if (bytes === null) throw new AuthError("malformed", `token ${what} is not base64url`);
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new AuthError("malformed", `token ${what} is not UTF-8 JSON`);
  }
}

function splitToken(token: string): [string, string, string] {
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new AuthError("malformed", `token has ${parts.length} segments; a compact JWT has 3`);
  }
  return parts as [string, string, string];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Decode and check the protected header (without verifying anything).
 * @throws {AuthError} `malformed`, or `alg_mismatch` for `alg: none`.
 */
export function decodeTokenHeader(token: string): TokenHeader {
  const [header] = splitToken(token);
  const value = decodeJsonSegment(header, "header");
  if (!isRecord(value)) throw new AuthError("malformed", "token header is not a JSON object");
  if (typeof value.alg !== "string" || value.alg === "") {
    throw new AuthError("malformed", "token header has no alg");
  }
  if (value.alg.toLowerCase() === "none") {
    throw new AuthError("alg_mismatch", "unsigned token (alg none) refused");
  }
  if (value.kid !== undefined && typeof value.kid !== "string") {
    throw new AuthError("malformed", "token header kid is not a string");
  }
  return {
    alg: value.alg,
    kid: value.kid as string | undefined,
    typ: typeof value.typ === "string" ? value.typ : undefined,
  };
}

function grantList(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw new AuthError("malformed", `claim ${name} must be a string or an array of strings`);
}

function timeClaim(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new AuthError("malformed", `claim ${name} must be a number of unix seconds`);
  }
  return value;
}

/**
 * Type-check a decoded payload into {@link TokenClaims} (grants are checked by {@link checkClaims}).
 * @throws {AuthError} `malformed` for wrong types.
 */
export function parseClaims(payload: unknown): TokenClaims {
  if (!isRecord(payload)) throw new AuthError("malformed", "token payload is not a JSON object");
  const root = payload.root ?? "";
  if (typeof root !== "string") throw new AuthError("malformed", "claim root must be a string");
  const claims: TokenClaims = {
    root,
    put: grantList(payload.put, "put"),
    get: grantList(payload.get, "get"),
    exp: timeClaim(payload.exp, "exp"),
    iat: timeClaim(payload.iat, "iat"),
    nbf: timeClaim(payload.nbf, "nbf"),
    legacy: ["pub", "sub", "path"].some((name) => name in payload),
  };
  return claims;
}

/**
 * Check, in order: `exp` and `nbf` (with leeway), that `put` or `get` grants something, and the
 * key's scope.
 * @throws {AuthError} `expired`, `not_yet_valid`, `useless` or `scope`.
 */
export function checkClaims(
  claims: TokenClaims,
  scope: KeyScope | undefined,
  options: VerifyOptions = {},
): void {
  const nowSeconds = (options.nowMs ?? Date.now()) / 1000;
  const leeway = options.leewaySeconds ?? CLOCK_LEEWAY_SECONDS;
  if (claims.exp !== undefined && claims.exp + leeway < nowSeconds) {
    throw new AuthError("expired", `token expired at ${new Date(claims.exp * 1000).toISOString()}`);
  }
  if (claims.nbf !== undefined && claims.nbf - leeway > nowSeconds) {
    throw new AuthError(
      "not_yet_valid",
      `token not valid before ${new Date(claims.nbf * 1000).toISOString()}`,
    );
  }
  if (claims.put.length === 0 && claims.get.length === 0) {
    throw new AuthError(
      "useless",
      claims.legacy
        ? "token uses legacy claims (pub/sub/path) that grant nothing: re-issue it with put/get"
        : "token grants nothing (no put or get)",
    );
  }
  if (scope !== undefined && !scopeAllows(scope, claims.root, claims.put, claims.get)) {
    throw new AuthError("scope", "token grants paths outside the signing key's scope");
  }
}

/**
 * Verify a compact JWT against one key and return its claims.
 * @throws {AuthError} with the matching reason for every failure.
 */
export async function verifyToken(
  token: string,
  key: VerifyingKey,
  options: VerifyOptions = {},
): Promise<TokenClaims> {
  const header = decodeTokenHeader(token);
  if (header.alg !== key.jwk.alg) {
    throw new AuthError(
      "alg_mismatch",
      `token alg ${
        isAlgorithm(header.alg) ? header.alg : "(unsupported)"
      } does not match the key's alg ${key.jwk.alg}`,
    );
  }
  const [, payloadSegment, signatureSegment] = splitToken(token);
  if (decodeBase64UrlStrict(payloadSegment) === null || decodeBase64UrlStrict(signatureSegment) === null) {
    throw new AuthError("malformed", "token payload or signature is not base64url");
  }
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, key.cryptoKey, { algorithms: [key.jwk.alg] }));
  } catch (e) {
    if (e instanceof errors.JWSSignatureVerificationFailed) {
      throw new AuthError("bad_signature", "token signature does not verify with the configured key");
    }
    // The verifier's own messages may quote header members the client chose: never pass them on.
    if (e instanceof errors.JOSENotSupported) {
      throw new AuthError("malformed", "token uses an unsupported JWS feature (crit or b64 header)");
    }
    if (e instanceof errors.JWSInvalid) {
      throw new AuthError("malformed", "token is not a valid JWS: check its header and segments");
    }
    throw new AuthError("bad_signature", "token rejected by the signature verifier");
  }
  let payload: unknown;
  try {
    payload = JSON.parse(decoder.decode(payloadBytes));
  } catch {
    throw new AuthError("malformed", "token payload is not UTF-8 JSON");
  }
  const claims = parseClaims(payload);
  checkClaims(claims, key.jwk.scope, options);
  return claims;
}
