/**
 * Human-readable durations in the `humantime` syntax used by upstream moq-relay:
 * `500ms`, `5s`, `2m`, `1h 30m`, `1day`, `0`. Units are case-sensitive as upstream
 * (`m` = minute, `M` = month). Decimals (`1.5s`) are accepted as an extension.
 *
 * @module
 */

/** Raised when a duration cannot be parsed; the message shows the accepted forms. */
export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DurationError";
  }
}

const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60 * MS_PER_SECOND;
const MS_PER_HOUR = 60 * MS_PER_MINUTE;
const MS_PER_DAY = 24 * MS_PER_HOUR;

/** Milliseconds per unit name (humantime's spellings). */
const UNIT_MS: Record<string, number> = {
  nsec: 1e-6,
  ns: 1e-6,
  usec: 1e-3,
  us: 1e-3,
  "µs": 1e-3,
  msec: 1,
  ms: 1,
  seconds: MS_PER_SECOND,
  second: MS_PER_SECOND,
  secs: MS_PER_SECOND,
  sec: MS_PER_SECOND,
  s: MS_PER_SECOND,
  minutes: MS_PER_MINUTE,
  minute: MS_PER_MINUTE,
  mins: MS_PER_MINUTE,
  min: MS_PER_MINUTE,
  m: MS_PER_MINUTE,
  hours: MS_PER_HOUR,
  hour: MS_PER_HOUR,
  hrs: MS_PER_HOUR,
  hr: MS_PER_HOUR,
  h: MS_PER_HOUR,
  days: MS_PER_DAY,
  day: MS_PER_DAY,
  d: MS_PER_DAY,
  weeks: 7 * MS_PER_DAY,
  week: 7 * MS_PER_DAY,
  w: 7 * MS_PER_DAY,
  // humantime: a month is 30.44 days, a year 365.25 days.
  months: 2_630_016 * MS_PER_SECOND,
  month: 2_630_016 * MS_PER_SECOND,
  M: 2_630_016 * MS_PER_SECOND,
  years: 31_557_600 * MS_PER_SECOND,
  year: 31_557_600 * MS_PER_SECOND,
  y: 31_557_600 * MS_PER_SECOND,
};

/** Options for {@link parseDuration}. */
export interface DurationOptions {
  /**
   * Unit of a bare number such as `5` (for keys that upstream takes in whole seconds).
   * Without it a bare number other than `0` is an error.
   */
  bareUnit?: "s" | "ms";
}

const EXAMPLES = `e.g. "500ms", "5s", "2m", "1h 30m" or "0"`;
const TERM_SOURCE = String.raw`\s*(\d+(?:\.\d+)?)\s*([A-Za-zµ]+)`;

/**
 * Parse a duration and return it in milliseconds (fractional for sub-millisecond units).
 * Throws {@link DurationError} naming the input and the accepted forms.
 */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const input = text.trim();
  if (input === "") throw new DurationError(`empty duration: expected a number with a unit, ${EXAMPLES}`);
  if (/^\d+(\.\d+)?$/.test(input)) {
    const value = Number(input);
    if (value === 0) return 0;
    if (options.bareUnit === "s") return value * MS_PER_SECOND;
    if (options.bareUnit === "ms") return value;
    throw new DurationError(
      `invalid duration "${text}": missing unit, write e.g. "${input}s" or "${input}ms"`,
    );
  }
  const term = new RegExp(TERM_SOURCE, "y");
  let total = 0;
  let index = 0;
  while (index < input.length) {
    term.lastIndex = index;
    const match = term.exec(input);
    if (match === null) {
      throw new DurationError(`invalid duration "${text}": expected numbers with units, ${EXAMPLES}`);
    }
    const unit = UNIT_MS[match[2]];
    if (unit === undefined) {
      throw new DurationError(
        `invalid duration "${text}": unknown unit "${
          match[2]
        }" (use ns, us, ms, s, m, h, d, w, M or y), ${EXAMPLES}`,
      );
    }
    total += Number(match[1]) * unit;
    index = term.lastIndex;
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) {
    throw new DurationError(`invalid duration "${text}": too large`);
  }
  return total;
}

/** Format milliseconds the way {@link parseDuration} reads them back (`1h 30m`, `500ms`, `0`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  const parts: string[] = [];
  let rest = ms;
  for (
    const [unit, size] of [["d", MS_PER_DAY], ["h", MS_PER_HOUR], ["m", MS_PER_MINUTE], [
      "s",
      MS_PER_SECOND,
    ]] as const
  ) {
    if (rest >= size) {
      const count = Math.floor(rest / size);
      parts.push(`${count}${unit}`);
      rest -= count * size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${Number(rest.toFixed(6))}ms`);
  return parts.join(" ");
}
