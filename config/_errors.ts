/**
 * The error raised for every configuration and command-line problem.
 *
 * @module
 */

/** Where a bad setting came from, for the error's fields. */
export interface ConfigErrorOptions {
  /** Canonical dotted key (`server.bind`), or the flag / variable name when there is no key. */
  key?: string;
  /** The config file involved, if any. */
  file?: string;
  cause?: unknown;
}

/**
 * A fatal configuration problem. The message is one line naming the file (when the value came from
 * one), the key or flag, and the expected form; `main.ts` prints `Error: <message>` and exits 1.
 */
export class ConfigError extends Error {
  /** Canonical dotted key of the offending setting (e.g. `server.tls.cert`), when there is one. */
  readonly key?: string;
  /** The config file the offending value came from, when it came from a file. */
  readonly file?: string;

  constructor(message: string, options: ConfigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConfigError";
    this.key = options.key;
    this.file = options.file;
  }
}
