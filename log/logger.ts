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
 * @module
 */

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

/** Where formatted log lines go. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** The default sink: one line per call on stderr. */
export const stderrSink: LogSink = (line) => {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nothing sensible left to do.
  }
};

function formatValue(value: LogValue): string {
  if (value === undefined || value === null) return String(value);
  const text = String(value);
  return /[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text;
}

/** A logger bound to one target. Create the root with {@link createLogger}, then use `child`. */
export class Logger {
  readonly target: string;
  readonly #filter: LogFilter;
  readonly #sink: LogSink;
  readonly #fields: LogFields;

  constructor(target: string, filter: LogFilter, sink: LogSink = stderrSink, fields: LogFields = {}) {
    this.target = target;
    this.#filter = filter;
    this.#sink = sink;
    this.#fields = fields;
  }

  /** A logger for a sub-target (`relay` → `relay.track`) or a new target, with extra fixed fields. */
  child(target: string, fields: LogFields = {}): Logger {
    return new Logger(target, this.#filter, this.#sink, { ...this.#fields, ...fields });
  }

  /** Same target, more fixed fields (e.g. a session id). */
  with(fields: LogFields): Logger {
    return new Logger(this.target, this.#filter, this.#sink, { ...this.#fields, ...fields });
  }

  /** Whether `level` would be written (guard expensive formatting with it). */
  enabled(level: LogLevel): boolean {
    return this.#filter.enabled(this.target, level);
  }

  /** Write one line at `level`. */
  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (!this.#filter.enabled(this.target, level)) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase().padStart(5)} ${this.target}: ${message}`;
    for (const [key, value] of Object.entries(this.#fields)) line += ` ${key}=${formatValue(value)}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        line += ` ${key}=${formatValue(value)}`;
      }
    }
    this.#sink(line);
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

/** Create the root logger from a filter (see {@link LogFilter.parse}). */
export function createLogger(filter: LogFilter, sink: LogSink = stderrSink): Logger {
  return new Logger("main", filter, sink);
}

/** A logger that writes nothing (for unit tests). */
export function silentLogger(): Logger {
  return new Logger("test", LogFilter.parse("off"), () => {});
}
