/**
 * A small, strict parser and validator of the Prometheus text exposition format 0.0.4, used by the
 * tests to check the `/metrics` page. Stricter than Prometheus itself: every family must be
 * declared with `# HELP` and `# TYPE` before its samples, a family's samples must be contiguous,
 * counters must end in `_total` and be non-negative, and the text must end with a newline.
 *
 * @module
 */

/** Metric types of the text format. */
export type ParsedMetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/** One parsed sample line. */
export interface ParsedSample {
  /** The sample's own name (for histograms/summaries it may carry a `_bucket`/`_sum`/`_count` suffix). */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Optional timestamp (ms). */
  timestampMs?: number;
}

/** One parsed family. */
export interface ParsedFamily {
  name: string;
  help: string;
  type: ParsedMetricType;
  samples: ParsedSample[];
}

/** Raised for text that is not valid (strict) exposition format; names the line. */
export class MetricsParseError extends Error {
  /** 1-based line number of the offending line. */
  readonly line: number;
  constructor(line: number, message: string) {
    super(`metrics line ${line}: ${message}`);
    this.name = "MetricsParseError";
    this.line = line;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const METRIC_NAME_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME_PREFIX = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPES = new Set<ParsedMetricType>(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parse a sample value (`NaN`, `+Inf`, `-Inf`, `Inf`, decimal or exponent notation). */
export function parseSampleValue(text: string): number | undefined {
  if (text === "NaN") return NaN;
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!FLOAT.test(text)) return undefined;
  return Number(text);
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(sampleName: string, families: Map<string, ParsedFamily>): ParsedFamily | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = families.get(sampleName.slice(0, -suffix.length));
    if (!base) continue;
    if (base.type === "histogram") return base;
    if (base.type === "summary" && suffix !== "_bucket") return base;
  }
  return undefined;
}

function unescapeHelp(text: string, line: number): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === "\\") out += "\\";
    else if (next === "n") out += "\n";
    else throw new MetricsParseError(line, `bad escape "\\${next ?? ""}" in HELP text (only \\\\ and \\n)`);
  }
  return out;
}

/** Parse `{a="b",c="d"}` at the start of `text`; returns the labels and the rest of the line. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // past "{"
  for (;;) {
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) };
    const nameMatch = LABEL_NAME_PREFIX.exec(text.slice(i));
    if (!nameMatch) throw new MetricsParseError(line, `bad label name at "${text.slice(i, i + 20)}"`);
    const name = nameMatch[0];
    if (name.startsWith("__")) throw new MetricsParseError(line, `label name "${name}" is reserved`);
    if (Object.hasOwn(labels, name)) throw new MetricsParseError(line, `label "${name}" appears twice`);
    i += name.length;
    if (text[i] !== "=" || text[i + 1] !== '"') {
      throw new MetricsParseError(line, `expected ="…" after label "${name}"`);
    }
    i += 2;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new MetricsParseError(line, `unterminated value of label "${name}"`);
      i++;
      if (c === '"') break;
      if (c !== "\\") {
        value += c;
        continue;
      }
      const e = text[i++];
      if (e === "\\") value += "\\";
      else if (e === '"') value += '"';
      else if (e === "n") value += "\n";
      else throw new MetricsParseError(line, `bad escape "\\${e ?? ""}" in label "${name}"`);
    }
    labels[name] = value;
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text[i] !== "}") throw new MetricsParseError(line, `expected , or } after label "${name}"`);
  }
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/**
 * Parse and validate exposition text. Throws {@link MetricsParseError} naming the first bad line.
 * Returns the families by name, in the order they appear.
 */
export function parseMetrics(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  if (text !== "" && !text.endsWith("\n")) {
    throw new MetricsParseError(text.split("\n").length, "the text must end with a newline");
  }
  const lines = text.split("\n");
  lines.pop(); // after the final newline
  const seriesSeen = new Set<string>();
  const helpSeen = new Set<string>();
  const typeSeen = new Set<string>();
  const finished = new Set<string>(); // families whose sample block ended
  let current: ParsedFamily | undefined; // family of the last sample line
  for (let n = 0; n < lines.length; n++) {
    const line = n + 1;
    const raw = lines[n];
    if (raw.includes("\r")) throw new MetricsParseError(line, "carriage return in line (use \\n line ends)");
    if (raw.trim() === "") continue;
    if (raw.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) continue; // an ordinary comment
      const [, keyword, name, restRaw] = m;
      const rest = restRaw ?? "";
      if (!METRIC_NAME.test(name)) throw new MetricsParseError(line, `invalid metric name "${name}"`);
      if (current && current.name !== name) {
        finished.add(current.name);
        current = undefined;
      }
      let family = families.get(name);
      if (family && (family.samples.length > 0 || finished.has(name))) {
        throw new MetricsParseError(line, `${keyword} for "${name}" after its samples`);
      }
      if (!family) {
        family = { name, help: "", type: "untyped", samples: [] };
        families.set(name, family);
      }
      if (keyword === "HELP") {
        if (helpSeen.has(name)) throw new MetricsParseError(line, `second HELP for "${name}"`);
        helpSeen.add(name);
        family.help = unescapeHelp(rest, line);
      } else {
        if (typeSeen.has(name)) throw new MetricsParseError(line, `second TYPE for "${name}"`);
        const type = rest.trim() as ParsedMetricType;
        if (!TYPES.has(type)) throw new MetricsParseError(line, `unknown metric type "${rest.trim()}"`);
        typeSeen.add(name);
        family.type = type;
        if (type === "counter" && !name.endsWith("_total")) {
          throw new MetricsParseError(line, `counter "${name}" must end in _total`);
        }
      }
      continue;
    }
    const nameMatch = METRIC_NAME_PREFIX.exec(raw);
    if (!nameMatch) throw new MetricsParseError(line, `invalid metric name at "${raw.slice(0, 40)}"`);
    const name = nameMatch[0];
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, line));
    if (!/^ +\S/.test(rest)) {
      throw new MetricsParseError(line, `expected a space and a value after "${name}"`);
    }
    const fields = rest.trim().split(/ +/);
    if (fields.length > 2) throw new MetricsParseError(line, "too many fields after the value");
    const value = parseSampleValue(fields[0]);
    if (value === undefined) throw new MetricsParseError(line, `value "${fields[0]}" is not a number`);
    let timestampMs: number | undefined;
    if (fields.length === 2) {
      if (!/^-?\d+$/.test(fields[1])) throw new MetricsParseError(line, `bad timestamp "${fields[1]}"`);
      timestampMs = Number(fields[1]);
    }
    const family = familyOf(name, families);
    if (!family) throw new MetricsParseError(line, `sample "${name}" has no HELP/TYPE declared before it`);
    if (!helpSeen.has(family.name)) throw new MetricsParseError(line, `family "${family.name}" has no HELP`);
    if (!typeSeen.has(family.name)) throw new MetricsParseError(line, `family "${family.name}" has no TYPE`);
    if (finished.has(family.name)) {
      throw new MetricsParseError(line, `samples of "${family.name}" are not contiguous`);
    }
    if (current && current !== family) finished.add(current.name);
    current = family;
    if (family.type === "counter" && !(value >= 0)) {
      throw new MetricsParseError(line, `counter "${name}" has negative or NaN value ${fields[0]}`);
    }
    const series = `${name}${labelKey(labels)}`;
    if (seriesSeen.has(series)) {
      throw new MetricsParseError(line, `duplicate series ${name}${labelKey(labels)}`);
    }
    seriesSeen.add(series);
    family.samples.push({ name, labels, value, ...(timestampMs === undefined ? {} : { timestampMs }) });
  }
  for (const family of families.values()) {
    if (!helpSeen.has(family.name) || !typeSeen.has(family.name)) {
      throw new MetricsParseError(lines.length, `family "${family.name}" lacks a HELP or TYPE line`);
    }
  }
  return families;
}

/**
 * The value of the sample `name` whose labels include every pair in `labels` (exactly one must
 * match). Throws when none or several match.
 */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches: ParsedSample[] = [];
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) matches.push(s);
    }
  }
  if (matches.length !== 1) {
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${matches.length}`);
  }
  return matches[0].value;
}
