/**
 * Helpers shared by the auth tests (not part of the relay).
 *
 * @module
 */

import { CompactSign } from "jose";
import {
  encodeBase64Url,
  importSignKey,
  type Jwk,
  parseKeyText,
  runTokenCommand,
  type TokenIo,
} from "../auth/mod.ts";

/** A {@link TokenIo} that records output and serves fixed stdin. */
export function captureIo(stdin = ""): { io: TokenIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: (text) => void (out += text),
      stderr: (text) => void (err += text),
      stdin: () => Promise.resolve(stdin),
    },
    out: () => out,
    err: () => err,
  };
}

/** Sign an arbitrary header and payload (object or raw text) with a key, for crafting bad tokens. */
export async function signRaw(key: Jwk, header: Record<string, unknown>, payload: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  const cryptoKey = await importSignKey(key, "test");
  return await new CompactSign(bytes).setProtectedHeader({ alg: key.alg, ...header }).sign(cryptoKey);
}

/** base64url of a JSON value (for hand-built token segments). */
export function b64json(value: unknown): string {
  return encodeBase64Url(new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value)));
}

/** Run `fn` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "moq-auth-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A {@link TokenIo} that discards output and reads empty stdin. */
export const quietIo: TokenIo = { stdout: () => {}, stderr: () => {}, stdin: () => Promise.resolve("") };

/**
 * Generate a signing key at `keyPath` with `moq-relay token generate` (default algorithm, or
 * `algorithm`), as an operator would, and load it. Throws when the command fails.
 */
export async function generateTestKey(
  keyPath: string,
  algorithm?: string,
): Promise<{ keyPath: string; key: Jwk }> {
  const args = ["generate", ...(algorithm ? ["--algorithm", algorithm] : []), "--out", keyPath];
  const code = await runTokenCommand(args, quietIo);
  if (code !== 0) throw new Error(`token ${args.join(" ")} exited with ${code}`);
  return { keyPath, key: parseKeyText(await Deno.readTextFile(keyPath), keyPath) };
}
