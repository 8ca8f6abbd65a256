/**
 * The relay's {@link Authenticator}: `?jwt=` tokens verified against the configured keys, or
 * anonymous public access, scoped to the connection path (docs/relay.md §2).
 *
 * @module
 */

import type { AuthConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { checkedPath, joinPath, PathError } from "../relay/mod.ts";
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
import { CLOCK_LEEWAY_SECONDS, decodeTokenHeader, verifyToken } from "./_verify.ts";

/** Options beyond the configuration (tests, tuning). */
export interface AuthenticatorOptions extends KeyStoreOptions {
  /** Clock leeway for `exp`/`nbf`, seconds (default {@link CLOCK_LEEWAY_SECONDS}). */
  leewaySeconds?: number;
}

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

  private constructor(config: AuthConfig, logger: Logger, keys: KeyStore, options: AuthenticatorOptions) {
    this.#config = config;
    this.#logger = logger;
    this.#keys = keys;
    this.#options = options;
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
  close(): Promise<void> {
    return this.#keys.close();
  }

  /** Resolve the grant for a connection URL (path = root, `?jwt=` = token). Never logs the token. */
  async authenticate(url: URL, transport: AuthTransport): Promise<SessionGrant> {
    try {
      const grant = await this.#grant(url);
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

  async #grant(url: URL): Promise<SessionGrant> {
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
    const claims = await verifyToken(token, key, {
      leewaySeconds: this.#options.leewaySeconds,
      nowMs: this.#now(),
    });
    const access = scopeGrants(path, claims);
    const internalSubscribe = scopeInternalSubscribe(path, claims);
    const leeway = this.#options.leewaySeconds ?? CLOCK_LEEWAY_SECONDS;
    return {
      root: path,
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
