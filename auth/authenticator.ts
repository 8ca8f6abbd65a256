/**
 * The relay's {@link Authenticator}: `?jwt=` tokens verified against the configured keys, or
 * anonymous public access, scoped to the connection path (docs/relay.md §2).
 *
 * @module
 */

import type { AuthConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { checkedPath, joinPath, PathError, segmentCount } from "../relay/mod.ts";
import {
  type Authenticator,
  AuthError,
  type AuthFailureReason,
  type AuthTransport,
  type SessionGrant,
} from "./types.ts";
import { KeyStore } from "./_key_store.ts";
import type { KeyStoreOptions } from "./_key_source.ts";
import {
  connectionPath,
  domainPrefix,
  hasPublicAccess,
  isClusterCredential,
  scopeGrants,
  scopeInternalSubscribe,
  scopePublic,
} from "./scope.ts";
import { CLOCK_LEEWAY_SECONDS, decodeTokenHeader, type VerifyingKey, verifyToken } from "./_verify.ts";
import { AuthApiClient, type AuthApiOptions, type AuthApiTransport } from "./_auth_api.ts";
import { isValidKid } from "./jwk.ts";

/** Options beyond the configuration (tests, tuning). */
export interface AuthenticatorOptions extends KeyStoreOptions {
  /** Clock leeway for `exp`/`nbf`, seconds (default {@link CLOCK_LEEWAY_SECONDS}). */
  leewaySeconds?: number;
  /** Auth API tuning (rate limits). */
  authApi?: Pick<AuthApiOptions, "peerBurst" | "peerRefillMs">;
}

/** The auth API's `transport=` value per transport; HTTP requests send none (as upstream). */
const API_TRANSPORT: Record<AuthTransport, AuthApiTransport | undefined> = {
  quic: "quic",
  webtransport: "quic",
  websocket: "websocket",
  tcp: "tcp",
  unix: "unix",
  http: undefined,
};

/** Longest path text written to a log line. */
const MAX_LOGGED_PATH_CHARS = 256;

/**
 * The token in a URL: the last non-empty `jwt` query parameter (an empty one counts as absent).
 * No other parameter, header or cookie is looked at.
 */
export function tokenFromUrl(url: URL): string | undefined {
  const values = url.searchParams.getAll("jwt").filter((v) => v !== "");
  return values.length > 0 ? values[values.length - 1] : undefined;
}

/** JWT + public-access authentication. */
export class JwtAuthenticator implements Authenticator {
  /** Refusals by reason since start (read by the metrics module). */
  readonly authFailures: Map<AuthFailureReason, number> = new Map();
  readonly #config: AuthConfig;
  readonly #logger: Logger;
  readonly #keys: KeyStore;
  readonly #options: AuthenticatorOptions;
  readonly #api: AuthApiClient | undefined;

  private constructor(config: AuthConfig, logger: Logger, keys: KeyStore, options: AuthenticatorOptions) {
    this.#config = config;
    this.#logger = logger;
    this.#keys = keys;
    this.#options = options;
    this.#api = config.authApi === undefined ? undefined : new AuthApiClient(config.authApi, logger, {
      timeoutMs: options.fetchTimeoutMs,
      now: options.now,
      ...options.authApi,
    });
  }

  /** Requests sent to the auth API since start (0 without one). */
  get authApiRequests(): number {
    return this.#api?.requests ?? 0;
  }

  /**
   * Load keys (a bad local key file, a missing key_dir, or `key` and `key_dir` both set throws
   * `KeyError` (auth/jwk.ts): fatal at start-up) and start watching them. Aborting
   * `signal` (or calling {@link close}) stops the watchers.
   */
  static async create(
    config: AuthConfig,
    logger: Logger,
    signal?: AbortSignal,
    options: AuthenticatorOptions = {},
  ): Promise<JwtAuthenticator> {
    const authLogger = logger.target === "auth" ? logger : logger.child("auth");
    const keys = await KeyStore.create(config, authLogger, signal, options);
    return new JwtAuthenticator(config, authLogger, keys, options);
  }

  /** Whether a key source (`key` or `key_dir`) is configured. */
  get keysConfigured(): boolean {
    return this.#keys.configured;
  }

  /** Stop key watchers and fetches. */
  async close(): Promise<void> {
    await Promise.all([this.#keys.close(), this.#api?.close()]);
  }

  /** Resolve the grant for a connection URL (path = root, `?jwt=` = token). Never logs the token. */
  async authenticate(url: URL, transport: AuthTransport, peer?: string): Promise<SessionGrant> {
    try {
      const grant = await this.#grant(url, transport, peer);
      if (this.#logger.enabled("debug")) {
        this.#logger.debug("authenticated", {
          transport,
          root: grant.root,
          publish: grant.publish.join(","),
          subscribe: grant.subscribe.join(","),
          anonymous: grant.anonymous,
        });
      }
      return grant;
    } catch (e) {
      const error = e instanceof AuthError ? e : this.#unexpected(e);
      this.authFailures.set(error.reason, (this.authFailures.get(error.reason) ?? 0) + 1);
      this.#logger.warn("authentication failed", {
        reason: error.reason,
        transport,
        path: url.pathname.slice(0, MAX_LOGGED_PATH_CHARS),
        err: error.message,
      });
      throw error;
    }
  }

  #unexpected(e: unknown): AuthError {
    this.#logger.error("unexpected authentication error", {
      err: e instanceof Error ? e.message : String(e),
    });
    return new AuthError("key_unavailable", "internal authentication error", 502, 566);
  }

  #path(url: URL): string {
    const path = connectionPath(url.pathname);
    if (this.#config.domains.length === 0) return path;
    const prefix = domainPrefix(url.hostname, this.#config.domains);
    if (prefix === undefined || prefix === "") return path;
    try {
      return checkedPath(joinPath(prefix, path));
    } catch (e) {
      if (e instanceof PathError) throw new AuthError("malformed", e.message);
      throw e;
    }
  }

  #anonymous(path: string, reason: AuthFailureReason, message: string): SessionGrant {
    const access = scopePublic(path, this.#config.public);
    if (access === undefined) throw new AuthError(reason, message);
    return { root: path, ...access, internal: false, anonymous: true };
  }

  async #grant(url: URL, transport: AuthTransport, peer: string | undefined): Promise<SessionGrant> {
    if (this.#api !== undefined) return await this.#grantViaApi(this.#api, url, transport, peer);
    const path = this.#path(url);
    const token = tokenFromUrl(url);
    if (token === undefined) {
      return this.#anonymous(path, "missing", "no token, and no public access at this path");
    }
    if (!this.#keys.configured) {
      if (!hasPublicAccess(this.#config.public)) {
        throw new AuthError("no_key", "a token was given but no key is configured");
      }
      // §8 item 25: a public-only relay treats a token as absent instead of refusing it.
      this.#logger.debug("token ignored: no key configured; using public access");
      return this.#anonymous(
        path,
        "no_key",
        "a token was given but no key is configured, and no public access here",
      );
    }
    const header = decodeTokenHeader(token);
    const key = await this.#keys.resolve(header.kid);
    return await this.#tokenGrant(path, path, token, key);
  }

  /**
   * The unified auth API (docs/relay.md §2.8): one lookup gives the alias, the public access and
   * the key for the token's kid. The token root and public grants are checked against the dialed
   * path; the session is routed under the alias (same depth).
   */
  async #grantViaApi(
    api: AuthApiClient,
    url: URL,
    transport: AuthTransport,
    peer: string | undefined,
  ): Promise<SessionGrant> {
    const path = this.#path(url);
    const token = tokenFromUrl(url);
    const kid = token === undefined ? undefined : decodeTokenHeader(token).kid;
    if (kid !== undefined && !isValidKid(kid)) {
      throw new AuthError("unknown_kid", "token kid is not a valid key id");
    }
    const answer = await api.lookup(path, kid, API_TRANSPORT[transport], peer);
    let alias = path;
    if (answer.alias !== undefined) {
      try {
        alias = checkedPath(answer.alias);
      } catch (e) {
        if (e instanceof PathError) {
          throw new AuthError(
            "key_unavailable",
            `the auth API answered with an invalid alias: ${e.message}`,
            502,
            566,
          );
        }
        throw e;
      }
    }
    if (segmentCount(alias) !== segmentCount(path)) {
      throw new AuthError(
        "root_mismatch",
        "the auth API alias does not have the depth of the connection path",
      );
    }
    if (token === undefined) {
      const open = answer.public;
      if (open === undefined || (open.publish.length === 0 && open.subscribe.length === 0)) {
        throw new AuthError("missing", "no token, and the auth API grants no public access at this path");
      }
      const access = scopeGrants(path, { root: path, put: open.publish, get: open.subscribe });
      return { root: alias, ...access, internal: false, anonymous: true, tier: answer.tier };
    }
    if (answer.key === undefined) {
      throw new AuthError("unknown_kid", "the auth API has no key for the token's kid");
    }
    return { ...(await this.#tokenGrant(path, alias, token, answer.key)), tier: answer.tier };
  }

  /** Verify `token` with `key`, scope it to the dialed `path`, and route it under `root`. */
  async #tokenGrant(path: string, root: string, token: string, key: VerifyingKey): Promise<SessionGrant> {
    const claims = await verifyToken(token, key, {
      leewaySeconds: this.#options.leewaySeconds,
      nowMs: this.#now(),
    });
    const access = scopeGrants(path, claims);
    const internalSubscribe = scopeInternalSubscribe(path, claims);
    const leeway = this.#options.leewaySeconds ?? CLOCK_LEEWAY_SECONDS;
    return {
      root,
      ...access,
      // Sessions end at `exp`; a token accepted only thanks to the clock-skew leeway (exp already
      // past here) gets the rest of the leeway instead of being closed at once.
      expiresAtMs: claims.exp === undefined
        ? undefined
        : claims.exp * 1000 > this.#now()
        ? Math.floor(claims.exp * 1000)
        : Math.floor((claims.exp + leeway) * 1000),
      ...(internalSubscribe.length > 0 ? { internalSubscribe } : {}),
      internal: isClusterCredential(claims),
      anonymous: false,
    };
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}
