/**
 * `[auth] key_dir` naming a local directory of `{kid}.jwk` files (docs/relay.md §2.2): each kid is
 * loaded on first use and cached, and reloaded or forgotten when its file changes; a bad file is
 * reported but never fatal. Misses (no file, invalid file) are cached apart from keys, both
 * bounded, so a flood of made-up kids cannot evict the keys in use.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { AuthError } from "./types.ts";
import { isValidKid, KeyError } from "./jwk.ts";
import {
  errorText,
  KEY_RELOAD_DEBOUNCE_MS,
  type KeySource,
  type KeyStoreOptions,
  loadKeyText,
  MAX_CACHED_KIDS,
  MAX_CACHED_MISSES,
  readError,
  rememberBounded,
  requireKid,
  statSignature,
} from "./_key_source.ts";
import { DirWatch } from "./_key_watch.ts";
import type { VerifyingKey } from "./_verify.ts";

type DirEntry =
  | { kind: "key"; key: VerifyingKey; text: string; signature: string | null }
  | { kind: "missing" }
  | { kind: "invalid"; error: string; signature: string | null };
type KeyEntry = Extract<DirEntry, { kind: "key" }>;
type MissEntry = Exclude<DirEntry, KeyEntry>;

/** `[auth] key_dir` = a local directory of `{kid}.jwk` files, loaded lazily and cached. */
export class DirKeySource implements KeySource {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #options: KeyStoreOptions;
  readonly #keys = new Map<string, KeyEntry>();
  readonly #misses = new Map<string, MissEntry>();
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

  /** Check the directory (fatal if missing: {@link KeyError}), load what is there, start watching. */
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
    if (entry.kind === "key") {
      this.#misses.delete(kid);
      rememberBounded(this.#keys, kid, entry, MAX_CACHED_KIDS);
    } else {
      this.#keys.delete(kid);
      rememberBounded(this.#misses, kid, entry, MAX_CACHED_MISSES);
    }
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

  /** The key in `{dir}/{kid}.jwk` (cached; misses too, until the directory changes). */
  async resolve(tokenKid: string | undefined): Promise<VerifyingKey> {
    const kid = requireKid(tokenKid);
    let entry: DirEntry | undefined = this.#keys.get(kid) ?? this.#misses.get(kid);
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
    // A miss is simply forgotten (the next lookup reads the file); a key is reloaded in place.
    if (this.#misses.delete(kid)) return;
    const entry = this.#keys.get(kid);
    if (entry !== undefined) this.#track(this.#reload(kid, entry));
  }

  async #reload(kid: string, previous: KeyEntry): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, KEY_RELOAD_DEBOUNCE_MS));
    if (this.#closed || this.#keys.get(kid) !== previous) return;
    const loaded = await this.#load(kid);
    if (this.#closed || this.#keys.get(kid) !== previous) return;
    if (loaded.kind === "key" && loaded.text === previous.text) {
      previous.signature = loaded.signature;
      return;
    }
    let ok = true;
    if (loaded.kind === "missing") {
      this.#keys.delete(kid);
      this.#logger.info("auth key removed from key_dir", { kid });
    } else if (loaded.kind === "invalid") {
      ok = false;
      previous.signature = loaded.signature;
      this.#logger.warn("auth key reload failed; keeping the previous key", { kid, err: loaded.error });
    } else {
      this.#keys.set(kid, loaded);
      this.#logger.info("auth key reloaded", { kid, alg: loaded.key.jwk.alg });
    }
    this.#options.onReload?.(this.#file(kid), ok);
  }

  async #poll(): Promise<void> {
    for (const [kid, miss] of [...this.#misses]) {
      const signature = await statSignature(this.#file(kid));
      if (this.#closed) return;
      const changed = miss.kind === "missing" ? signature !== null : signature !== miss.signature;
      if (changed && this.#misses.get(kid) === miss) this.#misses.delete(kid);
    }
    for (const [kid, entry] of [...this.#keys]) {
      const signature = await statSignature(this.#file(kid));
      if (this.#closed) return;
      if (signature !== entry.signature) await this.#reload(kid, entry);
    }
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#track(this.#poll());
    }, KEY_RELOAD_DEBOUNCE_MS);
  }

  /** Stop watching; resolves when running loads and reloads have finished. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pollTimer !== undefined) clearTimeout(this.#pollTimer);
    await this.#watch?.close();
    await Promise.allSettled([...this.#tasks, ...this.#pending.values()]);
  }
}
