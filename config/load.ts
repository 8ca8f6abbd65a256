/**
 * Loads the relay configuration: command-line flags, `MOQ_*` environment variables and the TOML
 * file (current or legacy layout), merged with precedence flag > env > file > default, converted
 * into the normalised {@link RelayConfig} and validated (relay.md §1.5). Every problem is a
 * one-line {@link ConfigError}; non-fatal oddities (deprecated spellings, upstream options this
 * relay ignores, unknown `[auth]` keys) are returned as warnings for the caller to log.
 *
 * Unlike upstream, values from the TOML file are never overwritten by a flag's default
 * (relay.md §1.2 / §8 item 3): `[log] level`, `[web] ws`, … are honoured.
 *
 * @module
 */

import { LogFilter, LogFilterError, parseLogLevel } from "../log/logger.ts";
import { normalizePath } from "../relay/path.ts";
import { isIpv4, isIpv6, parseHostPort, parseIpPort } from "./address.ts";
import { parseFlags, readEnv } from "./cli.ts";
import { baseConfig, defaultDevConfig } from "./defaults.ts";
import { DurationError, type DurationOptions, parseDuration } from "./duration.ts";
import { ConfigError } from "./errors.ts";
import { DEFAULT_SERVER_BIND, KEYS, SUPPORTED_VERSIONS, UNSUPPORTED_VERSIONS } from "./keys.ts";
import { describeSource, type Layer, type Setting, showValue } from "./settings.ts";
import { parseSize, SizeError } from "./size.ts";
import { parseTomlText, tomlLayer } from "./toml.ts";
import type { RelayConfig } from "./types.ts";

export { ConfigError } from "./errors.ts";
export { defaultDevConfig } from "./defaults.ts";

/** What {@link LoadOptions.stat} reports about a path. */
export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
}

/** Injection points for tests (defaults use the real file system). */
export interface LoadOptions {
  /** Read a text file (the config file and `cluster.token`). Default `Deno.readTextFile`. */
  readFile?: (path: string) => Promise<string>;
  /** Inspect a path (`auth.key`, `auth.key_dir`). Default `Deno.stat`. */
  stat?: (path: string) => Promise<FileInfo>;
  /** Memory that `NN%` sizes refer to (default: physical memory or the cgroup limit). */
  memoryBytes?: number | (() => number);
}

/** The result of {@link loadConfig}. */
export interface LoadResult {
  config: RelayConfig;
  /** Deprecations and ignored settings, one line each, for the caller to log as warnings. */
  warnings: string[];
  /** True when the embedded development configuration was used ({@link defaultDevConfig}). */
  development: boolean;
}

/** Keys of the `auth.public` family: the highest-precedence source that sets any of them wins as a whole. */
const PUBLIC_FAMILY = ["auth.public", "auth.public.subscribe", "auth.public.publish"];
/** Settings that do not stop the development default from applying. */
const LOG_ONLY = new Set(["log.level"]);

/** Maximum `cluster.id` + 1: ids travel to JavaScript peers as numbers (relay.md §1.3). */
const CLUSTER_ID_LIMIT = 2n ** 53n;

/**
 * Load and validate the configuration.
 *
 * - `args`: command-line arguments after the program name (without a `token` subcommand; see
 *   `parseCommand`).
 * - `env`: the environment (`Deno.env.toObject()`); `MOQ_*` variables and `RUST_LOG` are read.
 *
 * With no config file, no flags and no `MOQ_*` variables (log level settings excepted) the
 * embedded development configuration is returned ({@link defaultDevConfig}). With flags or
 * variables but no file, the configuration is built from defaults + flags + env, like upstream.
 *
 * Throws {@link ConfigError} for anything fatal.
 */
export async function loadConfig(
  args: string[],
  env: Record<string, string>,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const readFile = options.readFile ?? ((path: string) => Deno.readTextFile(path));
  const stat = options.stat ?? defaultStat;
  const warnings: string[] = [];

  const flags = parseFlags(args);
  const envLayer = readEnv(env, warnings);
  let fileLayer: Layer = new Map();
  const file = flags.file;
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file);
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${fsReason(error)}`, {
        key: "file",
        file,
        cause: error,
      });
    }
    fileLayer = tomlLayer(parseTomlText(text, file), file, warnings);
  }

  const reader = new Reader(merge([flags.values, envLayer, fileLayer]), file, options.memoryBytes);
  const development = file === undefined && onlyLogSettings(flags.values) && onlyLogSettings(envLayer);
  let config: RelayConfig;
  if (development) {
    config = defaultDevConfig();
    config.log.level = readLogLevel(reader);
  } else {
    config = buildConfig(reader, warnings);
    await checkFiles(config, reader, readFile, stat);
  }
  if (file !== undefined) config.file = file;

  const rustLog = env["RUST_LOG"]?.trim();
  if (rustLog) {
    try {
      LogFilter.parse(rustLog, config.log.level);
    } catch (error) {
      if (!(error instanceof LogFilterError)) throw error;
      throw new ConfigError(`RUST_LOG: ${error.message} (e.g. RUST_LOG=debug or RUST_LOG=relay=trace,info)`, {
        key: "RUST_LOG",
      });
    }
    config.log.filter = rustLog;
  }
  return { config, warnings, development };
}

async function defaultStat(path: string): Promise<FileInfo> {
  const info = await Deno.stat(path);
  return { isFile: info.isFile, isDirectory: info.isDirectory };
}

function fsReason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

function onlyLogSettings(layer: Layer): boolean {
  return [...layer.keys()].every((path) => LOG_ONLY.has(path));
}

/** Merge layers, first = highest precedence. The `auth.public` family is taken from one layer. */
function merge(layers: Layer[]): Layer {
  const merged: Layer = new Map();
  for (const def of KEYS) {
    if (PUBLIC_FAMILY.includes(def.path)) continue;
    const setting = layers.map((layer) => layer.get(def.path)).find((s) => s !== undefined);
    if (setting !== undefined) merged.set(def.path, setting);
  }
  const winner = layers.find((layer) => PUBLIC_FAMILY.some((path) => layer.has(path)));
  if (winner !== undefined) {
    for (const path of PUBLIC_FAMILY) {
      const setting = winner.get(path);
      if (setting !== undefined) merged.set(path, setting);
    }
  }
  return merged;
}

/** Typed access to merged settings; every conversion error names the setting's source. */
class Reader {
  readonly #settings: Layer;
  readonly file?: string;
  readonly #memory?: number | (() => number);

  constructor(settings: Layer, file: string | undefined, memory: number | (() => number) | undefined) {
    this.#settings = settings;
    this.file = file;
    this.#memory = memory;
  }

  has(path: string): boolean {
    return this.#settings.has(path);
  }

  setting(path: string): Setting | undefined {
    return this.#settings.get(path);
  }

  /** `relay.toml: server.bind`, `--server-bind`, `MOQ_SERVER_BIND`, or the bare key when unset. */
  where(path: string): string {
    const setting = this.#settings.get(path);
    return setting === undefined ? path : describeSource(setting.source);
  }

  fail(path: string, message: string): never {
    const setting = this.#settings.get(path);
    const file = setting?.source.kind === "file" ? setting.source.file : undefined;
    throw new ConfigError(`${this.where(path)}: ${message}`, { key: path, file });
  }

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

  string(path: string): string | undefined {
    const setting = this.#settings.get(path);
    if (setting === undefined) return undefined;
    if (typeof setting.value !== "string") this.expected(path, "a string");
    return setting.value as string;
  }

  list(path: string): string[] {
    const setting = this.#settings.get(path);
    if (setting === undefined) return [];
    const value = setting.value;
    if (typeof value === "string") return [value];
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return [...value];
    return this.expected(path, "a string or an array of strings");
  }

  bool(path: string, fallback: boolean): boolean {
    const setting = this.#settings.get(path);
    if (setting === undefined) return fallback;
    if (typeof setting.value !== "boolean") this.expected(path, "true or false");
    return setting.value as boolean;
  }

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

  duration(path: string, options: DurationOptions = {}): number | undefined {
    const setting = this.#settings.get(path);
    if (setting === undefined) return undefined;
    const value = setting.value;
    if (typeof value === "number" || typeof value === "bigint") {
      if (Number(value) === 0) return 0;
      if (options.bareUnit === "s" && Number.isSafeInteger(Number(value)) && value > 0) {
        return Number(value) * 1000;
      }
      return this.expected(path, `a duration string such as "5s", "500ms" or "1h 30m"`);
    }
    if (typeof value !== "string") {
      return this.expected(path, `a duration string such as "5s", "500ms" or "1h 30m"`);
    }
    try {
      return parseDuration(value, options);
    } catch (error) {
      if (error instanceof DurationError) this.fail(path, error.message);
      throw error;
    }
  }

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

function readLogLevel(reader: Reader): RelayConfig["log"]["level"] {
  const level = reader.string("log.level");
  if (level === undefined) return "info";
  try {
    return parseLogLevel(level);
  } catch (error) {
    if (error instanceof LogFilterError) reader.fail("log.level", error.message);
    throw error;
  }
}

/** Check every value of a list is a non-empty string (after trimming). */
function nonEmptyEntries(reader: Reader, path: string, what: string): string[] {
  const values = reader.list(path).map((value) => value.trim());
  if (values.some((value) => value === "")) reader.fail(path, `empty entry: expected ${what}`);
  return values;
}

/** Remote (http/https URL) vs local path, as the auth key store decides. */
function isRemote(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

function checkHttpUrl(reader: Reader, path: string, value: string): void {
  if (!isRemote(value)) reader.expected(path, `an http(s) URL such as "https://auth.example.com/"`);
}

function checkIpPort(reader: Reader, path: string): string | undefined {
  const value = reader.string(path);
  if (value === undefined) return undefined;
  if (parseIpPort(value) === undefined) {
    reader.expected(path, `IP:port such as "127.0.0.1:8080" or "[::]:443" (an IP literal, not a host name)`);
  }
  return value;
}

/** Peer / node URL: bare `host[:port]` becomes `https://host[:port]/` with a deprecation warning. */
function peerUrl(reader: Reader, path: string, text: string, warnings: string[]): string {
  let value = text.trim();
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    const bare = parseHostPort(value) ?? (/^[^\s/:?#]+$/.test(value) ? { host: value, port: 0 } : undefined);
    if (bare === undefined) {
      reader.fail(
        path,
        `invalid URL ${showValue(text)}: expected a URL such as "https://relay.example.com:443/"`,
      );
    }
    const converted = `https://${value}/`;
    warnings.push(`${reader.where(path)}: a bare host "${value}" is deprecated; write "${converted}"`);
    value = converted;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return reader.fail(
      path,
      `invalid URL ${showValue(text)}: expected a URL such as "https://relay.example.com:443/"`,
    );
  }
  if (url.hostname === "") reader.fail(path, `invalid URL ${showValue(text)}: it has no host`);
  const cost = url.searchParams.get("cost");
  if (cost !== null && !/^\d+$/.test(cost)) {
    reader.fail(path, `invalid ?cost=${cost} in ${showValue(text)}: expected a non-negative whole number`);
  }
  return value;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Convert and validate everything that needs no I/O. */
function buildConfig(reader: Reader, warnings: string[]): RelayConfig {
  const config = baseConfig();

  // Upstream options this relay does not implement: type-check, then warn.
  for (const def of KEYS) {
    if (def.supported || !reader.has(def.path)) continue;
    switch (def.kind) {
      case "string":
        reader.string(def.path);
        break;
      case "list":
        reader.list(def.path);
        break;
      case "bool":
        reader.bool(def.path, false);
        break;
      case "int":
        reader.integer(def.path);
        break;
      case "duration":
        reader.duration(def.path);
        break;
      case "seconds":
        reader.duration(def.path, { bareUnit: "s" });
        break;
      case "size":
        if (reader.size(def.path, true) === 0) reader.fail(def.path, "must be greater than 0");
        break;
    }
    const what = def.kind === "table" ? `[${def.path}]` : def.path;
    const where = reader.where(def.path);
    const prefix = where.endsWith(def.path) ? where.slice(0, -def.path.length) : `${where}: `;
    warnings.push(`${prefix}${what} (${def.help}) is not supported by this relay; ignored`);
  }

  // [log]
  config.log.level = readLogLevel(reader);

  // [server]
  const bind = (reader.string("server.bind") ?? DEFAULT_SERVER_BIND).trim();
  if (bind === "") {
    config.server.bind = undefined;
  } else {
    if (parseHostPort(bind) === undefined) {
      reader.expected(
        "server.bind",
        `"host:port" such as "[::]:443", "127.0.0.1:4443" or "relay.example.com:443"`,
      );
    }
    config.server.bind = bind;
  }
  const versions: string[] = [];
  for (const version of reader.list("server.version").map((v) => v.trim())) {
    if (SUPPORTED_VERSIONS.includes(version)) {
      if (!versions.includes(version)) versions.push(version);
    } else if (UNSUPPORTED_VERSIONS.includes(version)) {
      warnings.push(
        `${reader.where("server.version")}: version ${version} is not supported by this relay; ignored`,
      );
    } else {
      reader.fail(
        "server.version",
        `unknown version ${showValue(version)}: expected ${SUPPORTED_VERSIONS.join(", ")}`,
      );
    }
  }
  if (reader.list("server.version").length > 0 && versions.length === 0) {
    reader.fail(
      "server.version",
      `none of the listed versions is supported: use ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  config.server.versions = versions;

  // [server.tls]
  const tls = config.server.tls;
  tls.cert = nonEmptyEntries(reader, "server.tls.cert", "a PEM certificate file path");
  tls.key = nonEmptyEntries(reader, "server.tls.key", "a PEM private key file path");
  tls.generate = unique(nonEmptyEntries(reader, "server.tls.generate", "a host name or IP address"));
  tls.root = nonEmptyEntries(reader, "server.tls.root", "a PEM CA file path");
  for (const name of tls.generate) {
    const host = name.replace(/^\[(.*)\]$/, "$1");
    if (!isIpv4(host) && !isIpv6(host) && parseHostPort(`${host}:1`) === undefined) {
      reader.fail(
        "server.tls.generate",
        `invalid host name ${showValue(name)}: expected e.g. "localhost" or "127.0.0.1"`,
      );
    }
  }
  if (tls.cert.length !== tls.key.length) {
    reader.conflict(
      ["server.tls.cert", "server.tls.key"],
      (cert, key) =>
        `${cert} lists ${tls.cert.length} file(s) but ${key} lists ${tls.key.length}: certificates and keys are paired by position`,
    );
  }
  if (config.server.bind !== undefined && tls.cert.length === 0 && tls.generate.length === 0) {
    reader.conflict(
      ["server.tls.cert", "server.bind"],
      (cert, bind) =>
        `QUIC listens on ${config.server.bind} (${bind}) but has no certificate: set ${cert} + server.tls.key ` +
        `(--tls-cert/--tls-key), or server.tls.generate = ["localhost"] (--tls-generate) for development, ` +
        `or server.bind = "" to disable QUIC`,
    );
  }

  // [server.quic]
  config.server.quic.maxStreams = reader.count("server.quic.max_streams", config.server.quic.maxStreams);
  config.server.quic.idleTimeoutMs = reader.duration("server.quic.idle_timeout") ??
    config.server.quic.idleTimeoutMs;
  config.server.quic.keepAliveMs = reader.duration("server.quic.keep_alive") ??
    config.server.quic.keepAliveMs;

  // [web]
  config.web.ws = reader.bool("web.ws", true);
  const httpListen = checkIpPort(reader, "web.http.listen");
  if (httpListen !== undefined) config.web.http = { listen: httpListen };
  const httpsListen = checkIpPort(reader, "web.https.listen");
  const httpsCert = nonEmptyEntries(reader, "web.https.cert", "a PEM certificate file path");
  const httpsKey = nonEmptyEntries(reader, "web.https.key", "a PEM private key file path");
  const httpsRoot = nonEmptyEntries(reader, "web.https.root", "a PEM CA file path");
  if (httpsCert.length !== httpsKey.length) {
    reader.conflict(
      ["web.https.cert", "web.https.key"],
      (cert, key) =>
        `${cert} lists ${httpsCert.length} file(s) but ${key} lists ${httpsKey.length}: certificates and keys are paired by position`,
    );
  }
  if (httpsListen !== undefined) {
    if (httpsCert.length === 0) {
      reader.conflict(
        ["web.https.listen", "web.https.cert"],
        (listen, cert) =>
          `${listen} needs a certificate: set ${cert} and web.https.key (--web-https-cert/--web-https-key)`,
      );
    }
    config.web.https = { listen: httpsListen, cert: httpsCert, key: httpsKey, root: httpsRoot };
  } else if (httpsCert.length > 0) {
    warnings.push(`${reader.where("web.https.cert")}: ignored because web.https.listen is not set`);
  }

  // [internal]
  const internal = checkIpPort(reader, "internal.listen");
  if (internal !== undefined) config.internal = { listen: internal };

  if (config.server.bind === undefined && config.web.http === undefined && config.web.https === undefined) {
    reader.conflict(
      ["server.bind", "web.http.listen"],
      (bind, http) =>
        `nothing to listen on: ${bind} is empty and neither ${http} nor web.https.listen is set`,
    );
  }

  // [auth]
  const auth = config.auth;
  auth.key = reader.string("auth.key")?.trim() || undefined;
  auth.keyDir = reader.string("auth.key_dir")?.trim() || undefined;
  if (reader.has("auth.key") && auth.key === undefined) reader.expected("auth.key", "a JWK file path or URL");
  if (reader.has("auth.key_dir") && auth.keyDir === undefined) {
    reader.expected("auth.key_dir", "a directory path or URL");
  }
  if (auth.keyDir !== undefined && isRemote(auth.keyDir)) {
    warnings.push(`${reader.where("auth.key_dir")}: the URL form of auth.key_dir is deprecated upstream`);
  }
  if (auth.key !== undefined && auth.keyDir !== undefined) {
    reader.conflict(
      ["auth.key", "auth.key_dir"],
      (key, dir) => `${key} and ${dir} are both set; use one of them`,
    );
  }
  const both = reader.list("auth.public").map(normalizePath);
  auth.public = {
    subscribe: unique([...both, ...reader.list("auth.public.subscribe").map(normalizePath)]),
    publish: unique([...both, ...reader.list("auth.public.publish").map(normalizePath)]),
  };
  const publicApi = reader.string("auth.public.api");
  if (publicApi !== undefined) {
    checkHttpUrl(reader, "auth.public.api", publicApi);
    auth.public.api = publicApi;
  }
  const authApi = reader.string("auth.auth_api");
  if (authApi !== undefined) {
    checkHttpUrl(reader, "auth.auth_api", authApi);
    auth.authApi = authApi;
    const other = ["auth.key", "auth.key_dir", "auth.public", "auth.public.subscribe", "auth.public.publish"]
      .find((path) => reader.has(path) && (path !== "auth.public" || both.length > 0)) ??
      (publicApi !== undefined ? "auth.public.api" : undefined);
    if (other !== undefined) {
      reader.conflict(
        ["auth.auth_api", other],
        (api, o) =>
          `${api} cannot be combined with ${o}: the auth API supplies keys and public access itself`,
      );
    }
  }
  auth.domains = unique(
    nonEmptyEntries(reader, "auth.domains", 'a domain suffix such as "cdn.example.com"')
      .map((domain) => domain.toLowerCase().replace(/^\.+/, "")),
  );
  for (const domain of auth.domains) {
    if (parseHostPort(`${domain}:1`) === undefined || isIpv4(domain)) {
      reader.fail(
        "auth.domains",
        `invalid domain ${showValue(domain)}: expected a suffix such as "cdn.example.com"`,
      );
    }
  }
  const hasPublic = auth.public.subscribe.length > 0 || auth.public.publish.length > 0;
  if (auth.key === undefined && auth.keyDir === undefined && !hasPublic) {
    const unsupported = authApi !== undefined
      ? "auth.auth_api is not supported by this relay, so nobody could connect; "
      : tls.root.length > 0
      ? "mTLS (server.tls.root) is not supported by this relay, so nobody could connect; "
      : "";
    reader.conflict(
      ["auth.key"],
      () =>
        `no authentication configured: ${unsupported}set auth.key (--auth-key FILE) or auth.key_dir for tokens, ` +
        `and/or auth.public = "anon" (--auth-public anon) for anonymous access under anon/`,
    );
  }

  // [cluster]
  const cluster = config.cluster;
  cluster.connect = unique(
    reader.list("cluster.connect").map((url) => url.trim()).filter((url) => url !== ""),
  )
    .map((url) => peerUrl(reader, "cluster.connect", url, warnings));
  const node = reader.string("cluster.node")?.trim();
  if (node) cluster.node = peerUrl(reader, "cluster.node", node, warnings);
  cluster.mesh = reader.bool("cluster.mesh", false);
  if (cluster.mesh && cluster.node === undefined) {
    reader.conflict(
      ["cluster.mesh", "cluster.node"],
      (mesh, n) =>
        `${mesh} needs ${n}: set it to this relay's public URL, e.g. "https://relay1.example.com/"`,
    );
  }
  const token = reader.string("cluster.token")?.trim();
  if (reader.has("cluster.token") && !token) reader.expected("cluster.token", "a file path");
  cluster.token = token || undefined;
  const connectApi = reader.string("cluster.connect_api");
  if (connectApi !== undefined) cluster.connectApi = connectApi;
  const id = reader.integer("cluster.id");
  if (id !== undefined) {
    if (id < 1n || id >= CLUSTER_ID_LIMIT) {
      reader.expected(
        "cluster.id",
        `a whole number from 1 to ${CLUSTER_ID_LIMIT - 1n} (JavaScript peers need < 2^53)`,
      );
    }
    cluster.id = Number(id);
  }
  cluster.lingerMs = reader.duration("cluster.linger") ?? cluster.lingerMs;

  // [client]
  const client = config.client;
  client.timeoutMs = reader.duration("client.timeout") ?? client.timeoutMs;
  client.tls.root = nonEmptyEntries(reader, "client.tls.root", "a PEM CA file path");
  client.tls.fingerprint = nonEmptyEntries(reader, "client.tls.fingerprint", "a hex SHA-256 fingerprint")
    .map((pin) => {
      const hex = pin.replaceAll(":", "").toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) {
        reader.fail(
          "client.tls.fingerprint",
          `invalid pin ${showValue(pin)}: expected 64 hex digits (SHA-256)`,
        );
      }
      return hex;
    });
  client.tls.cert = reader.string("client.tls.cert")?.trim() || undefined;
  client.tls.key = reader.string("client.tls.key")?.trim() || undefined;
  client.tls.disableVerify = reader.bool("client.tls.disable_verify", false);
  if ((client.tls.cert === undefined) !== (client.tls.key === undefined)) {
    const [set, missing] = client.tls.cert === undefined
      ? ["client.tls.key", "client.tls.cert"]
      : ["client.tls.cert", "client.tls.key"];
    reader.conflict(
      [set, missing],
      (s, m) => `${s} needs ${m}: the client identity is a certificate and its key`,
    );
  }
  if (client.tls.root.length > 0 && client.tls.disableVerify) {
    reader.conflict(
      ["client.tls.disable_verify", "client.tls.root"],
      (d, r) => `${d} cannot be combined with ${r}: either verify against the roots or not at all`,
    );
  }
  if (client.tls.root.length > 0 && client.tls.fingerprint.length > 0) {
    reader.conflict(
      ["client.tls.fingerprint", "client.tls.root"],
      (f, r) => `${f} cannot be combined with ${r}: pinned certificates replace root verification`,
    );
  }

  // [cache]
  const capacity = reader.size("cache.capacity", true);
  if (capacity !== undefined) config.cache.capacityBytes = capacity;
  const cacheDuration = reader.duration("cache.duration");
  if (cacheDuration !== undefined) config.cache.durationMs = cacheDuration;

  // [limits]
  const limits = config.limits;
  limits.maxBroadcastsPerSession = reader.count(
    "limits.max_broadcasts_per_session",
    limits.maxBroadcastsPerSession,
  );
  limits.maxSubscriptionsPerSession = reader.count(
    "limits.max_subscriptions_per_session",
    limits.maxSubscriptionsPerSession,
  );
  limits.maxStreamsPerSession = reader.count("limits.max_streams_per_session", limits.maxStreamsPerSession);
  const queue = reader.size("limits.subscriber_queue", false);
  if (queue !== undefined) {
    if (queue < 1) reader.fail("limits.subscriber_queue", "must be greater than 0");
    limits.subscriberQueueBytes = queue;
  }
  limits.subscribeWaitMs = reader.duration("limits.subscribe_wait") ?? limits.subscribeWaitMs;
  limits.warmMs = reader.duration("limits.warm") ?? limits.warmMs;
  limits.drainTimeoutMs = reader.duration("limits.drain_timeout") ?? limits.drainTimeoutMs;

  return config;
}

/** A `file:` URL becomes its path (as the auth key store reads it). */
function localPath(value: string): string {
  if (!value.startsWith("file:")) return value;
  try {
    return decodeURIComponent(new URL(value).pathname);
  } catch {
    return value;
  }
}

/** Checks that need the file system: `auth.key`, `auth.key_dir`, `cluster.token`. */
async function checkFiles(
  config: RelayConfig,
  reader: Reader,
  readFile: (path: string) => Promise<string>,
  stat: (path: string) => Promise<FileInfo>,
): Promise<void> {
  const inspect = async (path: string): Promise<FileInfo | string> => {
    try {
      return await stat(path);
    } catch (error) {
      return fsReason(error);
    }
  };
  const { key, keyDir } = config.auth;
  if (key !== undefined && !isRemote(key)) {
    const info = await inspect(localPath(key));
    if (typeof info === "string" || !info.isFile) {
      const why = typeof info === "string" ? info : "not a regular file";
      reader.fail(
        "auth.key",
        `cannot use JWK file "${key}" (${why}): expected an existing key file ` +
          `(create one with: moq-relay-deno token generate --out ${key})`,
      );
    }
  }
  if (keyDir !== undefined && !isRemote(keyDir)) {
    const info = await inspect(localPath(keyDir));
    if (typeof info === "string" || !info.isDirectory) {
      const why = typeof info === "string" ? info : "not a directory";
      reader.fail(
        "auth.key_dir",
        `cannot use key directory "${keyDir}" (${why}): expected a directory of {kid}.jwk files`,
      );
    }
  }
  const token = config.cluster.token;
  if (token !== undefined) {
    let text: string;
    try {
      text = await readFile(token);
    } catch (error) {
      return reader.fail("cluster.token", `cannot read token file "${token}": ${fsReason(error)}`);
    }
    if (text.trim() === "") reader.fail("cluster.token", `token file "${token}" is empty: expected a JWT`);
  }
}
