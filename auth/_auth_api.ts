/**
 * The unified auth API (`[auth] auth_api`, docs/relay.md §2.8): per connection the relay asks
 * `GET <api>?root=<path>[&kid=<kid>]&transport=<transport>` and gets `{alias, public, key, tier}`,
 * every field optional. It fails closed: a network error, timeout, non-2xx status or a body that is
 * not the expected JSON refuses the connection (HTTP 502, close code 566).
 *
 * Answers are cached per request URL for the response's `Cache-Control: max-age` (capped at
 * {@link AUTH_API_CACHE_MAX_TTL_MS}; no header, `no-cache` or `no-store` = not cached), concurrent
 * identical lookups share one request, and lookups that would reach the API are rate limited per
 * peer address ({@link AUTH_API_PEER_BURST}, one more every {@link AUTH_API_PEER_REFILL_MS}) and
 * in total ({@link AUTH_API_MAX_IN_FLIGHT} at once), so a flood of connections cannot flood the
 * auth service. The API URL's query and user info never reach a log line or an error message.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { AuthError } from "./types.ts";
import { importVerifyKey, parseKeyObject } from "./jwk.ts";
import { errorText, rememberBounded } from "./_key_source.ts";
import { KEY_CACHE_MAX_TTL_MS, loggableUrl, TokenBucket } from "./key_remote.ts";
import type { VerifyingKey } from "./_verify.ts";

/** Timeout of one auth API request (docs/relay.md §2.2: outbound auth HTTP uses 10 s). */
export const AUTH_API_TIMEOUT_MS = 10_000;
/** The longest an answer is cached, whatever `max-age` says. */
export const AUTH_API_CACHE_MAX_TTL_MS = KEY_CACHE_MAX_TTL_MS;
/** Most cached answers (oldest evicted first). */
export const AUTH_API_MAX_CACHED = 4096;
/** Lookups one peer address may send to the API back to back (cache hits are free). */
export const AUTH_API_PEER_BURST = 20;
/** One more lookup per peer is allowed per this interval. */
export const AUTH_API_PEER_REFILL_MS = 100;
/** Peer addresses whose rate-limit state is remembered (oldest forgotten first). */
export const AUTH_API_MAX_PEERS = 4096;
/** Requests to the API in flight at once, over all peers. */
export const AUTH_API_MAX_IN_FLIGHT = 64;
/** Largest response body read, bytes. */
export const AUTH_API_MAX_BODY_BYTES = 64 * 1024;

/** Which transport the connection came on, as the API's `transport=` parameter. */
export type AuthApiTransport = "quic" | "websocket" | "tcp" | "unix" | "iroh";

/** A parsed auth API answer. */
export interface AuthApiAnswer {
  /** Canonical root to route this connection under (normalised by the caller), or undefined. */
  alias?: string;
  /** Anonymous access relative to the root; undefined = none. */
  public?: { subscribe: string[]; publish: string[] };
  /** The verifying key for the requested kid, imported; undefined = not found. */
  key?: VerifyingKey;
  /** Billing tier label ("" = default tier). */
  tier: string;
}

/** Tuning (tests). */
export interface AuthApiOptions {
  timeoutMs?: number;
  now?: () => number;
  peerBurst?: number;
  peerRefillMs?: number;
}

interface CacheEntry {
  answer: AuthApiAnswer;
  expiresAtMs: number;
}

function unavailable(message: string): AuthError {
  return new AuthError("key_unavailable", message, 502, 566);
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw unavailable(`the auth API answered with an invalid ${what}: expected a list of strings`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `Cache-Control` → TTL in ms; no header, `no-cache`, `no-store` or `private=`-less junk = 0. */
export function authApiTtlMs(cacheControl: string | null): number {
  if (cacheControl === null) return 0;
  const directives = cacheControl.toLowerCase().split(",").map((d) => d.trim());
  if (directives.includes("no-store") || directives.includes("no-cache")) return 0;
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d+)"?$/.exec(directive);
    if (match) return Math.min(Number(match[1]) * 1000, AUTH_API_CACHE_MAX_TTL_MS);
  }
  return 0;
}

/** The client of one auth API URL. */
export class AuthApiClient {
  readonly #base: URL;
  readonly #source: string;
  readonly #logger: Logger;
  readonly #options: AuthApiOptions;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #pending = new Map<string, Promise<AuthApiAnswer>>();
  readonly #peers = new Map<string, TokenBucket>();
  readonly #abort = new AbortController();
  #inFlight = 0;
  /** Requests sent to the API since start (tests, metrics). */
  requests = 0;

  constructor(base: string, logger: Logger, options: AuthApiOptions = {}) {
    this.#base = new URL(base);
    this.#source = loggableUrl(this.#base);
    this.#logger = logger;
    this.#options = options;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** The request URL: `root` trimmed of slashes, `kid` only with a token, `transport` when known. */
  requestUrl(root: string, kid: string | undefined, transport: AuthApiTransport | undefined): URL {
    const url = new URL(this.#base);
    url.searchParams.append("root", root.replace(/^\/+|\/+$/g, ""));
    if (kid !== undefined) url.searchParams.append("kid", kid);
    if (transport !== undefined) url.searchParams.append("transport", transport);
    return url;
  }

  /**
   * Ask the API about a connection to `root` (from `peer`, an address for rate limiting).
   * @throws {AuthError} 502/566 when the API is unreachable, slow, answers non-2xx or junk, or the
   * peer (or everybody) is over the lookup rate.
   */
  async lookup(
    root: string,
    kid: string | undefined,
    transport: AuthApiTransport | undefined,
    peer: string | undefined,
  ): Promise<AuthApiAnswer> {
    const url = this.requestUrl(root, kid, transport);
    const cacheKey = url.href;
    const now = this.#now();
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined) {
      if (cached.expiresAtMs > now) return cached.answer;
      this.#cache.delete(cacheKey);
    }
    const pending = this.#pending.get(cacheKey);
    if (pending !== undefined) return await pending;
    this.#admit(peer ?? "", now);
    const request = this.#fetch(url, cacheKey).finally(() => {
      this.#pending.delete(cacheKey);
      this.#inFlight--;
    });
    this.#inFlight++;
    this.#pending.set(cacheKey, request);
    return await request;
  }

  #admit(peer: string, now: number): void {
    if (this.#inFlight >= AUTH_API_MAX_IN_FLIGHT) {
      throw unavailable("too many auth API lookups in flight; retry later");
    }
    let bucket = this.#peers.get(peer);
    if (bucket === undefined) {
      bucket = new TokenBucket(
        this.#options.peerBurst ?? AUTH_API_PEER_BURST,
        this.#options.peerRefillMs ?? AUTH_API_PEER_REFILL_MS,
        now,
      );
    }
    rememberBounded(this.#peers, peer, bucket, AUTH_API_MAX_PEERS);
    if (!bucket.take(now)) {
      this.#logger.warn("auth API lookups from one peer over the rate limit; refusing", { peer });
      throw unavailable("too many auth API lookups from this address; retry later");
    }
  }

  async #fetch(url: URL, cacheKey: string): Promise<AuthApiAnswer> {
    this.requests++;
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? AUTH_API_TIMEOUT_MS);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        headers: { accept: "application/json" },
        signal: AbortSignal.any([this.#abort.signal, timeout]),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP status ${response.status}`);
      }
      text = await readCapped(response);
    } catch (e) {
      // The runtime's message may quote the URL (credentials, query): show only the loggable form.
      const problem = errorText(e).replaceAll(url.href, this.#source);
      this.#logger.warn("auth API unavailable; refusing the connection", { url: this.#source, err: problem });
      throw unavailable(`auth API unavailable: ${problem}`);
    }
    const answer = await this.#parse(text);
    const ttlMs = authApiTtlMs(response.headers.get("cache-control"));
    if (ttlMs > 0) {
      rememberBounded(
        this.#cache,
        cacheKey,
        { answer, expiresAtMs: this.#now() + ttlMs },
        AUTH_API_MAX_CACHED,
      );
    }
    return answer;
  }

  async #parse(text: string): Promise<AuthApiAnswer> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.#logger.warn("auth API answered with something that is not JSON", { url: this.#source });
      throw unavailable("the auth API answered with something that is not JSON");
    }
    if (!isRecord(value)) throw unavailable("the auth API answer is not a JSON object");
    const answer: AuthApiAnswer = { tier: "" };
    if (value.alias !== undefined && value.alias !== null) {
      if (typeof value.alias !== "string") throw unavailable("the auth API answered with a non-string alias");
      answer.alias = value.alias;
    }
    if (value.public !== undefined && value.public !== null) {
      if (!isRecord(value.public)) throw unavailable("the auth API answered with an invalid public object");
      answer.public = {
        subscribe: stringList(value.public.subscribe, "public.subscribe"),
        publish: stringList(value.public.publish, "public.publish"),
      };
    }
    if (value.tier !== undefined && value.tier !== null) {
      if (typeof value.tier !== "string") throw unavailable("the auth API answered with a non-string tier");
      answer.tier = value.tier;
    }
    if (value.key !== undefined && value.key !== null) {
      try {
        const jwk = parseKeyObject(value.key, this.#source);
        answer.key = { jwk, cryptoKey: await importVerifyKey(jwk, this.#source), source: this.#source };
      } catch (e) {
        this.#logger.warn("auth API answered with an unusable key", { url: this.#source, err: errorText(e) });
        throw unavailable("the auth API answered with an unusable key");
      }
    }
    return answer;
  }

  /** Abort running requests; resolves when they have settled. */
  close(): Promise<void> {
    this.#abort.abort(new Error("auth API client closed"));
    return Promise.allSettled([...this.#pending.values()]).then(() => {});
  }
}

async function readCapped(response: Response): Promise<string> {
  const length = Number(response.headers.get("content-length") ?? "0");
  if (length > AUTH_API_MAX_BODY_BYTES) {
    await response.body?.cancel();
    throw new Error(`response larger than ${AUTH_API_MAX_BODY_BYTES} bytes`);
  }
  const body = response.body;
  if (body === null) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > AUTH_API_MAX_BODY_BYTES) {
        await reader.cancel();
        throw new Error(`response larger than ${AUTH_API_MAX_BODY_BYTES} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
