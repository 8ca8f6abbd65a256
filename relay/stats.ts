/**
 * Traffic and session counters shared by the session layer, the relay and the metrics endpoint.
 * One instance per relay process (created in main and passed down; no globals).
 *
 * @module
 */

/** Broadcast views one session keeps memoised (see {@link RelayStats.forBroadcast}). */
export const MAX_BROADCAST_VIEWS_PER_SESSION = 256;

/** What a session's views count into (rebound once by {@link RelayStats.bind}). */
interface SessionBinding {
  counters: TierCounters;
  /** The auth root (`sessions.json` key). */
  root: string;
  /** Open subscriptions by broadcast path (viewer sentinel), bounded by the session's quota. */
  readonly viewers: Map<string, number>;
}

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
  /** Distinct (broadcast, session) subscriptions opened / closed (egress viewers). */
  viewersOpened = 0;
  viewersClosed = 0;
  /** One-shot group fetches served to subscribers. */
  fetchesServed = 0;
  /** Broadcast announcements sent to subscribers: active, ended, and the path bytes of both. */
  announcedOut = 0;
  announcedOutClosed = 0;
  announcedBytesOut = 0;
  /** Subscriptions the relay opened / closed towards publishers (ingress). */
  ingressSubscriptionsOpened = 0;
  ingressSubscriptionsClosed = 0;
  /** Broadcast announcements received from publishers: active, ended, and their path bytes. */
  announcedIn = 0;
  announcedInClosed = 0;
  announcedBytesIn = 0;
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
   * the traffic and session counts also land in `tier`'s totals; sessions are counted under the
   * auth `root`. Traffic entries are keyed by broadcast path, so counting under one goes through
   * {@link forBroadcast} on this view. The session layer increments plain fields, so each field of
   * a view is an accessor; fields added later are forwarded the same way.
   */
  forSession(tier: string, root: string): RelayStats {
    const binding: SessionBinding = { counters: this.tiers.tier(tier), root, viewers: new Map() };
    const view = this.#view(binding, undefined);
    view.sessionOpened = (transport, version) => {
      this.sessionOpened(transport, version);
      binding.counters.totalSessions.sessions++;
      const entry = binding.counters.presence(binding.root);
      if (entry !== undefined) entry.sessions++;
    };
    view.sessionClosed = (transport, version) => {
      this.sessionClosed(transport, version);
      binding.counters.totalSessions.sessions_closed++;
      const entry = binding.counters.sessions.get(binding.root);
      if (entry !== undefined && entry.sessions > entry.sessions_closed) entry.sessions_closed++;
    };
    view.bind = (t, r) => {
      binding.counters = this.tiers.tier(t);
      binding.root = r;
    };
    return view;
  }

  /**
   * Re-attribute a session view to `tier` and `root` from now on: a moq-lite-05 session on a
   * URL-less transport learns its credential from its SETUP, after the view was made (call it
   * before the session opens). No-op on the process counters.
   */
  bind(_tier: string, _root: string): void {}

  /**
   * The counters of traffic on broadcast `path` (absolute): on a session's view, they also land
   * in the tier's entry for `path`, and the session's first open subscription on the broadcast
   * counts a viewer (its last close, a viewer closed). On the process counters: these counters.
   */
  forBroadcast(_path: string): RelayStats {
    return this;
  }

  /**
   * Count `groups` groups, `frames` frames and `bytes` payload bytes sent to subscribers: one call
   * where three counter updates would each go through a view's accessors (hot path: per group and
   * per batch of frames, for every subscriber).
   */
  countOut(groups: number, frames: number, bytes: number): void {
    this.groupsOut += groups;
    this.framesOut += frames;
    this.bytesOut += bytes;
  }

  /** Count `groups` groups, `frames` frames and `bytes` payload bytes received from publishers. */
  countIn(groups: number, frames: number, bytes: number): void {
    this.groupsIn += groups;
    this.framesIn += frames;
    this.bytesIn += bytes;
  }

  /**
   * Count one announcement of broadcast `path` (absolute): `in` from a publisher, `out` to a
   * subscriber; `active` false for its end. The path's UTF-8 length counts as announce bytes.
   */
  announced(direction: "in" | "out", path: string, active: boolean): void {
    const s = this.forBroadcast(path);
    const bytes = utf8Length(path);
    if (direction === "in") {
      if (active) s.announcedIn++;
      else s.announcedInClosed++;
      s.announcedBytesIn += bytes;
    } else {
      if (active) s.announcedOut++;
      else s.announcedOutClosed++;
      s.announcedBytesOut += bytes;
    }
  }

  #view(binding: SessionBinding, path: string | undefined): RelayStats {
    const viewers = binding.viewers;
    const fields = this as unknown as Record<string, number>;
    const view = Object.create(this) as RelayStats;
    const excluded = path !== undefined && this.tiers.exclude !== undefined &&
      isUnder(path, this.tiers.exclude);
    // The entries of `path`, looked up once per prune (or rebinding), not once per increment.
    let cachedCounters: TierCounters | undefined;
    let cachedGeneration = -1;
    let egressEntry: Traffic | undefined;
    let ingressEntry: Traffic | undefined;
    const entry = (egress: boolean): Traffic | undefined => {
      const counters = binding.counters;
      if (cachedCounters !== counters || cachedGeneration !== counters.generation) {
        cachedCounters = counters;
        cachedGeneration = counters.generation;
        egressEntry = ingressEntry = undefined;
      }
      const cached = egress ? egressEntry : ingressEntry;
      if (cached !== undefined || excluded || path === undefined) return cached;
      const found = counters.traffic(egress ? "publisher" : "subscriber", path);
      // traffic() may have pruned to make room: then a later increment looks up again.
      if (cachedGeneration === counters.generation) {
        if (egress) egressEntry = found;
        else ingressEntry = found;
      }
      return found;
    };
    for (const key of Object.keys(this)) {
      if (typeof fields[key] !== "number") continue;
      const traffic = TRAFFIC_FIELDS[key];
      if (traffic === undefined) {
        Object.defineProperty(view, key, {
          get: () => fields[key],
          set: (value: number) => void (fields[key] = value),
        });
        continue;
      }
      const role = traffic[0];
      const field = traffic[1];
      const egress = role === "publisher";
      Object.defineProperty(view, key, {
        get: () => fields[key],
        set: (value: number) => {
          const delta = value - fields[key];
          fields[key] = value;
          const counters = binding.counters;
          (egress ? counters.totalPublisher : counters.totalSubscriber)[field] += delta;
          if (path === undefined) return;
          const e = entry(egress);
          if (e !== undefined) e[field] += delta;
          if (delta <= 0) return;
          if (key === "subscriptionsOpened") {
            const open = viewers.get(path) ?? 0;
            viewers.set(path, open + delta);
            if (open === 0) view.viewersOpened++;
          } else if (key === "subscriptionsClosed") {
            const open = viewers.get(path);
            if (open === undefined) return;
            if (open > delta) viewers.set(path, open - delta);
            else {
              viewers.delete(path);
              view.viewersClosed++;
            }
          }
        },
      });
    }
    // The traffic counters, updated in one go (see countOut / countIn): the same effect as the
    // accessors above, without going through them field by field.
    const traffic = (egress: boolean, groups: number, frames: number, bytes: number) => {
      if (egress) {
        fields.groupsOut += groups;
        fields.framesOut += frames;
        fields.bytesOut += bytes;
      } else {
        fields.groupsIn += groups;
        fields.framesIn += frames;
        fields.bytesIn += bytes;
      }
      const counters = binding.counters;
      const total = egress ? counters.totalPublisher : counters.totalSubscriber;
      total.groups += groups;
      total.frames += frames;
      total.bytes += bytes;
      if (path === undefined) return;
      const e = entry(egress);
      if (e === undefined) return;
      e.groups += groups;
      e.frames += frames;
      e.bytes += bytes;
    };
    view.countOut = (groups, frames, bytes) => traffic(true, groups, frames, bytes);
    view.countIn = (groups, frames, bytes) => traffic(false, groups, frames, bytes);
    if (path !== undefined) {
      view.forBroadcast = () => view;
      return view;
    }
    // Broadcast views hold no state of their own: memoised so a group does not build one, and
    // forgotten wholesale when a session has touched many broadcasts.
    const views = new Map<string, RelayStats>();
    view.forBroadcast = (p) => {
      let v = views.get(p);
      if (v === undefined) {
        if (views.size >= MAX_BROADCAST_VIEWS_PER_SESSION) views.clear();
        v = this.#view(binding, p);
        views.set(p, v);
      }
      return v;
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

/** `path` is `prefix` or below it (segment-wise). */
function isUnder(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}

/** UTF-8 length of `text`, without encoding it. */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      n += 4; // a surrogate pair
      i++;
    } else n += 3;
  }
  return n;
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
 * Cumulative traffic counters of one `(tier, role, broadcast)` slot, with upstream's JSON field
 * names (docs/relay.md §4.2, `[stats]`): what a `publisher.json` / `subscriber.json` frame carries
 * per broadcast path. `datagrams` stays 0: this relay carries no QUIC datagrams yet.
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
/** Entries one tier keeps per track; beyond it new paths or roots count only in the tier totals. */
export const MAX_STATS_ENTRIES_PER_TIER = 4096;

/** Traffic roles: `publisher` = egress (to subscribers), `subscriber` = ingress (from publishers). */
export type TrafficRole = "publisher" | "subscriber";

/**
 * The counters of one tier: totals (for `/metrics`), traffic entries by broadcast path and session
 * entries by auth root (for `[stats]`).
 */
export class TierCounters {
  /** Egress entries by broadcast path. */
  readonly publisher = new Map<string, Traffic>();
  /** Ingress entries by broadcast path. */
  readonly subscriber = new Map<string, Traffic>();
  /** Sessions by auth root. */
  readonly sessions = new Map<string, Presence>();
  /** Egress totals since start (never pruned). */
  readonly totalPublisher: Traffic = emptyTraffic();
  /** Ingress totals since start (never pruned). */
  readonly totalSubscriber: Traffic = emptyTraffic();
  /** Session totals since start (never pruned). */
  readonly totalSessions: Presence = { sessions: 0, sessions_closed: 0 };
  /** Bumped whenever entries are dropped, so cached entry references are looked up again. */
  generation = 0;

  /** The entry of broadcast `path` for `role`, created on first use; undefined when the tier is full. */
  traffic(role: TrafficRole, path: string): Traffic | undefined {
    const map = role === "publisher" ? this.publisher : this.subscriber;
    let entry = map.get(path);
    if (entry === undefined) {
      if (map.size >= MAX_STATS_ENTRIES_PER_TIER && this.prune() === 0) return undefined;
      entry = emptyTraffic();
      map.set(path, entry);
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

  /**
   * Drop the idle entries (call after they were reported): traffic entries with no open
   * announcement, viewer or subscription, session entries with no open session.
   */
  prune(): number {
    let dropped = 0;
    for (const map of [this.publisher, this.subscriber]) {
      for (const [path, t] of map) {
        if (
          t.announced <= t.announced_closed && t.broadcasts <= t.broadcasts_closed &&
          t.subscriptions <= t.subscriptions_closed
        ) {
          map.delete(path);
          dropped++;
        }
      }
    }
    for (const [root, p] of this.sessions) {
      if (p.sessions <= p.sessions_closed) {
        this.sessions.delete(root);
        dropped++;
      }
    }
    if (dropped > 0) this.generation++;
    return dropped;
  }
}

/** Every tier's counters; the default tier `""` always exists. */
export class TierRegistry {
  readonly #tiers = new Map<string, TierCounters>([["", new TierCounters()]]);
  /**
   * Broadcast paths under this prefix get no traffic entries (they still count in the totals):
   * the stats publisher excludes its own prefix, so serving the stats does not feed the stats.
   */
  exclude: string | undefined;

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

/** Which {@link Traffic} field each counter of {@link RelayStats} also counts in. */
const TRAFFIC_FIELDS: Readonly<Record<string, readonly [TrafficRole, keyof Traffic]>> = {
  subscriptionsOpened: ["publisher", "subscriptions"],
  subscriptionsClosed: ["publisher", "subscriptions_closed"],
  viewersOpened: ["publisher", "broadcasts"],
  viewersClosed: ["publisher", "broadcasts_closed"],
  fetchesServed: ["publisher", "fetches"],
  announcedOut: ["publisher", "announced"],
  announcedOutClosed: ["publisher", "announced_closed"],
  announcedBytesOut: ["publisher", "announced_bytes"],
  groupsOut: ["publisher", "groups"],
  framesOut: ["publisher", "frames"],
  bytesOut: ["publisher", "bytes"],
  ingressSubscriptionsOpened: ["subscriber", "subscriptions"],
  ingressSubscriptionsClosed: ["subscriber", "subscriptions_closed"],
  announcedIn: ["subscriber", "announced"],
  announcedInClosed: ["subscriber", "announced_closed"],
  announcedBytesIn: ["subscriber", "announced_bytes"],
  groupsIn: ["subscriber", "groups"],
  framesIn: ["subscriber", "frames"],
  bytesIn: ["subscriber", "bytes"],
};

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
  const process = stats as unknown as Record<string, number>;
  const rest: TierTotals = {
    tier: "",
    publisher: emptyTraffic(),
    subscriber: emptyTraffic(),
    sessions: { sessions: stats.sessionsOpened, sessions_closed: stats.sessionsClosed },
  };
  for (const [key, [role, field]] of Object.entries(TRAFFIC_FIELDS)) rest[role][field] = process[key];
  const rows: TierTotals[] = [rest];
  for (const [tier, counters] of stats.tiers.list()) {
    if (tier === "") continue;
    rows.push({
      tier,
      publisher: { ...counters.totalPublisher },
      subscriber: { ...counters.totalSubscriber },
      sessions: { ...counters.totalSessions },
    });
    for (const [role, field] of Object.values(TRAFFIC_FIELDS)) {
      rest[role][field] -= counters[role === "publisher" ? "totalPublisher" : "totalSubscriber"][field];
    }
    rest.sessions.sessions -= counters.totalSessions.sessions;
    rest.sessions.sessions_closed -= counters.totalSessions.sessions_closed;
  }
  return rows;
}
