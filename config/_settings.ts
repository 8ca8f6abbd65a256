/**
 * Raw settings as read from one source (flags, environment, TOML file) before conversion, and how
 * to name their origin in messages.
 *
 * @module
 */

/** Where a raw value came from. */
export type Source =
  | { kind: "flag"; name: string }
  | { kind: "env"; name: string }
  | { kind: "file"; file: string; key: string };

/** A raw value of one key from one source. Flag/env values are text (or lists/booleans); file values are TOML. */
export interface Setting {
  value: unknown;
  source: Source;
}

/** All raw values one source gave, keyed by canonical key path. */
export type Layer = Map<string, Setting>;

/** How a source is named in messages: `--server-bind`, `MOQ_SERVER_BIND`, `relay.toml: server.bind`. */
export function describeSource(source: Source): string {
  switch (source.kind) {
    case "flag":
      return `--${source.name}`;
    case "env":
      return source.name;
    case "file":
      return `${source.file}: ${source.key}`;
  }
}

/** Render a raw value for an error message. */
export function showValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}`;
  if (value instanceof Date) return value.toISOString();
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? text.slice(0, 77) + "..." : text;
  } catch {
    return String(value);
  }
}

/** Edit distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/** The closest candidate within a small edit distance, for a " (did you mean X?)" suffix, or "". */
export function didYouMean(input: string, candidates: Iterable<string>, format = (s: string) => s): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(input.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(input, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? "" : ` (did you mean ${format(best)}?)`;
}
