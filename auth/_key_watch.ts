/**
 * File-change notifications for a directory of key files: the file-system watcher, falling back to
 * polling (the callers compare mtime signatures) when the watcher is unavailable.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { basename, errorText, type KeyStoreOptions } from "./_key_source.ts";

/** How often files are polled for changes when the file-system watcher is unavailable. */
export const KEY_POLL_INTERVAL_MS = 2_000;

/** Watches one directory: `onChange(name)` per event, or `poll()` on an interval as a fallback. */
export class DirWatch {
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

  /** Stop watching; resolves when the event loop has ended. */
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
