/**
 * The command line: the subcommand / help / version dispatch ({@link parseCommand}), the flag
 * parser ({@link parseFlags}), the `MOQ_*` environment reader ({@link readEnv}) and the help text
 * ({@link helpText}). Flags and help are both derived from the key table in `keys.ts`.
 *
 * Syntax: `moq-relay-deno [FILE] [--config FILE] [--key value | --key=value]…`, list flags are
 * repeatable (some also split on `,`), booleans are `--flag` or `--flag=false`, `--` ends flags.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatDuration } from "./_duration.ts";
import { ConfigError } from "./_errors.ts";
import { KEY_BY_FLAG, type KeyDef, KEYS, MAX_TIMER_MS, META_FLAGS, tableOf } from "./keys.ts";
import { didYouMean, type Layer } from "./_settings.ts";
import { PROGRAM_NAME, VERSION } from "./version.ts";

/** What the process was asked to do. */
export type Command =
  /** Run the relay with these arguments (hand them to `loadConfig`). */
  | { kind: "run"; args: string[] }
  /** `token …`: the token tool gets the arguments after `token`. */
  | { kind: "token"; args: string[] }
  /** Print `text` (the help) to stdout and exit 0. */
  | { kind: "help"; text: string }
  /** Print `text` (`moq-relay-deno 0.1.0`) to stdout and exit 0. */
  | { kind: "version"; text: string };

/**
 * Decide what to do from the raw arguments (without the program name). `token` as the first
 * argument selects the token tool; `--help`/`-h` and `--version`/`-V` anywhere before `--` win over
 * everything else. Anything else is a relay run (flags are checked later by `loadConfig`).
 */
export function parseCommand(args: string[]): Command {
  if (args[0] === "token") return { kind: "token", args: args.slice(1) };
  for (const arg of args) {
    if (arg === "--") break;
    if (arg === "--help" || arg === "-h") return { kind: "help", text: helpText() };
    if (arg === "--version" || arg === "-V") return { kind: "version", text: `${PROGRAM_NAME} ${VERSION}` };
  }
  return { kind: "run", args };
}

/** The result of {@link parseFlags}. */
export interface ParsedFlags {
  /** The config file, from the positional argument or `--config` / `--file`. */
  file?: string;
  /** Raw flag values by canonical key path. */
  values: Layer;
}

/** Parse `true`/`false` (also `1/0`, `yes/no`, `on/off`), case-insensitive; undefined when invalid. */
export function parseBool(text: string): boolean | undefined {
  const value = text.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(value)) return true;
  if (["false", "0", "no", "off"].includes(value)) return false;
  return undefined;
}

function isBoolKind(def: KeyDef): boolean {
  return def.kind === "bool" || def.kind === "mesh";
}

function isListKind(def: KeyDef): boolean {
  return def.kind === "list" || def.kind === "public";
}

function splitList(def: KeyDef, value: string): string[] {
  return def.comma ? value.split(",").map((part) => part.trim()).filter((part) => part !== "") : [value];
}

const META_FLAG_NAMES = new Set(META_FLAGS.flatMap((meta) => meta.flags));

/** Flags that name the config file (the positional FILE does the same). */
const FILE_FLAGS: readonly string[] = ["config", "file"];

/**
 * What `parseArgs` needs to know to tokenize: which flags take a value (`string`) and which do
 * not (`boolean`, also written `--flag=false`). Repeats, aliases and conversion are handled on
 * the tokens, so every flag is declared once, without `multiple`.
 */
const FLAG_OPTIONS: Record<string, { type: "string" | "boolean" }> = Object.fromEntries([
  ...[...KEY_BY_FLAG].map(([flag, def]) => [flag, { type: isBoolKind(def) ? "boolean" : "string" }] as const),
  ...FILE_FLAGS.map((flag) => [flag, { type: "string" }] as const),
]);

/**
 * Parse relay flags into raw values (no conversion yet). Throws {@link ConfigError} for an unknown
 * flag, a missing value, a bad boolean, a scalar flag given twice, or more than one config file.
 *
 * Tokenizing is `node:util` `parseArgs` (non-strict, with tokens): it splits `--flag=value`,
 * takes the next argument as a value, ends flags at `--` and tells short options apart. Its
 * strict mode cannot be used: it rejects `--flag=false` for booleans, and its error wording
 * (unknown options, missing values) is not this relay's, so those checks are done here.
 */
export function parseFlags(args: string[]): ParsedFlags {
  const { tokens } = parseArgs({
    args,
    options: FLAG_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Layer = new Map();
  const files: Array<{ file: string; from: string }> = [];
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      files.push({ file: token.value, from: "positional FILE" });
      continue;
    }
    const raw = args[token.index];
    if (!raw.startsWith("--")) {
      throw new ConfigError(`unknown option ${raw}: only long flags (--name) are accepted; run with --help`, {
        key: raw,
      });
    }
    const name = token.name;
    const takeValue = (): string => {
      const value = token.value;
      // parseArgs takes the next argument even when it is another flag: that is a missing value.
      if (value === undefined || (!token.inlineValue && value.startsWith("--") && value.length > 2)) {
        throw new ConfigError(`--${name} needs a value: write --${name} VALUE or --${name}=VALUE`, {
          key: name,
        });
      }
      return value;
    };
    if (FILE_FLAGS.includes(name)) {
      files.push({ file: takeValue(), from: `--${name}` });
      continue;
    }
    const def = KEY_BY_FLAG.get(name);
    if (def === undefined) {
      const hint = didYouMean(name, [...KEY_BY_FLAG.keys(), ...META_FLAG_NAMES], (s) => `--${s}`);
      throw new ConfigError(`unknown flag --${name}${hint}; run with --help for the list`, { key: name });
    }
    const source = { kind: "flag" as const, name };
    if (isBoolKind(def)) {
      const inline = token.value;
      const value = inline === undefined ? true : parseBool(inline);
      if (value === undefined) {
        throw new ConfigError(
          `--${name}: expected true or false (--${name} or --${name}=false), got "${inline}"`,
          { key: def.path },
        );
      }
      setOnce(values, def, { value, source });
      continue;
    }
    const text = takeValue();
    if (isListKind(def)) {
      const existing = values.get(def.path);
      const list = existing === undefined ? [] : existing.value as string[];
      values.set(def.path, { value: [...list, ...splitList(def, text)], source: existing?.source ?? source });
      continue;
    }
    setOnce(values, def, { value: text, source });
  }
  if (files.length > 1) {
    throw new ConfigError(
      `more than one config file given (${files.map((f) => `${f.from} "${f.file}"`).join(", ")}); give one`,
      { key: "file" },
    );
  }
  return { file: files[0]?.file, values };
}

function setOnce(
  values: Layer,
  def: KeyDef,
  setting: { value: unknown; source: { kind: "flag"; name: string } },
) {
  const existing = values.get(def.path);
  if (existing !== undefined) {
    const first = existing.source.kind === "flag" ? `--${existing.source.name}` : def.path;
    throw new ConfigError(
      `--${setting.source.name}: ${def.path} was already given by ${first}; give it once`,
      { key: def.path },
    );
  }
  values.set(def.path, setting);
}

/** Environment variables this relay reads besides the `MOQ_*` keys. */
export const OTHER_ENV_VARS: readonly string[] = ["RUST_LOG"];

/**
 * Read `MOQ_*` variables into raw values. Empty variables count as unset. Unknown `MOQ_*` names
 * are reported in `warnings` (a typo would otherwise be silently ignored). Throws
 * {@link ConfigError} for an invalid boolean.
 */
export function readEnv(env: Record<string, string>, warnings: string[]): Layer {
  const values: Layer = new Map();
  const known = new Set<string>();
  for (const def of KEYS) {
    for (const name of def.env) {
      known.add(name);
      const raw = env[name];
      if (raw === undefined || raw === "" || values.has(def.path)) continue;
      const source = { kind: "env" as const, name };
      if (isBoolKind(def)) {
        const value = parseBool(raw);
        if (value === undefined) {
          throw new ConfigError(`${name}: expected true or false, got "${raw}"`, { key: def.path });
        }
        values.set(def.path, { value, source });
      } else if (isListKind(def)) {
        values.set(def.path, { value: splitList(def, raw), source });
      } else {
        values.set(def.path, { value: raw, source });
      }
    }
  }
  const names = Object.keys(env).filter((name) => name.startsWith("MOQ_") && !known.has(name)).sort();
  for (const name of names) {
    warnings.push(`unknown environment variable ${name} ignored${didYouMean(name, known)}`);
  }
  return values;
}

const TABLE_TITLES: Record<string, string> = {
  log: "Logging",
  server: "QUIC listener (WebTransport over HTTP/3 and raw QUIC)",
  "server.tls": "QUIC listener TLS",
  "server.quic": "QUIC transport tuning",
  "server.tcp": "Upstream qmux TCP listener",
  "server.unix": "Upstream qmux Unix socket listener",
  "server.unix.allow": "Upstream qmux Unix socket peer filter",
  web: "Web listeners (HTTP endpoints and WebSocket sessions)",
  "web.http": "Plain HTTP listener",
  "web.https": "HTTPS listener",
  internal: "Internal ops listener",
  auth: "Authentication",
  "auth.public": "Anonymous access",
  "auth.tls": "Deprecated outbound auth TLS",
  cluster: "Cluster",
  client: "Outbound dials (cluster)",
  "client.tls": "Outbound TLS",
  "client.websocket": "Outbound WebSocket fallback",
  stats: "Upstream stats broadcasts",
  cache: "Cache",
  iroh: "Upstream iroh P2P",
  limits: "Per-session limits (this relay only)",
};

function flagLine(flags: string[], metavar: string): string {
  const sep = metavar.startsWith("[") || metavar === "" ? "" : " ";
  return flags.map((flag, i) => (i === 0 ? `--${flag}${sep}${metavar}` : `--${flag}`)).join(", ");
}

/** The `--help` text: usage, then every flag grouped by TOML table with its env var and default. */
export function helpText(): string {
  const lines: string[] = [
    `${PROGRAM_NAME} ${VERSION}: a Media over QUIC relay (moq-lite), a drop-in for moq-relay`,
    "",
    "Usage:",
    `  ${PROGRAM_NAME} [FILE] [FLAGS]      run the relay (FILE = TOML config, see relay.toml)`,
    `  ${PROGRAM_NAME} token <generate|sign|verify> …   key and token tool`,
    "",
    "With no FILE, no flags and no MOQ_* variables the relay runs a local development setup",
    "(QUIC + HTTP on 127.0.0.1:4443, ops on 127.0.0.1:9090, self-signed cert, anonymous access under anon/).",
    "",
    "Precedence: flag > environment variable > config file > default. List flags are repeatable;",
    'those marked "A[,A…]" also split on commas. Booleans: --web-ws or --web-ws=false. Durations: 500ms, 5s,',
    "1h 30m, 0 (at most 24d 20h 31m 23s 647ms, the longest timer). Sizes: 512MB, 8GiB, 25%.",
    "",
    "General:",
  ];
  for (const meta of META_FLAGS) lines.push(`  ${flagLine(meta.flags, meta.metavar)}`, `      ${meta.help}`);
  let table: string | undefined;
  for (const def of KEYS) {
    if (!def.supported || def.flags.length === 0) continue;
    const current = tableOf(def.path);
    if (current !== table) {
      table = current;
      lines.push("", `${TABLE_TITLES[current] ?? current} [${current}]:`);
    }
    const metavar = def.comma ? `${def.metavar}[,${def.metavar}…]` : def.metavar;
    lines.push(`  ${flagLine(def.flags, metavar)}`, `      ${def.help}`);
    const facts = [`toml ${def.path}`];
    if (def.env.length > 0) facts.push(`env ${def.env.join(", ")}`);
    if (def.defaultText !== undefined) facts.push(`default ${def.defaultText}`);
    if (def.maxMs !== undefined && def.maxMs < MAX_TIMER_MS) facts.push(`max ${formatDuration(def.maxMs)}`);
    lines.push(`      [${facts.join("; ")}]`);
  }
  lines.push("", "Upstream options accepted for compatibility but not supported (ignored with a warning):");
  for (const def of KEYS) {
    if (def.supported || def.flags.length === 0) continue;
    const metavar = def.comma ? `${def.metavar}[,${def.metavar}…]` : def.metavar;
    lines.push(`  ${flagLine(def.flags, metavar)}  [toml ${def.path}; env ${def.env.join(", ")}]`);
  }
  const tables = KEYS.filter((def) => def.kind === "table").map((def) => `[${def.path}]`);
  lines.push(
    `  config file only: ${tables.join(", ")}`,
    "",
    "Other environment variables:",
    "  RUST_LOG    log filter such as debug or relay=trace,info; replaces the log level when non-empty",
  );
  return lines.join("\n");
}
