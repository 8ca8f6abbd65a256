/**
 * The typed reader: reads one key of the merged settings as a string, list, boolean, integer,
 * count, duration or size. Every conversion error is a one-line {@link ConfigError} naming the key
 * and where its value came from (`relay.toml: server.bind`, `--server-bind`, `MOQ_SERVER_BIND`).
 *
 * @module
 */

import { DurationError, type DurationOptions, formatDuration, parseDuration } from "./_duration.ts";
import { ConfigError } from "./_errors.ts";
import { KEY_BY_PATH, MAX_TIMER_MS } from "./keys.ts";
import { describeSource, type Layer, type Setting, showValue } from "./_settings.ts";
import { parseSize, SizeError } from "./_size.ts";

const DURATION_FORM = `a duration string such as "5s", "500ms" or "1h 30m"`;

/** Typed access to merged settings; every conversion error names the setting's source. */
export class SettingsReader {
  readonly #settings: Layer;
  /** The config file, when one was given (named in errors about several keys). */
  readonly file?: string;
  readonly #memory?: number | (() => number);

  /**
   * - `settings`: the merged layers (see `mergeLayers`).
   * - `file`: the config file, if any.
   * - `memory`: what `NN%` sizes refer to (default: physical memory or the cgroup limit).
   */
  constructor(settings: Layer, file: string | undefined, memory: number | (() => number) | undefined) {
    this.#settings = settings;
    this.file = file;
    this.#memory = memory;
  }

  /** Whether any layer set the key. */
  has(path: string): boolean {
    return this.#settings.has(path);
  }

  /** The raw setting of a key, if any layer set it. */
  setting(path: string): Setting | undefined {
    return this.#settings.get(path);
  }

  /** `relay.toml: server.bind`, `--server-bind`, `MOQ_SERVER_BIND`, or the bare key when unset. */
  where(path: string): string {
    const setting = this.#settings.get(path);
    return setting === undefined ? path : describeSource(setting.source);
  }

  /** Throw a {@link ConfigError} about one key: `<where>: <message>`. */
  fail(path: string, message: string): never {
    const setting = this.#settings.get(path);
    const file = setting?.source.kind === "file" ? setting.source.file : undefined;
    throw new ConfigError(`${this.where(path)}: ${message}`, { key: path, file });
  }

  /** Throw `<where>: expected <form>, got <value>`. */
  expected(path: string, form: string): never {
    return this.fail(path, `expected ${form}, got ${showValue(this.#settings.get(path)?.value)}`);
  }

  /**
   * An error about several keys: `relay.toml: auth.key and auth.key_dir …` when the file is
   * involved, flag / variable names otherwise. `message` gets each key's reference.
   */
  conflict(paths: string[], message: (...refs: string[]) => string): never {
    const settings = paths.map((path) => this.#settings.get(path));
    // Name the file when it supplied one of the values, or when none of them was given at all.
    const fromFile = this.file !== undefined &&
      (settings.some((s) => s?.source.kind === "file") || settings.every((s) => s === undefined));
    const refs = paths.map((path, i) => {
      const source = settings[i]?.source;
      if (source === undefined) return path;
      return source.kind === "file" ? source.key : describeSource(source);
    });
    const prefix = fromFile ? `${this.file}: ` : "";
    throw new ConfigError(prefix + message(...refs), {
      key: paths[0],
      file: fromFile ? this.file : undefined,
    });
  }

  /** A string, or undefined when unset. */
  string(path: string): string | undefined {
    const setting = this.#settings.get(path);
    if (setting === undefined) return undefined;
    if (typeof setting.value !== "string") this.expected(path, "a string");
    return setting.value as string;
  }

  /** A string or list of strings as a list (empty when unset). */
  list(path: string): string[] {
    const setting = this.#settings.get(path);
    if (setting === undefined) return [];
    const value = setting.value;
    if (typeof value === "string") return [value];
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return [...value];
    return this.expected(path, "a string or an array of strings");
  }

  /** A boolean, or the fallback when unset. */
  bool(path: string, fallback: boolean): boolean {
    const setting = this.#settings.get(path);
    if (setting === undefined) return fallback;
    if (typeof setting.value !== "boolean") this.expected(path, "true or false");
    return setting.value as boolean;
  }

  /** A whole number (TOML integer, or decimal text from a flag / variable), or undefined when unset. */
  integer(path: string): bigint | undefined {
    const setting = this.#settings.get(path);
    if (setting === undefined) return undefined;
    const value = setting.value;
    if (typeof value === "bigint") return value;
    if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
    if (typeof value === "string" && setting.source.kind !== "file" && /^\s*\d+\s*$/.test(value)) {
      return BigInt(value.trim());
    }
    return this.expected(path, "a whole number");
  }

  /** A positive safe integer, or the fallback when unset. */
  count(path: string, fallback: number): number {
    const value = this.integer(path);
    if (value === undefined) return fallback;
    if (value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
      this.expected(path, "a whole number of at least 1");
    }
    return Number(value);
  }

  /**
   * A duration in milliseconds, or undefined when unset. Longer than the key's maximum
   * (`KeyDef.maxMs`, never above {@link MAX_TIMER_MS}) is an error naming the key and the
   * maximum: a timer given more than 2^31−1 ms fires at once instead.
   */
  duration(path: string, options: DurationOptions = {}): number | undefined {
    const setting = this.#settings.get(path);
    if (setting === undefined) return undefined;
    const value = setting.value;
    let ms: number;
    if (typeof value === "number" || typeof value === "bigint") {
      if (Number(value) === 0) return 0;
      if (!(options.bareUnit === "s" && Number.isSafeInteger(Number(value)) && value > 0)) {
        return this.expected(path, DURATION_FORM);
      }
      ms = Number(value) * 1000;
    } else if (typeof value === "string") {
      try {
        ms = parseDuration(value, options);
      } catch (error) {
        if (error instanceof DurationError) this.fail(path, error.message);
        throw error;
      }
    } else {
      return this.expected(path, DURATION_FORM);
    }
    const max = Math.min(KEY_BY_PATH.get(path)?.maxMs ?? MAX_TIMER_MS, MAX_TIMER_MS);
    if (ms > max) {
      this.fail(
        path,
        `${showValue(value)} is too long for ${path}: the maximum is ${formatDuration(max)} (${max} ms)`,
      );
    }
    return ms;
  }

  /** A byte size, or undefined when unset; `allowPercent` accepts `NN%` of memory. */
  size(path: string, allowPercent: boolean): number | undefined {
    const setting = this.#settings.get(path);
    if (setting === undefined) return undefined;
    const value = setting.value;
    const form = allowPercent
      ? `a size such as "8GiB", "512MB" or "25%"`
      : `a size such as "4MiB" or "512KB"`;
    if (typeof value === "number" || typeof value === "bigint") {
      if (value >= 0 && Number.isSafeInteger(Number(value))) return Number(value);
      return this.expected(path, form);
    }
    if (typeof value !== "string") return this.expected(path, form);
    try {
      return parseSize(value, { allowPercent, memoryBytes: this.#memory });
    } catch (error) {
      if (error instanceof SizeError) this.fail(path, error.message);
      throw error;
    }
  }
}
