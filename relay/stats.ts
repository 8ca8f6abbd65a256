/**
 * Traffic and session counters shared by the session layer, the relay and the metrics endpoint.
 * One instance per relay process (created in main and passed down; no globals).
 *
 * @module
 */

/** Label values for a session's transport. */
export type TransportLabel = "websocket" | "quic" | "webtransport" | "cluster" | "tcp" | "unix";

/** Monotonic counters and gauges. Fields are plain numbers: increment them directly. */
export class RelayStats {
  /** Sessions currently open, by `transport/version`. */
  readonly sessionsOpen = new Map<string, number>();
  /** Sessions ever accepted. */
  sessionsOpened = 0;
  /** Sessions ended. */
  sessionsClosed = 0;
  /** Sessions closed for a protocol error (bad input). */
  sessionErrors = 0;
  /** Downstream subscriptions opened / closed. */
  subscriptionsOpened = 0;
  subscriptionsClosed = 0;
  /** Groups, frames and payload bytes received from publishers. */
  groupsIn = 0;
  framesIn = 0;
  bytesIn = 0;
  /** Groups, frames and bytes sent to subscribers. */
  groupsOut = 0;
  framesOut = 0;
  bytesOut = 0;
  /** Groups a subscriber did not get because it was too slow. */
  groupsDropped = 0;
  /** Connection-level failures (handshake errors, garbage). */
  connectionErrors = 0;
  /** `accept(2)` health of each plaintext listener, by listener name (`tcp`, `unix`). */
  readonly listeners = new Map<string, AcceptHealth>();
  /** Per-tier totals and per-root entries (filled through {@link forSession} views). */
  readonly tiers: TierRegistry = new TierRegistry();

  /**
   * A view for one session: the same counters (every numeric field reads and writes these), and
   * the traffic and session counts also land in `tier`'s totals and its entries for `root`. The
   * session layer increments plain fields, so each field of the view is an accessor; fields added
   * later are forwarded the same way.
   */
  forSession(tier: string, root: string): RelayStats {
    const counters = this.tiers.tier(tier);
    const fields = this as unknown as Record<string, number>;
    const view = Object.create(this) as RelayStats;
    for (const key of Object.keys(this)) {
      if (typeof fields[key] !== "number") continue;
      const traffic = TRAFFIC_FIELDS[key];
      Object.defineProperty(view, key, {
        get: () => fields[key],
        set: (value: number) => {
          if (traffic !== undefined) addTraffic(counters, root, traffic[0], traffic[1], value - fields[key]);
          fields[key] = value;
        },
      });
    }
    view.sessionOpened = (transport, version) => {
      this.sessionOpened(transport, version);
      counters.totalSessions.sessions++;
      const entry = counters.presence(root);
      if (entry !== undefined) entry.sessions++;
    };
    view.sessionClosed = (transport, version) => {
      this.sessionClosed(transport, version);
      counters.totalSessions.sessions_closed++;
      const entry = counters.sessions.get(root);
      if (entry !== undefined && entry.sessions > entry.sessions_closed) entry.sessions_closed++;
    };
    return view;
  }

  /** The accept health of `listener` (created on first use: only configured listeners have one). */
  acceptHealth(listener: string): AcceptHealth {
    let health = this.listeners.get(listener);
    if (health === undefined) {
      health = new AcceptHealth();
      this.listeners.set(listener, health);
    }
    return health;
  }

  /** Count a session opening on `transport` with `version`. */
  sessionOpened(transport: TransportLabel, version: string): void {
    this.sessionsOpened++;
    const key = `${transport}/${version}`;
    this.sessionsOpen.set(key, (this.sessionsOpen.get(key) ?? 0) + 1);
  }

  /** Count a session closing. */
  sessionClosed(transport: TransportLabel, version: string): void {
    this.sessionsClosed++;
    const key = `${transport}/${version}`;
    const n = (this.sessionsOpen.get(key) ?? 1) - 1;
    if (n <= 0) this.sessionsOpen.delete(key);
    else this.sessionsOpen.set(key, n);
  }
}

/** Classes of failed `accept(2)` calls (`moq_relay_accept_failures_total{class}`). */
export const ACCEPT_FAILURE_CLASSES = ["connection", "exhausted", "unknown"] as const;
/** Why `accept(2)` failed: a dead connection, an exhausted process, or anything else. */
export type AcceptFailureClass = typeof ACCEPT_FAILURE_CLASSES[number];

/**
 * Failed `accept(2)` calls of one listener by class, and since when it has been unable to accept
 * (a run of `exhausted` failures with no success in between).
 */
export class AcceptHealth {
  readonly failures: Record<AcceptFailureClass, number> = {
    connection: 0,
    exhausted: 0,
    unknown: 0,
  };
  /** `Date.now()` of the first failure of the current run; undefined while accepting. */
  stalledSinceMs: number | undefined;

  /** An accept failed. */
  failed(cls: AcceptFailureClass): void {
    this.failures[cls]++;
    if (cls === "exhausted") this.stalledSinceMs ??= Date.now();
  }

  /** An accept succeeded. */
  accepted(): void {
    this.stalledSinceMs = undefined;
  }

  /** Seconds the listener has been unable to accept; 0 while serving. */
  stalledSeconds(nowMs = Date.now()): number {
    return this.stalledSinceMs === undefined ? 0 : (nowMs - this.stalledSinceMs) / 1000;
  }
}

/**
 * Cumulative traffic counters of one `(tier, role, key)` slot, with upstream's JSON field names
 * (docs/relay.md §4.2, `[stats]`): what a `publisher.json` / `subscriber.json` frame carries per
 * entry. This relay fills `subscriptions*`, `bytes`, `frames` and `groups`; the other fields stay 0.
 */
export interface Traffic {
  announced: number;
  announced_closed: number;
  announced_bytes: number;
  broadcasts: number;
  broadcasts_closed: number;
  subscriptions: number;
  subscriptions_closed: number;
  fetches: number;
  bytes: number;
  frames: number;
  groups: number;
  datagrams: number;
}

/** Cumulative session gauge of one `(tier, root)` slot: what a `sessions.json` entry carries. */
export interface Presence {
  sessions: number;
  sessions_closed: number;
}

/** A zeroed {@link Traffic}. */
export function emptyTraffic(): Traffic {
  return {
    announced: 0,
    announced_closed: 0,
    announced_bytes: 0,
    broadcasts: 0,
    broadcasts_closed: 0,
    subscriptions: 0,
    subscriptions_closed: 0,
    fetches: 0,
    bytes: 0,
    frames: 0,
    groups: 0,
    datagrams: 0,
  };
}

/** Named tiers remembered (the default tier "" is always there); later ones count as "". */
export const MAX_STATS_TIERS = 64;
/** Per-root entries one tier keeps per track; beyond it new roots count only in the tier totals. */
export const MAX_STATS_ENTRIES_PER_TIER = 4096;

/** Traffic roles: `publisher` = egress (to subscribers), `subscriber` = ingress (from publishers). */
export type TrafficRole = "publisher" | "subscriber";

/** The counters of one tier: totals (for `/metrics`) and per-session-root entries (for `[stats]`). */
export class TierCounters {
  /** Egress entries by session root. */
  readonly publisher = new Map<string, Traffic>();
  /** Ingress entries by session root. */
  readonly subscriber = new Map<string, Traffic>();
  /** Sessions by session root. */
  readonly sessions = new Map<string, Presence>();
  /** Egress totals since start (never pruned). */
  readonly totalPublisher: Traffic = emptyTraffic();
  /** Ingress totals since start (never pruned). */
  readonly totalSubscriber: Traffic = emptyTraffic();
  /** Session totals since start (never pruned). */
  readonly totalSessions: Presence = { sessions: 0, sessions_closed: 0 };

  /** The entry of `root` for `role`, created on first use; undefined when the tier is full. */
  traffic(role: TrafficRole, root: string): Traffic | undefined {
    const map = role === "publisher" ? this.publisher : this.subscriber;
    let entry = map.get(root);
    if (entry === undefined) {
      if (map.size >= MAX_STATS_ENTRIES_PER_TIER && this.prune() === 0) return undefined;
      entry = emptyTraffic();
      map.set(root, entry);
    }
    return entry;
  }

  /** The session gauge of `root`, created on first use; undefined when the tier is full. */
  presence(root: string): Presence | undefined {
    let entry = this.sessions.get(root);
    if (entry === undefined) {
      if (this.sessions.size >= MAX_STATS_ENTRIES_PER_TIER && this.prune() === 0) return undefined;
      entry = { sessions: 0, sessions_closed: 0 };
      this.sessions.set(root, entry);
    }
    return entry;
  }

  /** Drop the entries of roots with no open session (call after they were reported). */
  prune(): number {
    let dropped = 0;
    const live = (root: string) => {
      const p = this.sessions.get(root);
      return p !== undefined && p.sessions > p.sessions_closed;
    };
    for (const map of [this.publisher, this.subscriber, this.sessions] as Map<string, unknown>[]) {
      for (const root of map.keys()) {
        if (!live(root)) {
          map.delete(root);
          dropped++;
        }
      }
    }
    return dropped;
  }
}

/** Every tier's counters; the default tier `""` always exists. */
export class TierRegistry {
  readonly #tiers = new Map<string, TierCounters>([["", new TierCounters()]]);

  /** The counters of `tier` (the default tier once {@link MAX_STATS_TIERS} named tiers exist). */
  tier(tier: string): TierCounters {
    let counters = this.#tiers.get(tier);
    if (counters === undefined) {
      if (this.#tiers.size > MAX_STATS_TIERS) return this.#tiers.get("")!;
      counters = new TierCounters();
      this.#tiers.set(tier, counters);
    }
    return counters;
  }

  /** Tiers in label order, the default tier first. */
  list(): [string, TierCounters][] {
    return [...this.#tiers].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}

/** Which {@link Traffic} field each per-session counter of {@link RelayStats} also counts in. */
const TRAFFIC_FIELDS: Readonly<Record<string, readonly [TrafficRole, keyof Traffic]>> = {
  subscriptionsOpened: ["publisher", "subscriptions"],
  subscriptionsClosed: ["publisher", "subscriptions_closed"],
  groupsOut: ["publisher", "groups"],
  framesOut: ["publisher", "frames"],
  bytesOut: ["publisher", "bytes"],
  groupsIn: ["subscriber", "groups"],
  framesIn: ["subscriber", "frames"],
  bytesIn: ["subscriber", "bytes"],
};

function addTraffic(
  tier: TierCounters,
  root: string,
  role: TrafficRole,
  field: keyof Traffic,
  n: number,
): void {
  (role === "publisher" ? tier.totalPublisher : tier.totalSubscriber)[field] += n;
  const entry = tier.traffic(role, root);
  if (entry !== undefined) entry[field] += n;
}

/** One tier's totals, as `/metrics` shows them. */
export interface TierTotals {
  tier: string;
  publisher: Traffic;
  subscriber: Traffic;
  sessions: Presence;
}

/**
 * Totals per tier: named tiers from their counters; the default tier `""` is the process-wide
 * counters minus the named tiers, so the rows always add up to the process totals.
 */
export function tierTotals(stats: RelayStats): TierTotals[] {
  const rows: TierTotals[] = [];
  const rest: TierTotals = {
    tier: "",
    publisher: {
      ...emptyTraffic(),
      subscriptions: stats.subscriptionsOpened,
      subscriptions_closed: stats.subscriptionsClosed,
      groups: stats.groupsOut,
      frames: stats.framesOut,
      bytes: stats.bytesOut,
    },
    subscriber: { ...emptyTraffic(), groups: stats.groupsIn, frames: stats.framesIn, bytes: stats.bytesIn },
    sessions: { sessions: stats.sessionsOpened, sessions_closed: stats.sessionsClosed },
  };
  rows.push(rest);
  for (const [tier, counters] of stats.tiers.list()) {
    if (tier === "") continue;
    rows.push({
      tier,
      publisher: { ...counters.totalPublisher },
      subscriber: { ...counters.totalSubscriber },
      sessions: { ...counters.totalSessions },
    });
    for (const role of ["publisher", "subscriber"] as const) {
      for (const field of ["subscriptions", "subscriptions_closed", "groups", "frames", "bytes"] as const) {
        rest[role][field] -= counters[role === "publisher" ? "totalPublisher" : "totalSubscriber"][field];
      }
    }
    rest.sessions.sessions -= counters.totalSessions.sessions;
    rest.sessions.sessions_closed -= counters.totalSessions.sessions_closed;
  }
  return rows;
}
