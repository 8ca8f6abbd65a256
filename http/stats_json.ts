/**
 * `/stats.json` on the internal listener: one JSON snapshot of the relay, read from the same
 * counters as `/metrics` ({@link RelayMetricsInput}: `RelayStats`, the origin's stats, the auth
 * failures), plus the live broadcasts with their track, subscriber and ingress byte counts and the
 * cluster view of `/nodes`. The operator console polls it; rates are differences between two
 * snapshots (`time_ms` says when each was taken). `?history` adds the last minutes of traffic
 * totals ({@link StatsHistory}), so a freshly opened console can draw its graph at once.
 *
 * @module
 */

import type { Origin, RelayStats } from "../relay/mod.ts";
import { AUTH_FAILURE_REASONS, type RelayMetricsInput } from "./metrics.ts";

/** How often {@link StatsHistory} records a sample. */
export const HISTORY_INTERVAL_MS = 1_000;
/** Samples {@link StatsHistory} keeps: ten minutes at one per second. */
export const HISTORY_SAMPLES = 600;

/** Traffic totals at one moment (rates are differences between neighbours). */
export interface TrafficSample {
  time_ms: number;
  bytes_in: number;
  bytes_out: number;
  frames_in: number;
  frames_out: number;
}

/** The traffic totals of `stats` now. */
export function trafficSample(stats: RelayStats, nowMs: number): TrafficSample {
  return {
    time_ms: nowMs,
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
    frames_in: stats.framesIn,
    frames_out: stats.framesOut,
  };
}

/**
 * The last minutes of traffic totals, so the operator console can draw its graph from the moment
 * it opens: a ring of at most `capacity` samples, one recorded every {@link HISTORY_INTERVAL_MS}
 * while `start`'s signal lives.
 */
export class StatsHistory {
  readonly #stats: RelayStats;
  readonly #capacity: number;
  readonly #ring: TrafficSample[] = [];
  /** Index of the oldest sample once the ring is full. */
  #head = 0;

  constructor(stats: RelayStats, capacity = HISTORY_SAMPLES) {
    this.#stats = stats;
    this.#capacity = Math.max(1, capacity);
  }

  /** Record the current totals (the oldest sample goes once `capacity` are kept). */
  record(nowMs: number): void {
    const sample = trafficSample(this.#stats, nowMs);
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(sample);
      return;
    }
    this.#ring[this.#head] = sample;
    this.#head = (this.#head + 1) % this.#capacity;
  }

  /** The samples, oldest first. */
  samples(): TrafficSample[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }

  /** Record every {@link HISTORY_INTERVAL_MS} until `signal` aborts. */
  start(signal: AbortSignal): void {
    if (signal.aborted) return;
    this.record(Date.now());
    const timer = setInterval(() => this.record(Date.now()), HISTORY_INTERVAL_MS);
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  }
}

/** At most this many broadcasts are listed (the busiest by subscribers); `broadcasts_total` counts all. */
export const MAX_LISTED_BROADCASTS = 200;

/** One broadcast in a {@link StatsSnapshot}. */
export interface BroadcastSnapshot {
  /** Absolute broadcast path. */
  path: string;
  /** Tracks open in the origin (subscribed by someone, or warm). */
  tracks: number;
  /** Subscriptions this relay serves from those tracks (sessions and cluster peers). */
  subscribers: number;
  /** Payload bytes received from the publisher on the open tracks (frame size prefixes included). */
  bytes_in: number;
}

/** The JSON body of `/stats.json`. Counters are totals since start; gauges are current values. */
export interface StatsSnapshot {
  /** When the snapshot was taken (Unix ms). */
  time_ms: number;
  /** Milliseconds since the handler started. */
  uptime_ms: number;
  draining: boolean;
  /** Open sessions by transport and protocol version (gauge `moq_relay_sessions`). */
  sessions: { transport: string; version: string; count: number }[];
  sessions_opened: number;
  sessions_closed: number;
  session_errors: number;
  connection_errors: number;
  subscriptions_opened: number;
  subscriptions_closed: number;
  bytes_in: number;
  bytes_out: number;
  frames_in: number;
  frames_out: number;
  groups_in: number;
  groups_out: number;
  groups_dropped: number;
  groups_evicted: number;
  cache_bytes: number;
  cache_capacity_bytes: number | null;
  cache_groups: number;
  tracks: number;
  upstream_subscriptions: number;
  /** Every auth failure reason with its count (zeros included, like `/metrics`). */
  auth_failures: Record<string, number>;
  /** Busiest broadcasts first, at most {@link MAX_LISTED_BROADCASTS}. */
  broadcasts: BroadcastSnapshot[];
  broadcasts_total: number;
  /** The cluster view (`/nodes`). */
  nodes: unknown[];
  /** With `?history`: the recorded traffic totals, oldest first (empty when none are recorded). */
  history?: TrafficSample[];
}

/** What a snapshot is computed from. */
export interface StatsSnapshotInput extends RelayMetricsInput {
  /** The origin tree, for the per-broadcast rows. */
  tree: Origin;
  startedAtMs: number;
  nowMs: number;
  nodes: unknown[];
  /** Include these samples as `history`. */
  history?: TrafficSample[];
}

function broadcastRows(origin: Origin): { rows: BroadcastSnapshot[]; total: number } {
  const paths = origin.list("");
  const rows: BroadcastSnapshot[] = [];
  for (const path of paths) {
    const b = origin.get(path);
    if (!b) continue;
    let subscribers = 0, bytesIn = 0;
    for (const t of b.tracks.values()) {
      subscribers += t.consumers.size;
      bytesIn += t.bytesIn;
    }
    rows.push({ path, tracks: b.tracks.size, subscribers, bytes_in: bytesIn });
  }
  rows.sort((a, b) => b.subscribers - a.subscribers || (a.path < b.path ? -1 : 1));
  return { rows: rows.slice(0, MAX_LISTED_BROADCASTS), total: paths.length };
}

/** Build the snapshot. */
export function statsSnapshot(input: StatsSnapshotInput): StatsSnapshot {
  const { stats, origin } = input;
  const sessions: StatsSnapshot["sessions"] = [];
  for (const [key, count] of stats.sessionsOpen) {
    const slash = key.indexOf("/");
    sessions.push({
      transport: slash < 0 ? key : key.slice(0, slash),
      version: slash < 0 ? "" : key.slice(slash + 1),
      count,
    });
  }
  sessions.sort((a, b) => (a.transport + a.version < b.transport + b.version ? -1 : 1));
  const auth: Record<string, number> = {};
  for (const reason of AUTH_FAILURE_REASONS) auth[reason] = 0;
  for (const [reason, n] of input.authFailures ?? []) auth[reason] = n;
  const { rows, total } = broadcastRows(input.tree);
  return {
    time_ms: input.nowMs,
    uptime_ms: input.nowMs - input.startedAtMs,
    draining: input.draining ?? false,
    sessions,
    sessions_opened: stats.sessionsOpened,
    sessions_closed: stats.sessionsClosed,
    session_errors: stats.sessionErrors,
    connection_errors: stats.connectionErrors,
    subscriptions_opened: stats.subscriptionsOpened,
    subscriptions_closed: stats.subscriptionsClosed,
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
    frames_in: stats.framesIn,
    frames_out: stats.framesOut,
    groups_in: stats.groupsIn,
    groups_out: stats.groupsOut,
    groups_dropped: stats.groupsDropped,
    groups_evicted: origin.groupsEvicted,
    cache_bytes: origin.cacheBytes,
    cache_capacity_bytes: input.cacheCapacityBytes ?? null,
    cache_groups: origin.cacheGroups,
    tracks: origin.tracks,
    upstream_subscriptions: origin.upstreamSubscriptions,
    auth_failures: auth,
    broadcasts: rows,
    broadcasts_total: total,
    nodes: input.nodes,
    ...(input.history ? { history: input.history } : {}),
  };
}
