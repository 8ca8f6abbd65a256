/**
 * The one table of every configuration key: its TOML path, value kind, long flag(s), `MOQ_*`
 * environment variable(s), default and help text. The flag parser (`cli.ts`), the environment
 * reader, the TOML schema (`toml.ts`) and `--help` are all derived from {@link KEYS}, so they
 * cannot drift apart.
 *
 * Naming rule (docs/relay.md §1.3): flag = `--` + path with `.`/`_` → `-`; env = `MOQ_` + path
 * upper-cased with `.`/`-` → `_`. Exceptions are spelled out in the table.
 *
 * @module
 */

import { SERVED_VERSION_NAMES, UNSERVED_VERSION_NAMES } from "../transport/mod.ts";
import { formatDuration } from "./_duration.ts";
import { formatSize } from "./_size.ts";

/** The value kind of a key: decides TOML type checks, flag syntax and conversion. */
export type KeyKind =
  /** A string. */
  | "string"
  /** A string or a list of strings (flags repeatable; `comma` also splits on `,`). */
  | "list"
  /** `true`/`false`; as a flag `--flag` or `--flag=false`. */
  | "bool"
  /** An integer (TOML integer, or decimal text from flags/env). */
  | "int"
  /** A humantime duration (`5s`, `1h 30m`, `0`). */
  | "duration"
  /** A duration where a bare integer means seconds (upstream takes seconds). */
  | "seconds"
  /** A byte size (`8GiB`, `512MB`, `NN%`). */
  | "size"
  /** A log level name. */
  | "level"
  /** `auth.public`: string, array or table (`subscribe`/`publish`/`api`). */
  | "public"
  /** `cluster.mesh`: bool, or the legacy string URL form. */
  | "mesh"
  /** Any value: an upstream key this relay ignores and whose type is not checked. */
  | "any"
  /** A whole TOML table this relay ignores (contents not checked). */
  | "table";

/** One configuration key. */
export interface KeyDef {
  /** Canonical dotted TOML path (`server.tls.cert`). */
  path: string;
  kind: KeyKind;
  /** Long flags without the leading `--`; the first is shown first. Empty = no flag. */
  flags: string[];
  /** Environment variable names; the first wins when several are set. Empty = none. */
  env: string[];
  /** Also split each flag / env value on `,`. */
  comma: boolean;
  /** Extra TOML spellings that mean the same key (`server.listen`). */
  aliases: string[];
  /** False for upstream keys this relay parses and ignores with a warning. */
  supported: boolean;
  /** Default shown in `--help` (derived from the same constants the loader uses). */
  defaultText?: string;
  /** Placeholder shown after the flag in `--help`. */
  metavar: string;
  /** One-line description. */
  help: string;
  /**
   * Longest accepted value in milliseconds (`duration` / `seconds` keys only; the loader rejects
   * anything longer). Default {@link MAX_TIMER_MS}.
   */
  maxMs?: number;
}

// ---- Defaults (used by the loader and by --help) ----

/**
 * The longest delay a JavaScript timer honours: `setTimeout` fires at once for anything above
 * 2^31−1 ms (about 24.8 days), so every duration key is capped at this (or less).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Maximum `[limits] drain_timeout`: a day. The shutdown watchdog adds a few seconds of overrun to
 * it, which must stay below {@link MAX_TIMER_MS} too.
 */
export const MAX_DRAIN_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Default UDP bind of the QUIC listener. */
export const DEFAULT_SERVER_BIND = "[::]:443";
/**
 * Default concurrent QUIC streams per connection and direction. Upstream's relay uses 10 000, but
 * Deno's QUIC stack reserves state per allowed stream up front (measured: about 850 KiB per
 * connection at 10 000 against about 100 KiB at 1 024), so this relay uses the QUIC library default.
 * moq-lite needs one bidi stream per subscription and one uni stream per group in flight.
 */
export const DEFAULT_QUIC_MAX_STREAMS = 1_024;
/** Default QUIC idle timeout. */
export const DEFAULT_QUIC_IDLE_TIMEOUT_MS = 30_000;
/** Default QUIC keep-alive interval. */
export const DEFAULT_QUIC_KEEP_ALIVE_MS = 5_000;
/** Default linger of an abruptly lost broadcast. */
export const DEFAULT_CLUSTER_LINGER_MS = 5_000;
/** Default outbound dial + handshake timeout. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;
/** Default per-session broadcast quota. */
export const DEFAULT_MAX_BROADCASTS_PER_SESSION = 256;
/** Default per-session subscription quota. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION = 1024;
/** Default per-session stream quota (each direction). */
export const DEFAULT_MAX_STREAMS_PER_SESSION = 10_000;
/** Default bytes a slow subscriber may have queued. */
export const DEFAULT_SUBSCRIBER_QUEUE_BYTES = 4 * 1024 * 1024;
/** Default wait of a MoQ subscribe for a path that is not announced yet. */
export const DEFAULT_SUBSCRIBE_WAIT_MS = 2_000;
/** Default time an upstream subscription stays open after its last viewer leaves. */
export const DEFAULT_WARM_MS = 5_000;
/** Default graceful-shutdown drain time. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** Protocol versions this relay speaks (`server.version` values), most preferred first (transport/versions.ts). */
export const SUPPORTED_VERSIONS: readonly string[] = SERVED_VERSION_NAMES;
/** Upstream version names that are valid but not implemented here (dropped with a warning). */
export const UNSUPPORTED_VERSIONS: readonly string[] = [
  ...UNSERVED_VERSION_NAMES,
  "moq-lite-06-wip",
  "moq-transport-14",
  "moq-transport-15",
  "moq-transport-16",
  "moq-transport-17",
  "moq-transport-18",
  "moq-transport-19",
  "moq-transport-20",
].filter((name) => !SERVED_VERSION_NAMES.includes(name));

// ---- The table ----

const METAVAR: Record<KeyKind, string> = {
  string: "VALUE",
  list: "VALUE",
  bool: "[=BOOL]",
  int: "N",
  duration: "DURATION",
  seconds: "SECONDS",
  size: "SIZE",
  level: "LEVEL",
  public: "PREFIX",
  mesh: "[=BOOL]",
  any: "VALUE",
  table: "",
};

type Extra = Partial<Omit<KeyDef, "path" | "kind" | "help">>;

function key(path: string, kind: KeyKind, help: string, extra: Extra = {}): KeyDef {
  return {
    path,
    kind,
    help,
    flags: kind === "table" ? [] : [path.replaceAll(/[._]/g, "-")],
    env: kind === "table" ? [] : ["MOQ_" + path.replaceAll(/[.-]/g, "_").toUpperCase()],
    comma: false,
    aliases: [],
    supported: true,
    metavar: METAVAR[kind],
    maxMs: kind === "duration" || kind === "seconds" ? MAX_TIMER_MS : undefined,
    ...extra,
  };
}

/** An upstream key this relay accepts and ignores (with a warning). */
function ignored(path: string, kind: KeyKind, help: string, extra: Extra = {}): KeyDef {
  return key(path, kind, help, { supported: false, ...extra });
}

const ms = formatDuration;

/** Every key the loader knows, grouped by TOML table in `--help` order. */
export const KEYS: readonly KeyDef[] = [
  // [log]
  key(
    "log.level",
    "level",
    "log level: trace, debug, info, warn or error (RUST_LOG, when set, replaces it)",
    {
      defaultText: "info",
    },
  ),

  // [server]
  key(
    "server.bind",
    "string",
    'UDP host:port of the QUIC listener (WebTransport + raw QUIC); "" disables QUIC',
    {
      flags: ["server-bind", "listen", "server-listen"],
      aliases: ["server.listen"],
      metavar: "HOST:PORT",
      defaultText: DEFAULT_SERVER_BIND,
    },
  ),
  key(
    "server.version",
    "list",
    `protocol versions to offer (${SUPPORTED_VERSIONS.join(", ")}); default all`,
    {
      comma: true,
      metavar: "NAME",
    },
  ),
  ignored("server.backend", "string", "QUIC backend selection (quinn/quiche/noq)"),

  // [server.tls]
  key("server.tls.cert", "list", "PEM certificate chain file(s), paired with --tls-key by position", {
    flags: ["tls-cert", "server-tls-cert"],
    aliases: ["tls.cert"],
    metavar: "FILE",
  }),
  key("server.tls.key", "list", "PEM private key file(s), paired with --tls-cert by position", {
    flags: ["tls-key", "server-tls-key"],
    aliases: ["tls.key"],
    metavar: "FILE",
  }),
  key("server.tls.generate", "list", "host names / IPs for a self-signed development certificate", {
    flags: ["tls-generate", "server-tls-generate"],
    aliases: ["tls.generate"],
    comma: true,
    metavar: "HOST",
  }),
  ignored("server.tls.root", "list", "CA file(s) for optional mTLS client certificates", {
    aliases: ["tls.root"],
    comma: true,
    metavar: "FILE",
  }),

  // [server.quic]
  key("server.quic.max_streams", "int", "concurrent QUIC streams per connection and direction", {
    defaultText: String(DEFAULT_QUIC_MAX_STREAMS),
  }),
  key("server.quic.idle_timeout", "duration", "close a QUIC connection after this long without traffic", {
    defaultText: ms(DEFAULT_QUIC_IDLE_TIMEOUT_MS),
  }),
  key("server.quic.keep_alive", "duration", "QUIC keep-alive (PING) interval", {
    defaultText: ms(DEFAULT_QUIC_KEEP_ALIVE_MS),
  }),
  ignored("server.quic.gso", "bool", "generic segmentation offload"),
  ignored("server.quic.mtu_discovery", "bool", "path MTU discovery"),
  ignored("server.quic.congestion_control", "string", "congestion controller (loss|delay)"),
  ignored("server.quic.qlog", "string", "qlog output directory"),
  ignored("server.quic.preferred_v4", "string", "preferred IPv4 address transport parameter", {
    env: ["MOQ_SERVER_PREFERRED_V4", "MOQ_SERVER_QUIC_PREFERRED_V4"],
  }),
  ignored("server.quic.preferred_v6", "string", "preferred IPv6 address transport parameter", {
    env: ["MOQ_SERVER_PREFERRED_V6", "MOQ_SERVER_QUIC_PREFERRED_V6"],
  }),
  ignored("server.quic.quic_lb_id", "any", "QUIC-LB server id"),
  ignored("server.quic.quic_lb_nonce", "any", "QUIC-LB nonce length"),

  // [server.tcp], [server.unix]
  key("server.tcp.bind", "string", "plaintext qmux TCP listener for local workers (host:port)", {
    metavar: "HOST:PORT",
  }),
  key("server.unix.bind", "string", "plaintext qmux Unix socket listener for local workers (path)", {
    metavar: "PATH",
  }),
  ignored("server.unix.allow.uid", "any", "Unix socket peer uid allow-list"),
  ignored("server.unix.allow.gid", "any", "Unix socket peer gid allow-list"),
  ignored("server.unix.allow.pid", "any", "Unix socket peer pid allow-list"),

  // [web]
  key("web.ws", "bool", "serve WebSocket MoQ sessions on the web listeners", { defaultText: "true" }),
  key("web.http.listen", "string", "TCP IP:port of the plain HTTP / WebSocket listener (no host names)", {
    metavar: "IP:PORT",
    defaultText: "disabled",
  }),
  key("web.https.listen", "string", "TCP IP:port of the HTTPS / WSS listener (needs cert + key)", {
    metavar: "IP:PORT",
    defaultText: "disabled",
  }),
  key(
    "web.https.cert",
    "list",
    "PEM certificate chain file for HTTPS (only the first of several is served)",
    {
      comma: true,
      metavar: "FILE",
    },
  ),
  key("web.https.key", "list", "PEM private key file for HTTPS, paired with --web-https-cert", {
    comma: true,
    metavar: "FILE",
  }),
  ignored("web.https.root", "list", "CA file(s) for optional mTLS on HTTPS", {
    comma: true,
    metavar: "FILE",
  }),

  // [internal]
  key("internal.listen", "string", "TCP IP:port of the unauthenticated ops listener (/health, /metrics)", {
    metavar: "IP:PORT",
    defaultText: "disabled",
  }),

  // [auth]
  key("auth.key", "string", "JWK file (re-read per connection) or http(s) URL verifying tokens", {
    metavar: "FILE|URL",
  }),
  key("auth.key_dir", "string", "directory (or http(s) URL) of {kid}.jwk files", { metavar: "DIR|URL" }),
  key("auth.public", "public", 'anonymous publish+subscribe prefix(es); "" = everything (repeatable)'),
  key("auth.auth_api", "string", "unified auth API URL: GET per connection → {alias, public, key, tier}", {
    flags: ["auth-api"],
    env: ["MOQ_AUTH_API"],
    metavar: "URL",
  }),
  key("auth.domains", "list", "domain suffix(es) for subdomain → path routing (repeatable)", {
    flags: ["auth-domain", "auth-domains"],
    env: ["MOQ_AUTH_DOMAIN", "MOQ_AUTH_DOMAINS"],
    metavar: "DOMAIN",
  }),
  ignored("auth.mtls_tier", "string", "stats label for mTLS peers"),
  ignored("auth.tls.root", "list", "deprecated outbound auth TLS roots"),
  ignored("auth.tls.cert", "string", "deprecated outbound auth TLS client certificate"),
  ignored("auth.tls.key", "string", "deprecated outbound auth TLS client key"),
  ignored("auth.tls.disable_verify", "bool", "deprecated outbound auth TLS verification switch"),
  key("auth.public.subscribe", "list", "anonymous subscribe-only prefix(es) (repeatable)", {
    metavar: "PREFIX",
  }),
  key("auth.public.publish", "list", "anonymous publish-only prefix(es) (repeatable)", { metavar: "PREFIX" }),
  ignored("auth.public.api", "string", "deprecated public-access API URL", { metavar: "URL" }),

  // [cluster]
  key("cluster.connect", "list", "peer relay URL(s) to dial (may carry ?jwt= and ?cost=)", {
    comma: true,
    metavar: "URL",
  }),
  key("cluster.node", "string", "this relay's own public URL (identity; advertised when meshing)", {
    metavar: "URL",
  }),
  key("cluster.mesh", "mesh", "gossip peer discovery (needs --cluster-node)", { defaultText: "false" }),
  key("cluster.token", "string", "file holding the JWT presented on outbound cluster dials", {
    metavar: "FILE",
  }),
  key(
    "cluster.connect_api",
    "string",
    "peer list: an http(s):// URL polled with ?node= appended, or a watched JSON file",
    {
      metavar: "URL",
    },
  ),
  key("cluster.id", "int", "origin id, 1 ≤ id < 2^53 (default: derived, stable across restarts)"),
  key("cluster.linger", "duration", 'how long an abruptly lost broadcast stays announced; "0" disables', {
    defaultText: ms(DEFAULT_CLUSTER_LINGER_MS),
  }),
  ignored("cluster.tier", "string", "stats label"),

  // [client]
  key("client.timeout", "duration", 'outbound dial + handshake timeout; "0" = none', {
    flags: ["client-connect-timeout", "client-timeout"],
    env: ["MOQ_CLIENT_CONNECT_TIMEOUT", "MOQ_CLIENT_TIMEOUT"],
    defaultText: ms(DEFAULT_CLIENT_TIMEOUT_MS),
  }),
  ignored("client.bind", "string", "local UDP address for outbound dials"),
  ignored("client.failover_delay", "duration", "happy-eyeballs failover delay"),
  ignored("client.resolution_delay", "duration", "happy-eyeballs resolution delay"),
  ignored("client.version", "list", "protocol versions offered on outbound dials"),
  ignored("client.backend", "string", "QUIC backend for outbound dials"),

  // [client.tls]
  key("client.tls.root", "list", "CA file(s) trusted for outbound dials (instead of system roots)", {
    comma: true,
    metavar: "FILE",
  }),
  key("client.tls.fingerprint", "list", "hex SHA-256 certificate pin(s) for outbound dials", {
    comma: true,
    metavar: "HEX",
  }),
  key("client.tls.cert", "string", "PEM client certificate presented on outbound dials (with key)", {
    metavar: "FILE",
  }),
  key("client.tls.key", "string", "PEM private key of the client certificate", { metavar: "FILE" }),
  key("client.tls.disable_verify", "bool", "DANGER: do not verify peer certificates on outbound dials", {
    defaultText: "false",
  }),
  ignored("client.tls.system_roots", "bool", "use the system's root store"),
  ignored("client.tls.host_name", "string", "override the TLS server name"),
  ignored("client.quic", "table", "outbound QUIC tuning"),
  ignored("client.backoff", "table", "outbound reconnect backoff"),
  ignored("client.websocket.enabled", "bool", "WebSocket fallback for outbound dials"),
  ignored("client.websocket.delay", "duration", "WebSocket fallback delay"),

  // [stats]
  key("stats.enabled", "bool", "publish JSON stats broadcasts at <prefix>/node/<node>", {
    defaultText: "false",
  }),
  key("stats.prefix", "string", "stats broadcast prefix", { defaultText: ".stats" }),
  key("stats.interval", "seconds", "seconds between stats snapshots (at least 1)", { defaultText: "1" }),
  key("stats.node", "string", "stats node name (may be multi-segment, e.g. sjc/1)"),
  key("stats.depth", "int", "leading path segments to group stats broadcasts by (0 = one per node)", {
    defaultText: "0",
  }),

  // [cache]
  key("cache.capacity", "size", "byte budget for cached groups, e.g. 8GiB, 512MB or 25% of memory", {
    defaultText: "built-in budget",
  }),
  key("cache.duration", "duration", "maximum age of cached non-latest groups"),
  ignored("cache.headroom", "size", "keep this much memory free"),
  ignored("cache.latency_default", "duration", "default group retention"),

  // [iroh]
  ignored("iroh.enabled", "bool", "iroh P2P endpoint"),
  ignored("iroh.secret", "string", "iroh secret key"),
  ignored("iroh.bind_v4", "string", "iroh IPv4 bind"),
  ignored("iroh.bind_v6", "string", "iroh IPv6 bind"),
  ignored("iroh.disable_relay", "bool", "disable iroh relays"),

  // [limits] (this relay only)
  key("limits.max_broadcasts_per_session", "int", "broadcasts one session may publish at once", {
    defaultText: String(DEFAULT_MAX_BROADCASTS_PER_SESSION),
  }),
  key("limits.max_subscriptions_per_session", "int", "track subscriptions one session may hold at once", {
    defaultText: String(DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION),
  }),
  key("limits.max_streams_per_session", "int", "streams one session may have open at once (each direction)", {
    defaultText: String(DEFAULT_MAX_STREAMS_PER_SESSION),
  }),
  key("limits.subscriber_queue", "size", "bytes a slow subscriber may have queued before old groups drop", {
    defaultText: formatSize(DEFAULT_SUBSCRIBER_QUEUE_BYTES),
  }),
  key("limits.subscribe_wait", "duration", "how long a subscribe to a not-yet-announced path waits", {
    defaultText: ms(DEFAULT_SUBSCRIBE_WAIT_MS),
  }),
  key("limits.warm", "duration", "how long an upstream subscription stays open after its last viewer", {
    defaultText: ms(DEFAULT_WARM_MS),
  }),
  key("limits.drain_timeout", "duration", "graceful shutdown: time in-flight groups get before exit", {
    defaultText: ms(DEFAULT_DRAIN_TIMEOUT_MS),
    maxMs: MAX_DRAIN_TIMEOUT_MS,
  }),
];

/** The table (section) a key lives in: its path without the last component (`""` = top level). */
export function tableOf(path: string): string {
  const dot = path.lastIndexOf(".");
  return dot < 0 ? "" : path.slice(0, dot);
}

/** Key by canonical path. */
export const KEY_BY_PATH: ReadonlyMap<string, KeyDef> = new Map(KEYS.map((def) => [def.path, def]));

/** Key by any TOML spelling (canonical path or alias). */
export const KEY_BY_TOML_PATH: ReadonlyMap<string, KeyDef> = new Map(
  KEYS.flatMap((def) => [def.path, ...def.aliases].map((path) => [path, def] as const)),
);

/** Key by long flag name (without `--`). */
export const KEY_BY_FLAG: ReadonlyMap<string, KeyDef> = new Map(
  KEYS.flatMap((def) => def.flags.map((flag) => [flag, def] as const)),
);

/** Every TOML table path that holds keys (including parents such as `server.unix`). */
export const TABLES: ReadonlySet<string> = new Set(
  KEYS.flatMap((def) => [def.path, ...def.aliases]).flatMap((path) => {
    const parts = path.split(".");
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join("."));
  }),
);

/** Flags handled by the command-line layer itself rather than the key table. */
export const META_FLAGS: readonly { flags: string[]; metavar: string; help: string }[] = [
  {
    flags: ["config", "file"],
    metavar: "FILE",
    help: "read this TOML config file (same as the positional FILE)",
  },
  { flags: ["help"], metavar: "", help: "print this help and exit (also -h)" },
  { flags: ["version"], metavar: "", help: "print the version and exit (also -V)" },
];
