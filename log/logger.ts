/**
 * A small structured logger writing upstream-style lines to stderr:
 * `2026-11-25T18:00:00.000Z  INFO relay: session accepted transport=websocket root=anon`.
 *
 * Filtering follows `RUST_LOG` syntax: a bare level (`debug`) and/or `target=level` pairs
 * (`relay=trace,auth=debug,info`). Targets are this project's module names (`relay`, `session`,
 * `auth`, `cluster`, `http`, `transport`, `quic`, `webtransport`, `websocket`, `config`, `main`);
 * a target matches itself and its dotted children (`transport` matches `transport.quic`).
 * Unknown targets (such as upstream's `moq_relay`) are accepted and simply match nothing.
 *
 * Lines are redacted ({@link redactSecrets}), repeated `WARN` lines are rate-limited per peer, and
 * stderr output is batched ({@link BufferedLogWriter}) instead of one blocking write per line.
 *
 * @module
 */

import { redactSecrets } from "./redact.ts";

/** Log levels, most verbose first. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };
const LEVEL_OFF = 5;

/** A field value attached to a log line. */
export type LogValue = string | number | bigint | boolean | null | undefined;
/** Structured fields of one log line. */
export type LogFields = Record<string, LogValue>;

/** Raised when a log filter or level cannot be parsed. */
export class LogFilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LogFilterError";
  }
}

/** Parse a level name (case-insensitive). Throws {@link LogFilterError} with the accepted names. */
export function parseLogLevel(text: string): LogLevel {
  const level = text.trim().toLowerCase();
  if (level in LEVEL_RANK) return level as LogLevel;
  throw new LogFilterError(
    `invalid log level "${text}": expected one of trace, debug, info, warn, error`,
  );
}

/** A parsed `RUST_LOG`-style filter. */
export class LogFilter {
  readonly #defaultRank: number;
  readonly #targets: Array<[string, number]>;

  private constructor(defaultRank: number, targets: Array<[string, number]>) {
    this.#defaultRank = defaultRank;
    // Longest target first so the most specific directive wins.
    this.#targets = targets.sort((a, b) => b[0].length - a[0].length);
  }

  /** A filter that lets through `level` and above for every target. */
  static level(level: LogLevel): LogFilter {
    return new LogFilter(LEVEL_RANK[level], []);
  }

  /**
   * Parse `debug`, `relay=trace,auth=debug`, `moq_relay=trace,info`, `off`.
   * Throws {@link LogFilterError} naming the bad directive.
   */
  static parse(spec: string, fallback: LogLevel = "info"): LogFilter {
    let defaultRank = LEVEL_RANK[fallback];
    const targets: Array<[string, number]> = [];
    for (const raw of spec.split(",")) {
      const directive = raw.trim();
      if (directive === "") continue;
      const eq = directive.indexOf("=");
      if (eq < 0) {
        if (directive.toLowerCase() === "off") defaultRank = LEVEL_OFF;
        else if (directive.toLowerCase() in LEVEL_RANK) defaultRank = LEVEL_RANK[parseLogLevel(directive)];
        // A bare target name enables everything for it, as RUST_LOG does.
        else targets.push([directive, LEVEL_RANK.trace]);
        continue;
      }
      const target = directive.slice(0, eq).trim();
      const levelText = directive.slice(eq + 1).trim();
      if (target === "") throw new LogFilterError(`invalid log directive "${directive}": empty target`);
      const rank = levelText.toLowerCase() === "off" ? LEVEL_OFF : LEVEL_RANK[parseLogLevel(levelText)];
      targets.push([target, rank]);
    }
    return new LogFilter(defaultRank, targets);
  }

  /** Whether a line at `level` from `target` passes. */
  enabled(target: string, level: LogLevel): boolean {
    const rank = LEVEL_RANK[level];
    for (const [name, min] of this.#targets) {
      if (target === name || target.startsWith(name + ".")) return rank >= min;
    }
    return rank >= this.#defaultRank;
  }
}

/** Where formatted log lines go (one call per line, without the newline). */
export type LogSink = (line: string) => void;

/** How often buffered lines are written out. */
export const LOG_FLUSH_INTERVAL_MS = 10;
/** Buffered bytes that trigger an immediate write. */
export const LOG_FLUSH_BYTES = 64 * 1024;
/** Buffered bytes beyond which new lines are dropped (and counted) until the next write. */
export const LOG_MAX_BUFFERED_BYTES = 1024 * 1024;

/** Options of {@link BufferedLogWriter}. */
export interface BufferedLogWriterOptions {
  /** Write bytes synchronously; returns how many were written (default: stderr). */
  write?: (bytes: Uint8Array) => number;
  /** Default {@link LOG_FLUSH_INTERVAL_MS}. */
  flushIntervalMs?: number;
  /** Default {@link LOG_MAX_BUFFERED_BYTES}. */
  maxBufferedBytes?: number;
}

/**
 * Batches log lines and writes them in order, at most every {@link LOG_FLUSH_INTERVAL_MS} (or at
 * once past {@link LOG_FLUSH_BYTES}, or for an `ERROR` line), so a burst of lines costs one write
 * instead of one blocking write per line. `flush()` writes everything now; the root logger's writer
 * also flushes on `unload` (which `Deno.exit` dispatches), so nothing is lost on a normal exit.
 * Memory is bounded: past {@link LOG_MAX_BUFFERED_BYTES} lines are dropped and a
 * `dropped N log lines` line says so.
 */
export class BufferedLogWriter {
  readonly #write: (bytes: Uint8Array) => number;
  readonly #intervalMs: number;
  readonly #maxBytes: number;
  #lines: string[] = [];
  #bytes = 0;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: BufferedLogWriterOptions = {}) {
    this.#write = options.write ?? ((bytes) => Deno.stderr.writeSync(bytes));
    this.#intervalMs = options.flushIntervalMs ?? LOG_FLUSH_INTERVAL_MS;
    this.#maxBytes = options.maxBufferedBytes ?? LOG_MAX_BUFFERED_BYTES;
  }

  /** The sink to hand to a logger. */
  readonly sink: LogSink = (line) => this.push(line);

  /** Lines waiting to be written. */
  get pendingLines(): number {
    return this.#lines.length;
  }

  /** Queue one line; `urgent` writes it (and everything before it) at once. */
  push(line: string, urgent = false): void {
    if (this.#bytes + line.length + 1 > this.#maxBytes) {
      this.#dropped++;
    } else {
      this.#lines.push(line);
      this.#bytes += line.length + 1;
    }
    if (urgent || this.#bytes >= LOG_FLUSH_BYTES) this.flush();
    else this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#intervalMs);
    // A pending flush never keeps the process alive: `unload` writes the rest.
    try {
      Deno.unrefTimer(this.#timer as unknown as number);
    } catch {
      // not a Deno timer id (other runtimes): it simply stays referenced
    }
  }

  /** Write every queued line now, in order. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#dropped > 0) {
      this.#lines.push(
        `${new Date().toISOString()}  WARN main: dropped ${this.#dropped} log lines (log output too slow)`,
      );
      this.#dropped = 0;
    }
    if (this.#lines.length === 0) return;
    const bytes = encoder.encode(this.#lines.join("\n") + "\n");
    this.#lines = [];
    this.#bytes = 0;
    let offset = 0;
    try {
      while (offset < bytes.length) {
        const n = this.#write(bytes.subarray(offset));
        if (n <= 0) break;
        offset += n;
      }
    } catch {
      // stderr closed: nothing sensible left to do.
    }
  }
}

const encoder = new TextEncoder();

/** How many `WARN` lines with the same key (target, message, peer) pass per window. */
export const WARN_BURST = 10;
/** The rate-limit window for repeated `WARN` lines. */
export const WARN_WINDOW_MS = 1_000;
/** Keys tracked at once by the rate limiter (oldest evicted first, its summary written). */
export const MAX_RATE_KEYS = 4_096;

interface RateEntry {
  windowStart: number;
  passed: number;
  suppressed: number;
  /** The summary line's prefix and fields, from the first suppressed line. */
  target: string;
  message: string;
  peer: string | undefined;
}

/**
 * Rate limit for repeated `WARN` lines a peer can trigger: at most {@link WARN_BURST} lines with
 * the same target, message, `peer` field (and `reason` field, which names a distinct kind of
 * event) per {@link WARN_WINDOW_MS}; the rest are counted and
 * summarised as one `suppressed K similar lines` line when the window ends. Shared by a root
 * logger and all its children.
 */
export class WarnRateLimiter {
  readonly #entries = new Map<string, RateEntry>();
  readonly #now: () => number;
  readonly #burst: number;
  readonly #windowMs: number;
  #emit: (line: string) => void = () => {};
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: { now?: () => number; burst?: number; windowMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#burst = options.burst ?? WARN_BURST;
    this.#windowMs = options.windowMs ?? WARN_WINDOW_MS;
  }

  /** Where summary lines go (set by the root logger). */
  attach(emit: (line: string) => void): void {
    this.#emit = emit;
  }

  /** Whether a line may pass; counts it otherwise. */
  admit(target: string, message: string, peer: string | undefined): boolean {
    const key = `${target}\u0000${message}\u0000${peer ?? ""}`;
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry && now - entry.windowStart >= this.#windowMs) {
      this.#summarise(entry);
      this.#entries.delete(key);
      entry = undefined;
    }
    if (!entry) {
      if (this.#entries.size >= MAX_RATE_KEYS) {
        const [oldestKey, oldest] = this.#entries.entries().next().value!;
        this.#summarise(oldest);
        this.#entries.delete(oldestKey);
      }
      entry = { windowStart: now, passed: 0, suppressed: 0, target, message, peer };
      this.#entries.set(key, entry);
    }
    if (entry.passed < this.#burst) {
      entry.passed++;
      return true;
    }
    entry.suppressed++;
    this.#arm();
    return false;
  }

  /** Write the summaries of every window that ended (all of them with `all`). */
  sweep(all = false): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (!all && now - entry.windowStart < this.#windowMs) continue;
      this.#summarise(entry);
      this.#entries.delete(key);
    }
    if (this.#entries.size > 0 && !all) this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.sweep();
    }, this.#windowMs);
    try {
      Deno.unrefTimer(this.#timer as unknown as number);
    } catch {
      // not a Deno timer id
    }
  }

  #summarise(entry: RateEntry): void {
    if (entry.suppressed === 0) return;
    let line = `${
      new Date(this.#now()).toISOString()
    }  WARN ${entry.target}: suppressed ${entry.suppressed} similar lines`;
    line += ` message=${formatValue(entry.message)}`;
    if (entry.peer !== undefined) line += ` peer=${formatValue(entry.peer)}`;
    entry.suppressed = 0;
    this.#emit(line);
  }
}

function formatValue(value: LogValue): string {
  if (value === undefined || value === null) return String(value);
  const text = String(value);
  return /[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text;
}

/** State shared by a root logger and all its children. */
interface LogShared {
  filter: LogFilter;
  sink: LogSink;
  limiter: WarnRateLimiter;
  /** The buffered writer behind `sink`, when there is one (`flush`). */
  writer?: BufferedLogWriter;
}

/**
 * A logger bound to one target. Create the root with {@link createLogger}, then use `child`.
 * Every line is passed through {@link redactSecrets} (no token reaches the log), and repeated
 * `WARN` lines are rate-limited per target, message and `peer` field ({@link WarnRateLimiter}).
 */
export class Logger {
  readonly target: string;
  readonly #shared: LogShared;
  readonly #fields: LogFields;

  constructor(
    target: string,
    filter: LogFilter,
    sink: LogSink = () => {},
    fields: LogFields = {},
    shared?: { limiter?: WarnRateLimiter; writer?: BufferedLogWriter },
  ) {
    this.target = target;
    const limiter = shared?.limiter ?? new WarnRateLimiter();
    limiter.attach((line) => sink(redactSecrets(line)));
    this.#shared = { filter, sink, limiter, writer: shared?.writer };
    this.#fields = fields;
  }

  static #derive(parent: LogShared, target: string, fields: LogFields): Logger {
    return new Logger(target, parent.filter, parent.sink, fields, parent);
  }

  /** A logger for a sub-target (`relay` → `relay.track`) or a new target, with extra fixed fields. */
  child(target: string, fields: LogFields = {}): Logger {
    return Logger.#derive(this.#shared, target, { ...this.#fields, ...fields });
  }

  /** Same target, more fixed fields (e.g. a session id). */
  with(fields: LogFields): Logger {
    return Logger.#derive(this.#shared, this.target, { ...this.#fields, ...fields });
  }

  /** Whether `level` would be written (guard expensive formatting with it). */
  enabled(level: LogLevel): boolean {
    return this.#shared.filter.enabled(this.target, level);
  }

  /** Write out buffered lines now (before exiting; the root writer also flushes on `unload`). */
  flush(): void {
    this.#shared.limiter.sweep(true);
    this.#shared.writer?.flush();
  }

  /** Write one line at `level`. */
  log(level: LogLevel, message: string, fields?: LogFields): void {
    const shared = this.#shared;
    if (!shared.filter.enabled(this.target, level)) return;
    if (level === "warn") {
      const peer = fields?.peer ?? this.#fields.peer;
      // A `reason` field names a distinct kind of event (e.g. each authentication refusal reason).
      const reason = fields?.reason ?? this.#fields.reason;
      const kind = reason == null ? message : `${message} (reason=${reason})`;
      if (!shared.limiter.admit(this.target, kind, peer == null ? undefined : String(peer))) return;
    }
    let line = `${new Date().toISOString()} ${level.toUpperCase().padStart(5)} ${this.target}: ${message}`;
    for (const [key, value] of Object.entries(this.#fields)) line += ` ${key}=${formatValue(value)}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        line += ` ${key}=${formatValue(value)}`;
      }
    }
    line = redactSecrets(line);
    if (level === "error" && shared.writer) shared.writer.push(line, true);
    else shared.sink(line);
  }

  /** Very detailed tracing. */
  trace(message: string, fields?: LogFields): void {
    this.log("trace", message, fields);
  }
  /** Debugging detail. */
  debug(message: string, fields?: LogFields): void {
    this.log("debug", message, fields);
  }
  /** Normal operation. */
  info(message: string, fields?: LogFields): void {
    this.log("info", message, fields);
  }
  /** Something went wrong for one peer; the relay carries on. */
  warn(message: string, fields?: LogFields): void {
    this.log("warn", message, fields);
  }
  /** Something went wrong for the relay. */
  error(message: string, fields?: LogFields): void {
    this.log("error", message, fields);
  }
}

/**
 * Create the root logger from a filter (see {@link LogFilter.parse}). Without a `sink`, lines go
 * to stderr through a {@link BufferedLogWriter} that is flushed on `unload` (`Deno.exit`).
 */
export function createLogger(filter: LogFilter, sink?: LogSink): Logger {
  if (sink) return new Logger("main", filter, sink);
  const writer = new BufferedLogWriter();
  const logger = new Logger("main", filter, writer.sink, {}, { writer });
  globalThis.addEventListener("unload", () => logger.flush());
  return logger;
}

/** A logger that writes nothing (for unit tests). */
export function silentLogger(): Logger {
  return new Logger("test", LogFilter.parse("off"), () => {});
}
