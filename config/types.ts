/**
 * The normalised relay configuration: what `config/load.ts` produces from relay.toml (current and
 * legacy layouts), `MOQ_*` environment variables and command-line flags, in that order of precedence
 * (flag > env > file > default). Every list is already coerced from `string | string[]`.
 *
 * @module
 */

import type { LogLevel } from "../log/mod.ts";

/** TLS material for the QUIC listener. */
export interface TlsConfig {
  /** PEM certificate chain files, paired with {@link TlsConfig.key} by index. */
  cert: string[];
  /** PEM private key files. */
  key: string[];
  /** Host names / IP literals for a self-signed development certificate (empty = none). */
  generate: string[];
  /** CA files for optional client certificates (not implemented: warned). */
  root: string[];
}

/** The QUIC listener (raw QUIC + WebTransport over HTTP/3). */
export interface ServerConfig {
  /** `host:port` UDP bind, or undefined for no QUIC listener. */
  bind?: string;
  /** Enabled protocol version names (`moq-lite-01` … `moq-lite-04`); empty = all supported. */
  versions: string[];
  tls: TlsConfig;
  quic: {
    /** Concurrent streams per connection and direction. */
    maxStreams: number;
    idleTimeoutMs: number;
    keepAliveMs: number;
  };
}

/** `[stats]`: JSON stats broadcasts (docs/relay.md §1.3). */
export interface StatsConfig {
  enabled: boolean;
  /** Broadcast prefix (normalised), default `.stats`. */
  prefix: string;
  /** Snapshot interval, at least 1 s. */
  intervalMs: number;
  /** Node name (normalised; "" = none: the broadcast is `<prefix>/node`). */
  node: string;
  /**
   * Leading broadcast-path segments to group by: 0 = one broadcast per node, else one per group
   * at `<prefix>/<group>/node/<node>`.
   */
  depth?: number;
}

/** `[server.tcp]` / `[server.unix]`: plaintext qmux stream listeners for local workers. */
export interface StreamListenersConfig {
  /** TCP `host:port`. */
  tcp?: string;
  /** Unix socket path. */
  unix?: string;
}

/** The TCP web listener(s): HTTP endpoints and WebSocket sessions. */
export interface WebConfig {
  /** Serve WebSocket MoQ sessions on the web listeners. */
  ws: boolean;
  http?: { listen: string };
  https?: { listen: string; cert: string[]; key: string[]; root: string[] };
}

/** Anonymous access (docs/relay.md §2.6); absolute prefixes. */
export interface PublicAccess {
  subscribe: string[];
  publish: string[];
  /** Deprecated public API URL (not implemented: warned). */
  api?: string;
}

/** `[auth]`. */
export interface AuthConfig {
  /** One JWK file (path) or URL. */
  key?: string;
  /** Directory (or URL) of `{kid}.jwk` files. */
  keyDir?: string;
  public: PublicAccess;
  /** Unified auth API (not implemented: warned). */
  authApi?: string;
  domains: string[];
}

/** `[cluster]`. */
export interface ClusterConfig {
  /** Peer URLs to dial (may carry `?jwt=`). */
  connect: string[];
  /** This relay's own public URL (identity; advertised when `mesh`). */
  node?: string;
  /** Gossip discovery. */
  mesh: boolean;
  /** Path of a file holding the cluster JWT for outbound dials. */
  token?: string;
  connectApi?: string;
  /** Origin id (1 ≤ id < 2^53); undefined = derived (stable across restarts, see cluster/). */
  id?: number;
  /** How long an abruptly lost broadcast stays announced. */
  lingerMs: number;
}

/** `[client]`: outbound dials (cluster). */
export interface ClientConfig {
  tls: {
    disableVerify: boolean;
    root: string[];
    /** Hex SHA-256 certificate pins. */
    fingerprint: string[];
    cert?: string;
    key?: string;
  };
  /** Dial + handshake timeout (0 = none). */
  timeoutMs: number;
}

/** `[cache]`. */
export interface CacheConfig {
  /** Byte budget for cached groups across all tracks (undefined = the relay's default budget). */
  capacityBytes?: number;
  /** Maximum age of non-latest groups. */
  durationMs?: number;
}

/** Per-session quotas (beyond upstream, docs/relay.md §8 item 21). */
export interface LimitsConfig {
  /** Broadcasts one session may publish at once. */
  maxBroadcastsPerSession: number;
  /** Track subscriptions one session may hold at once. */
  maxSubscriptionsPerSession: number;
  /** Streams one session may have open at once (each direction). */
  maxStreamsPerSession: number;
  /** Bytes a slow subscriber may have queued before old groups are dropped. */
  subscriberQueueBytes: number;
  /** How long a MoQ subscribe to a path that is not (yet) announced waits before "not found". */
  subscribeWaitMs: number;
  /** How long an upstream subscription stays open after its last viewer leaves. */
  warmMs: number;
  /** Graceful shutdown: how long in-flight groups may take before the process exits. */
  drainTimeoutMs: number;
}

/** The whole normalised configuration. */
export interface RelayConfig {
  /** The file it came from, if any (for messages). */
  file?: string;
  log: { level: LogLevel; /** A `RUST_LOG`-style filter that replaces `level` when set. */ filter?: string };
  server: ServerConfig;
  web: WebConfig;
  internal?: { listen: string };
  auth: AuthConfig;
  cluster: ClusterConfig;
  client: ClientConfig;
  cache: CacheConfig;
  limits: LimitsConfig;
  /** `[stats]`; absent = disabled. */
  stats?: StatsConfig;
  /** `[server.tcp]` / `[server.unix]`; absent = none. */
  streams?: StreamListenersConfig;
}
