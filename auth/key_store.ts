/**
 * Where verification keys come from (shared/spec/relay.md §2.2): `[auth] key` (one file or URL) or
 * `[auth] key_dir` (`{dir}/{kid}.jwk`, or a URL base). Local files are read once and reloaded when
 * they change (file-system watcher, falling back to mtime polling), never per handshake (§8 item 26);
 * a failed reload keeps the last good key. Remote keys are fetched with a 10 s timeout and cached
 * by `Cache-Control: max-age` (default {@link KEY_CACHE_TTL_MS}), revalidated with ETags, and a
 * stale key is used when the key server is unreachable.
 *
 * @module
 */

import type { AuthConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { AuthError } from "./types.ts";
import { decodeKeyText, importVerifyKey, isValidKid, KeyError, parseKeyObject, parseKeyText } from "./jwk.ts";
import type { VerifyingKey } from "./verify.ts";

/** Timeout for one key fetch. */
export const KEY_FETCH_TIMEOUT_MS = 10_000;
/** How long a fetched key is cached when the response has no `max-age`. */
export const KEY_CACHE_TTL_MS = 60_000;
/** The longest a fetched key is cached, whatever `max-age` says. */
export const KEY_CACHE_MAX_TTL_MS = 3_600_000;
/** How often files are polled for changes when the file-system watcher is unavailable. */
export const KEY_POLL_INTERVAL_MS = 2_000;
/** Debounce between a file-system event and the reload it triggers. */
export const KEY_RELOAD_DEBOUNCE_MS = 50;
/** Most kids kept in a key_dir cache (hits, misses and invalid files). */
export const MAX_CACHED_KIDS = 1024;

/** Tuning knobs (tests). */
export interface KeyStoreOptions {
  /** Called after every reload attempt of a local key file (`ok` false = the previous key was kept). */
  onReload?: (source: string, ok: boolean) => void;
  /** Force mtime polling instead of the file-system watcher. */
  poll?: boolean;
  pollIntervalMs?: number;
  fetchTimeoutMs?: number;
  /** Current time in ms (default `Date.now`). */
  now?: () => number;
}

/** Read and validate one key file for verification. */
export async function loadKeyFile(path: string): Promise<VerifyingKey> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw readError(path, e);
  }
  return await loadKeyText(text, path);
}

/** Validate key text and import it for verification. */
export async function loadKeyText(text: string, source: string): Promise<VerifyingKey> {
  const jwk = parseKeyText(text, source);
  return { jwk, cryptoKey: await importVerifyKey(jwk, source), source };
}

function readError(path: string, e: unknown): KeyError {
  if (e instanceof Deno.errors.NotFound) return new KeyError(path, "file not found");
  if (e instanceof Deno.errors.PermissionDenied) {
    return new KeyError(path, "permission denied reading the file");
  }
  if (e instanceof Deno.errors.IsADirectory) return new KeyError(path, "is a directory, not a key file");
  return new KeyError(path, `cannot read the file (${e instanceof Error ? e.message : String(e)})`);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

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

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

interface KeySource {
  resolve(kid: string | undefined): Promise<VerifyingKey>;
  close(): Promise<void>;
}

/** File-change notifications for one directory: watcher, or mtime polling as a fallback. */
class DirWatch {
  readonly #watcher?: Deno.FsWatcher;
  readonly #loop?: Promise<void>;
  readonly #interval?: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(
    dir: string,
    onChange: (name: string) => void,
    poll: () => void,
    logger: Logger,
    options: KeyStoreOptions,
  ) {
    if (!options.poll) {
      try {
        this.#watcher = Deno.watchFs(dir, { recursive: false });
      } catch (e) {
        logger.warn("cannot watch key files; polling for changes instead", { dir, err: errorText(e) });
      }
    }
    if (this.#watcher) {
      const watcher = this.#watcher;
      this.#loop = (async () => {
        try {
          for await (const event of watcher) {
            if (event.kind === "access" || event.kind === "other") continue;
            for (const path of event.paths) onChange(basename(path));
          }
        } catch (e) {
          if (!this.#closed) logger.warn("key file watcher stopped", { dir, err: errorText(e) });
        }
      })();
    } else {
      this.#interval = setInterval(poll, options.pollIntervalMs ?? KEY_POLL_INTERVAL_MS);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#interval !== undefined) clearInterval(this.#interval);
    if (this.#watcher) {
      try {
        this.#watcher.close();
      } catch {
        // Already closed.
      }
    }
    await this.#loop;
  }
}

async function statSignature(path: string): Promise<string | null> {
  try {
    const info = await Deno.stat(path);
    return `${info.mtime?.getTime() ?? 0}:${info.size}`;
  } catch {
    return null;
  }
}

/** `[auth] key` = a local file: read at start (fatal if bad), reloaded on change. */
class FileKeySource implements KeySource {
  readonly #path: string;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #options: KeyStoreOptions;
  #key: VerifyingKey;
  #text: string;
  #signature: string | null = null;
  #watch?: DirWatch;
  #timer?: ReturnType<typeof setTimeout>;
  #reloading: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    path: string,
    key: VerifyingKey,
    text: string,
    logger: Logger,
    options: KeyStoreOptions,
  ) {
    this.#path = path;
    this.#name = basename(path);
    this.#key = key;
    this.#text = text;
    this.#logger = logger;
    this.#options = options;
  }

  static async create(path: string, logger: Logger, options: KeyStoreOptions): Promise<FileKeySource> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw readError(path, e);
    }
    const key = await loadKeyText(text, path);
    const source = new FileKeySource(path, key, text, logger, options);
    source.#signature = await statSignature(path);
    source.#watch = new DirWatch(
      dirname(path),
      (name) => {
        // `..data` & co: Kubernetes-style atomic symlink swaps of a mounted secret directory.
        if (name === source.#name || name.startsWith("..")) source.#schedule();
      },
      () => source.#enqueue(() => source.#poll()),
      logger,
      options,
    );
    return source;
  }

  resolve(): Promise<VerifyingKey> {
    return Promise.resolve(this.#key);
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#enqueue(() => this.#reload());
    }, KEY_RELOAD_DEBOUNCE_MS);
  }

  /** Run reload work one task at a time (close() waits for the queue). */
  #enqueue(task: () => Promise<void>): void {
    this.#reloading = this.#reloading.then(task);
  }

  async #poll(): Promise<void> {
    const signature = await statSignature(this.#path);
    if (signature !== this.#signature && !this.#closed) {
      this.#signature = signature;
      await this.#reload();
    }
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (e) {
      this.#failed(readError(this.#path, e));
      return;
    }
    if (text === this.#text || this.#closed) return;
    try {
      const key = await loadKeyText(text, this.#path);
      if (this.#closed) return;
      this.#key = key;
      this.#text = text;
      this.#logger.info("auth key reloaded", { path: this.#path, alg: key.jwk.alg, kid: key.jwk.kid });
      this.#options.onReload?.(this.#path, true);
    } catch (e) {
      this.#failed(e);
    }
  }

  #failed(e: unknown): void {
    if (this.#closed) return;
    this.#logger.warn("auth key reload failed; keeping the previous key", {
      path: this.#path,
      err: errorText(e),
    });
    this.#options.onReload?.(this.#path, false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#watch?.close();
    await this.#reloading;
  }
}

type DirEntry =
  | { kind: "key"; key: VerifyingKey; text: string; signature: string | null }
  | { kind: "missing" }
  | { kind: "invalid"; error: string; signature: string | null };

/** `[auth] key_dir` = a local directory of `{kid}.jwk` files, loaded lazily and cached. */
class DirKeySource implements KeySource {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #options: KeyStoreOptions;
  readonly #cache = new Map<string, DirEntry>();
  readonly #pending = new Map<string, Promise<DirEntry>>();
  #watch?: DirWatch;
  #tasks = new Set<Promise<void>>();
  #pollTimer?: ReturnType<typeof setTimeout>;
  #closed = false;

  private constructor(dir: string, logger: Logger, options: KeyStoreOptions) {
    this.#dir = dir;
    this.#logger = logger;
    this.#options = options;
  }

  static async create(dir: string, logger: Logger, options: KeyStoreOptions): Promise<DirKeySource> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(dir);
    } catch (e) {
      throw e instanceof Deno.errors.NotFound
        ? new KeyError(dir, "key_dir does not exist")
        : readError(dir, e);
    }
    if (!info.isDirectory) throw new KeyError(dir, "key_dir is not a directory");
    const source = new DirKeySource(dir, logger, options);
    source.#watch = new DirWatch(
      dir,
      (name) => source.#changed(name),
      () => source.#track(source.#poll()),
      logger,
      options,
    );
    // Load what is there now so bad files are reported at start-up (not fatal: each kid is separate).
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.endsWith(".jwk")) continue;
      const kid = entry.name.slice(0, -4);
      if (!isValidKid(kid)) {
        logger.warn("ignoring key file whose name is not a valid kid", { dir, file: entry.name });
        continue;
      }
      const loaded = await source.#load(kid);
      if (loaded.kind === "invalid") logger.warn("invalid key file in key_dir", { err: loaded.error });
      source.#remember(kid, loaded);
    }
    return source;
  }

  #file(kid: string): string {
    return `${this.#dir}/${kid}.jwk`;
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #remember(kid: string, entry: DirEntry): void {
    this.#cache.delete(kid);
    if (this.#cache.size >= MAX_CACHED_KIDS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(kid, entry);
  }

  async #load(kid: string): Promise<DirEntry> {
    const path = this.#file(kid);
    const signature = await statSignature(path);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { kind: "missing" };
      return { kind: "invalid", error: readError(path, e).message, signature };
    }
    try {
      return { kind: "key", key: await loadKeyText(text, path), text, signature };
    } catch (e) {
      return { kind: "invalid", error: errorText(e), signature };
    }
  }

  async resolve(kid: string | undefined): Promise<VerifyingKey> {
    if (kid === undefined) throw new AuthError("unknown_kid", "token has no kid; key_dir needs one");
    if (!isValidKid(kid)) throw new AuthError("unknown_kid", "token kid is not a valid key id");
    let entry = this.#cache.get(kid);
    if (entry === undefined) {
      let pending = this.#pending.get(kid);
      if (pending === undefined) {
        pending = this.#load(kid).then((loaded) => {
          this.#pending.delete(kid);
          if (!this.#closed) this.#remember(kid, loaded);
          if (loaded.kind === "invalid") {
            this.#logger.warn("invalid key file in key_dir", { err: loaded.error });
          }
          return loaded;
        });
        this.#pending.set(kid, pending);
      }
      entry = await pending;
    }
    if (entry.kind === "key") return entry.key;
    if (entry.kind === "missing") throw new AuthError("unknown_kid", "no key file for the token's kid");
    throw new AuthError("no_key", "the key file for the token's kid is invalid");
  }

  #changed(name: string): void {
    if (this.#closed) return;
    if (!name.endsWith(".jwk")) {
      // `..data` & co: Kubernetes-style atomic symlink swaps; re-check every cached file.
      if (name.startsWith("..")) this.#schedulePoll();
      return;
    }
    const kid = name.slice(0, -4);
    const entry = this.#cache.get(kid);
    if (entry === undefined) return;
    if (entry.kind !== "key") {
      this.#cache.delete(kid);
      return;
    }
    this.#track(this.#reload(kid, entry));
  }

  async #reload(kid: string, previous: DirEntry & { kind: "key" }): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, KEY_RELOAD_DEBOUNCE_MS));
    if (this.#closed || this.#cache.get(kid) !== previous) return;
    const loaded = await this.#load(kid);
    if (this.#closed || this.#cache.get(kid) !== previous) return;
    if (loaded.kind === "key" && loaded.text === previous.text) {
      previous.signature = loaded.signature;
      return;
    }
    let ok = true;
    if (loaded.kind === "missing") {
      this.#cache.delete(kid);
      this.#logger.info("auth key removed from key_dir", { kid });
    } else if (loaded.kind === "invalid") {
      ok = false;
      previous.signature = loaded.signature;
      this.#logger.warn("auth key reload failed; keeping the previous key", { kid, err: loaded.error });
    } else {
      this.#cache.set(kid, loaded);
      this.#logger.info("auth key reloaded", { kid, alg: loaded.key.jwk.alg });
    }
    this.#options.onReload?.(this.#file(kid), ok);
  }

  async #poll(): Promise<void> {
    for (const [kid, entry] of [...this.#cache]) {
      const signature = await statSignature(this.#file(kid));
      if (this.#closed) return;
      if (entry.kind === "missing") {
        if (signature !== null) this.#cache.delete(kid);
      } else if (entry.kind === "invalid") {
        if (signature !== entry.signature) this.#cache.delete(kid);
      } else if (signature !== entry.signature) {
        await this.#reload(kid, entry);
      }
    }
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#track(this.#poll());
    }, KEY_RELOAD_DEBOUNCE_MS);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    await this.#watch?.close();
    await Promise.allSettled([...this.#tasks, ...this.#pending.values()]);
  }
}

type RemoteEntry =
  | { kind: "key"; key: VerifyingKey; etag?: string; expiresAtMs: number }
  | { kind: "missing"; expiresAtMs: number }
  | { kind: "invalid"; expiresAtMs: number };

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

/** `[auth] key` or `key_dir` = an HTTP(S) URL. */
class RemoteKeySource implements KeySource {
  readonly #base: URL;
  readonly #perKid: boolean;
  readonly #logger: Logger;
  readonly #options: KeyStoreOptions;
  readonly #cache = new Map<string, RemoteEntry>();
  readonly #pending = new Map<string, Promise<RemoteEntry>>();
  readonly #abort = new AbortController();

  constructor(base: URL, perKid: boolean, logger: Logger, options: KeyStoreOptions) {
    this.#base = new URL(base);
    if (perKid && !this.#base.pathname.endsWith("/")) this.#base.pathname += "/";
    this.#perKid = perKid;
    this.#logger = logger;
    this.#options = options;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  async resolve(kid: string | undefined): Promise<VerifyingKey> {
    let url: URL;
    if (this.#perKid) {
      if (kid === undefined) throw new AuthError("unknown_kid", "token has no kid; key_dir needs one");
      if (!isValidKid(kid)) throw new AuthError("unknown_kid", "token kid is not a valid key id");
      url = new URL(`${kid}.jwk`, this.#base);
    } else {
      url = this.#base;
    }
    const cacheKey = url.href;
    let entry = this.#cache.get(cacheKey);
    if (entry === undefined || entry.expiresAtMs <= this.#now()) {
      let pending = this.#pending.get(cacheKey);
      if (pending === undefined) {
        pending = this.#fetch(url, entry).finally(() => this.#pending.delete(cacheKey));
        this.#pending.set(cacheKey, pending);
      }
      entry = await pending;
    }
    if (entry.kind === "key") return entry.key;
    if (entry.kind === "invalid") throw new AuthError("no_key", "the remote key is not a usable JWK");
    throw this.#perKid
      ? new AuthError("unknown_kid", "the key server has no key for the token's kid")
      : new AuthError("no_key", "the key URL answered 404");
  }

  async #fetch(url: URL, previous: RemoteEntry | undefined): Promise<RemoteEntry> {
    const source = url.href;
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new Error("timed out")),
      this.#options.fetchTimeoutMs ?? KEY_FETCH_TIMEOUT_MS,
    );
    try {
      const headers: Record<string, string> = { accept: "application/json, text/plain" };
      if (previous?.kind === "key" && previous.etag) headers["if-none-match"] = previous.etag;
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
        return this.#unavailable(source, previous, `fetch failed (${errorText(e)})`);
      }
      const expiresAtMs = this.#now() + cacheTtlMs(response.headers.get("cache-control"));
      if (response.status === 304 && previous?.kind === "key") {
        return this.#store(source, { ...previous, expiresAtMs });
      }
      if (response.status === 404) return this.#store(source, { kind: "missing", expiresAtMs });
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
        return this.#store(source, { kind: "invalid", expiresAtMs });
      }
      return this.#store(source, {
        kind: "key",
        key,
        etag: response.headers.get("etag") ?? undefined,
        expiresAtMs,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  #store(cacheKey: string, entry: RemoteEntry): RemoteEntry {
    this.#cache.delete(cacheKey);
    if (this.#cache.size >= MAX_CACHED_KIDS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(cacheKey, entry);
    return entry;
  }

  #unavailable(source: string, previous: RemoteEntry | undefined, problem: string): RemoteEntry {
    if (previous?.kind === "key") {
      this.#logger.warn("auth key server unavailable; using the cached key", { url: source, err: problem });
      return previous;
    }
    this.#logger.warn("auth key server unavailable", { url: source, err: problem });
    throw new AuthError("key_unavailable", `key server unavailable: ${problem}`, 502, 566);
  }

  close(): Promise<void> {
    this.#abort.abort(new Error("key store closed"));
    return Promise.allSettled([...this.#pending.values()]).then(() => {});
  }
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
