/**
 * What every verification-key source shares: the {@link KeySource} contract the
 * {@link KeyStore} facade (auth/key_store.ts) drives, the tuning options, loading key text, and the
 * small file helpers the local sources use.
 *
 * @module
 */

import { AuthError } from "./types.ts";
import { importVerifyKey, isValidKid, KeyError, parseKeyText } from "./jwk.ts";
import type { VerifyingKey } from "./_verify.ts";

/** Debounce between a file-system event and the reload it triggers. */
export const KEY_RELOAD_DEBOUNCE_MS = 50;
/** Most keys kept in a key_dir cache. */
export const MAX_CACHED_KIDS = 1024;
/** Most misses (no key, or an unusable one) kept in a key_dir cache, apart from the keys. */
export const MAX_CACHED_MISSES = 1024;

/** Tuning knobs (tests). */
export interface KeyStoreOptions {
  /** Called after every reload attempt of a local key file (`ok` false = the previous key was kept). */
  onReload?: (source: string, ok: boolean) => void;
  /** Force mtime polling instead of the file-system watcher. */
  poll?: boolean;
  /** Polling interval in ms (default `KEY_POLL_INTERVAL_MS`, auth/key_watch.ts). */
  pollIntervalMs?: number;
  /** Timeout of one key fetch in ms (default `KEY_FETCH_TIMEOUT_MS`, auth/key_remote.ts). */
  fetchTimeoutMs?: number;
  /** Current time in ms (default `Date.now`). */
  now?: () => number;
}

/** One configured origin of verification keys. */
export interface KeySource {
  /**
   * The key for a token whose header carries `kid` (ignored by single-key sources).
   * @throws {AuthError} `no_key`, `unknown_kid` or `key_unavailable`.
   */
  resolve(kid: string | undefined): Promise<VerifyingKey>;
  /** Stop watchers, timers and fetches; resolves when they are gone. */
  close(): Promise<void>;
}

/** Validate key text and import it for verification. */
export async function loadKeyText(text: string, source: string): Promise<VerifyingKey> {
  const jwk = parseKeyText(text, source);
  return { jwk, cryptoKey: await importVerifyKey(jwk, source), source };
}

/** A key_dir lookup needs a kid that can name a file: refuse anything else before touching it. */
export function requireKid(kid: string | undefined): string {
  if (kid === undefined) throw new AuthError("unknown_kid", "token has no kid; key_dir needs one");
  if (!isValidKid(kid)) throw new AuthError("unknown_kid", "token kid is not a valid key id");
  return kid;
}

/** Insert or refresh `key` as the newest entry, evicting the oldest when `map` holds `max`. */
export function rememberBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** A file-system error as a {@link KeyError} naming the path. */
export function readError(path: string, e: unknown): KeyError {
  if (e instanceof Deno.errors.NotFound) return new KeyError(path, "file not found");
  if (e instanceof Deno.errors.PermissionDenied) {
    return new KeyError(path, "permission denied reading the file");
  }
  if (e instanceof Deno.errors.IsADirectory) return new KeyError(path, "is a directory, not a key file");
  return new KeyError(path, `cannot read the file (${errorText(e)})`);
}

/** The message of a caught value. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The directory part of a `/`-separated path. */
export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

/** The last segment of a `/`-separated path. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A cheap change signature of a file (mtime and size), or null when it cannot be stat'ed. */
export async function statSignature(path: string): Promise<string | null> {
  try {
    const info = await Deno.stat(path);
    return `${info.mtime?.getTime() ?? 0}:${info.size}`;
  } catch {
    return null;
  }
}
