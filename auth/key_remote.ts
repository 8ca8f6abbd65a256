/**
 * `[auth] key` or `key_dir` naming an HTTP(S) URL (docs/relay.md §2.2): keys are fetched with a
 * 10 s timeout, cached by `Cache-Control: max-age` (default {@link KEY_CACHE_TTL_MS}), revalidated
 * with ETags, and a stale key is used while the key server is unreachable.
 *
 * Anyone can send a token with a made-up `kid`, and each unknown kid would cost a fetch. So a
 * kid the server does not have (404, or not a usable JWK) is remembered in a separate bounded miss
 * cache for at least {@link KEY_MISS_MIN_TTL_MS} whatever the response's `Cache-Control` says, and
 * cannot evict good keys; and fetches for kids with no cached key draw on one token bucket
 * ({@link KEY_MISS_FETCH_BURST}, one more every {@link KEY_MISS_FETCH_REFILL_MS}), so a flood of
 * random kids reaches the key server a bounded number of times. Refreshing a known key is not
 * throttled.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { AuthError } from "./types.ts";
import { decodeKeyText, importVerifyKey, parseKeyObject } from "./jwk.ts";
import {
  errorText,
  type KeySource,
  type KeyStoreOptions,
  MAX_CACHED_KIDS,
  MAX_CACHED_MISSES,
  rememberBounded,
  requireKid,
} from "./_key_source.ts";
import type { VerifyingKey } from "./_verify.ts";

/** Timeout for one key fetch. */
export const KEY_FETCH_TIMEOUT_MS = 10_000;
/** How long a fetched key is cached when the response has no `max-age`. */
export const KEY_CACHE_TTL_MS = 60_000;
/** The longest a fetched key (or miss) is cached, whatever `max-age` says. */
export const KEY_CACHE_MAX_TTL_MS = 3_600_000;
/** The shortest time a miss (404 or unusable key) is cached, even under `no-cache`. */
export const KEY_MISS_MIN_TTL_MS = 30_000;
/** Fetches of kids with no cached key allowed back to back. */
export const KEY_MISS_FETCH_BURST = 10;
/** One more fetch of an uncached kid is allowed per this interval. */
export const KEY_MISS_FETCH_REFILL_MS = 1_000;

/**
 * A key URL as logs and errors may show it: user info and query (which may carry credentials of
 * the key server) are elided.
 */
export function loggableUrl(url: URL): string {
  const hidden = url.username !== "" || url.password !== "" || url.search !== "";
  return `${url.protocol}//${url.host}${url.pathname}${hidden ? " (credentials and query hidden)" : ""}`;
}

/** Parse `Cache-Control` into a TTL in ms. */
export function cacheTtlMs(cacheControl: string | null): number {
  if (cacheControl === null) return KEY_CACHE_TTL_MS;
  const directives = cacheControl.toLowerCase().split(",").map((d) => d.trim());
  if (directives.includes("no-store") || directives.includes("no-cache")) return 0;
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d+)"?$/.exec(directive);
    if (match) return Math.min(Number(match[1]) * 1000, KEY_CACHE_MAX_TTL_MS);
  }
  return KEY_CACHE_TTL_MS;
}

interface KeyEntry {
  key: VerifyingKey;
  etag?: string;
  expiresAtMs: number;
}

interface MissEntry {
  /** `missing` = 404; `invalid` = the response was not a usable JWK. */
  kind: "missing" | "invalid";
  expiresAtMs: number;
}

type Fetched = { kind: "key"; entry: KeyEntry } | MissEntry;

/** A token bucket: `capacity` takes back to back, refilled by one every `refillMs`. */
export class TokenBucket {
  readonly #capacity: number;
  readonly #refillMs: number;
  #tokens: number;
  #updatedMs: number;

  constructor(capacity: number, refillMs: number, nowMs: number) {
    this.#capacity = capacity;
    this.#refillMs = refillMs;
    this.#tokens = capacity;
    this.#updatedMs = nowMs;
  }

  /** Take one token if there is one. */
  take(nowMs: number): boolean {
    const elapsed = Math.max(0, nowMs - this.#updatedMs);
    this.#tokens = Math.min(this.#capacity, this.#tokens + elapsed / this.#refillMs);
    this.#updatedMs = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Keys fetched from one URL (`key`) or one per kid below a base URL (`key_dir`). */
export class RemoteKeySource implements KeySource {
  readonly #base: URL;
  readonly #perKid: boolean;
  readonly #logger: Logger;
  readonly #options: KeyStoreOptions;
  readonly #keys = new Map<string, KeyEntry>();
  readonly #misses = new Map<string, MissEntry>();
  readonly #pending = new Map<string, Promise<Fetched>>();
  readonly #bucket: TokenBucket;
  readonly #abort = new AbortController();

  /** `perKid`: `base` is a key_dir URL (`{base}/{kid}.jwk`); else the one key's URL. */
  constructor(base: URL, perKid: boolean, logger: Logger, options: KeyStoreOptions) {
    this.#base = new URL(base);
    if (perKid && !this.#base.pathname.endsWith("/")) this.#base.pathname += "/";
    this.#perKid = perKid;
    this.#logger = logger;
    this.#options = options;
    this.#bucket = new TokenBucket(KEY_MISS_FETCH_BURST, KEY_MISS_FETCH_REFILL_MS, this.#now());
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** The key for `kid` (key_dir) or the one key, from the cache or the key server. */
  async resolve(kid: string | undefined): Promise<VerifyingKey> {
    const url = this.#perKid ? new URL(`${requireKid(kid)}.jwk`, this.#base) : this.#base;
    const cacheKey = url.href;
    const now = this.#now();
    const cached = this.#keys.get(cacheKey);
    if (cached !== undefined && cached.expiresAtMs > now) return cached.key;
    if (cached === undefined) {
      const miss = this.#misses.get(cacheKey);
      if (miss !== undefined && miss.expiresAtMs > now) throw this.#missError(miss);
    }
    let pending = this.#pending.get(cacheKey);
    if (pending === undefined) {
      // Only lookups of kids without a key are throttled: refreshing a known key never waits.
      if (cached === undefined && !this.#bucket.take(now)) {
        throw new AuthError(
          "key_unavailable",
          "too many lookups of unknown key ids at the key server; retry later",
          502,
          566,
        );
      }
      pending = this.#fetch(url, cached).finally(() => this.#pending.delete(cacheKey));
      this.#pending.set(cacheKey, pending);
    }
    const fetched = await pending;
    if (fetched.kind === "key") return fetched.entry.key;
    throw this.#missError(fetched);
  }

  #missError(miss: MissEntry): AuthError {
    if (miss.kind === "invalid") return new AuthError("no_key", "the remote key is not a usable JWK");
    return this.#perKid
      ? new AuthError("unknown_kid", "the key server has no key for the token's kid")
      : new AuthError("no_key", "the key URL answered 404");
  }

  async #fetch(url: URL, previous: KeyEntry | undefined): Promise<Fetched> {
    const source = loggableUrl(url);
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new Error("timed out")),
      this.#options.fetchTimeoutMs ?? KEY_FETCH_TIMEOUT_MS,
    );
    try {
      const headers: Record<string, string> = { accept: "application/json, text/plain" };
      if (previous?.etag) headers["if-none-match"] = previous.etag;
      let response: Response;
      let text: string | undefined;
      try {
        response = await fetch(url, {
          headers,
          signal: AbortSignal.any([this.#abort.signal, timeout.signal]),
        });
        if (response.ok) text = await response.text();
        else await response.body?.cancel();
      } catch (e) {
        // The runtime's message may quote the URL, credentials and query included.
        const problem = errorText(e).replaceAll(url.href, source);
        return this.#unavailable(source, previous, `fetch failed (${problem})`);
      }
      const cacheKey = url.href;
      const ttlMs = cacheTtlMs(response.headers.get("cache-control"));
      if (response.status === 304 && previous !== undefined) {
        return this.#storeKey(cacheKey, { ...previous, expiresAtMs: this.#now() + ttlMs });
      }
      if (response.status === 404) return this.#storeMiss(cacheKey, "missing", ttlMs);
      if (!response.ok || text === undefined) {
        return this.#unavailable(source, previous, `HTTP status ${response.status}`);
      }
      let value: unknown;
      try {
        value = decodeKeyText(text, source);
      } catch (e) {
        return this.#unavailable(source, previous, errorText(e));
      }
      let key: VerifyingKey;
      try {
        const jwk = parseKeyObject(value, source);
        key = { jwk, cryptoKey: await importVerifyKey(jwk, source), source };
      } catch (e) {
        this.#logger.warn("remote auth key is invalid", { url: source, err: errorText(e) });
        return this.#storeMiss(cacheKey, "invalid", ttlMs);
      }
      return this.#storeKey(cacheKey, {
        key,
        etag: response.headers.get("etag") ?? undefined,
        expiresAtMs: this.#now() + ttlMs,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  #storeKey(cacheKey: string, entry: KeyEntry): Fetched {
    this.#misses.delete(cacheKey);
    rememberBounded(this.#keys, cacheKey, entry, MAX_CACHED_KIDS);
    return { kind: "key", entry };
  }

  #storeMiss(cacheKey: string, kind: MissEntry["kind"], ttlMs: number): Fetched {
    const ttl = Math.min(Math.max(ttlMs, KEY_MISS_MIN_TTL_MS), KEY_CACHE_MAX_TTL_MS);
    const miss: MissEntry = { kind, expiresAtMs: this.#now() + ttl };
    this.#keys.delete(cacheKey);
    rememberBounded(this.#misses, cacheKey, miss, MAX_CACHED_MISSES);
    return miss;
  }

  #unavailable(source: string, previous: KeyEntry | undefined, problem: string): Fetched {
    if (previous !== undefined) {
      this.#logger.warn("auth key server unavailable; using the cached key", { url: source, err: problem });
      return { kind: "key", entry: previous };
    }
    this.#logger.warn("auth key server unavailable", { url: source, err: problem });
    throw new AuthError("key_unavailable", `key server unavailable: ${problem}`, 502, 566);
  }

  /** Abort running fetches; resolves when they have settled. */
  close(): Promise<void> {
    this.#abort.abort(new Error("key store closed"));
    return Promise.allSettled([...this.#pending.values()]).then(() => {});
  }
}
