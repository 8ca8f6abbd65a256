/**
 * Where verification keys come from (docs/relay.md §2.2): `[auth] key` (one file or URL) or
 * `[auth] key_dir` (`{dir}/{kid}.jwk`, or a URL base). This facade picks the source: a local file
 * (auth/key_file.ts), a local directory (auth/key_dir.ts) or a key server (auth/key_remote.ts).
 *
 * @module
 */

import type { AuthConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { AuthError } from "./types.ts";
import { KeyError } from "./jwk.ts";
import type { KeySource, KeyStoreOptions } from "./_key_source.ts";
import { FileKeySource } from "./_key_file.ts";
import { DirKeySource } from "./_key_dir.ts";
import { RemoteKeySource } from "./key_remote.ts";
import type { VerifyingKey } from "./_verify.ts";

/** A `key`/`key_dir` value that names an HTTP(S) URL (anything else is a local path). */
function remoteUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A `file:` URL becomes its path; anything else is already a path. */
function localPath(value: string): string {
  if (value.startsWith("file:")) {
    try {
      return decodeURIComponent(new URL(value).pathname);
    } catch {
      return value;
    }
  }
  return value;
}

/**
 * The configured verification keys. Create with {@link KeyStore.create}; close with
 * {@link KeyStore.close} (or abort the signal passed to `create`).
 */
export class KeyStore {
  readonly #source?: KeySource;
  #closing?: Promise<void>;

  private constructor(source: KeySource | undefined) {
    this.#source = source;
  }

  /**
   * Load the configured key source. A bad local `key` file, a missing `key_dir`, or both set is
   * fatal here ({@link KeyError}); remote sources are fetched on first use.
   */
  static async create(
    config: Pick<AuthConfig, "key" | "keyDir">,
    logger: Logger,
    signal?: AbortSignal,
    options: KeyStoreOptions = {},
  ): Promise<KeyStore> {
    if (config.key !== undefined && config.keyDir !== undefined) {
      throw new KeyError("[auth]", "set either key or key_dir, not both");
    }
    let source: KeySource | undefined;
    if (config.key !== undefined) {
      const url = remoteUrl(config.key);
      source = url
        ? new RemoteKeySource(url, false, logger, options)
        : await FileKeySource.create(localPath(config.key), logger, options);
    } else if (config.keyDir !== undefined) {
      const url = remoteUrl(config.keyDir);
      source = url
        ? new RemoteKeySource(url, true, logger, options)
        : await DirKeySource.create(localPath(config.keyDir).replace(/(.)\/+$/, "$1"), logger, options);
    }
    const store = new KeyStore(source);
    if (signal) {
      if (signal.aborted) await store.close();
      else signal.addEventListener("abort", () => void store.close(), { once: true });
    }
    return store;
  }

  /** Whether any key source is configured. */
  get configured(): boolean {
    return this.#source !== undefined;
  }

  /**
   * The key for a token with header `kid` (ignored for a single `key`).
   * @throws {AuthError} `no_key`, `unknown_kid` or `key_unavailable`.
   */
  resolve(kid: string | undefined): Promise<VerifyingKey> {
    if (this.#source === undefined) {
      return Promise.reject(new AuthError("no_key", "a token was given but no key is configured"));
    }
    if (this.#closing) return Promise.reject(new AuthError("key_unavailable", "key store closed", 502, 566));
    return this.#source.resolve(kid);
  }

  /** Stop watchers, timers and fetches; resolves when they are gone. */
  close(): Promise<void> {
    this.#closing ??= this.#source?.close() ?? Promise.resolve();
    return this.#closing;
  }
}
