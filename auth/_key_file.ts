/**
 * `[auth] key` naming a local file (docs/relay.md §2.2): read once at start (fatal if bad), reloaded
 * when it changes (docs/relay.md §8 item 26), never per handshake; a failed reload keeps the last
 * good key.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import {
  basename,
  dirname,
  errorText,
  KEY_RELOAD_DEBOUNCE_MS,
  type KeySource,
  type KeyStoreOptions,
  loadKeyText,
  readError,
  statSignature,
} from "./_key_source.ts";
import { DirWatch } from "./_key_watch.ts";
import type { VerifyingKey } from "./_verify.ts";

/** `[auth] key` = a local file: read at start (fatal if bad), reloaded on change. */
export class FileKeySource implements KeySource {
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

  /** Read the key (fatal if bad: {@link KeyError}) and start watching its directory. */
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

  /** The current key, whatever the kid. */
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

  /** Stop watching; resolves when a running reload has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#watch?.close();
    await this.#reloading;
  }
}
