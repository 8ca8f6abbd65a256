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
  /**
   * Open subscriptions by broadcast path (viewer sentinel), bounded by the session's quota; made
   * on the session's first subscription.
   */
  viewers: Map<string, number> | undefined;
  /**
   * Broadcast views memoised by path (so a group does not build one), forgotten wholesale past
   * {@link MAX_BROADCAST_VIEWS_PER_SESSION}; made on the first {@link RelayStats.forBroadcast}.
   */
  views: Map<string, RelayStats> | undefined;
}

/** The key of a view's own state (see {@link ViewState}). */
const VIEW_STATE: unique symbol = Symbol("RelayStats view state");

/** A session or broadcast view: the process counters with a {@link ViewState} of its own. */
interface View extends RelayStats {
  readonly [VIEW_STATE]: ViewState;
}

/**
 * The whole per-view state: a session view has `path` undefined, a broadcast view the absolute
 * broadcast path. The accessors and methods that use it live once on a shared prototype (see
 * {@link RelayStats.forSession}), so a view costs two small objects, not a closure per counter.
 */
class ViewState {
  readonly binding: SessionBinding;
  readonly path: string | undefined;
  /** `path` is under the tiers' excluded prefix: no traffic entry. */
  readonly excluded: boolean;
  /** The tier (and its generation) the cached entries below belong to. */
  #counters: TierCounters | undefined = undefined;
  #generation = -1;
  #egress: Traffic | undefined = undefined;
  #ingress: Traffic | undefined = undefined;

  constructor(binding: SessionBinding, path: string | undefined, excluded: boolean) {
    this.binding = binding;
    this.path = path;
    this.excluded = excluded;
  }

  /** The traffic entry of `path` for a role: looked up once per prune (or rebinding), not per increment. */
  entry(egress: boolean): Traffic | undefined {
    const path = this.path;
    const counters = this.binding.counters;
    if (this.#counters !== counters || this.#generation !== counters.generation) {
      this.#counters = counters;
      this.#generation = counters.generation;
      this.#egress = this.#ingress = undefined;
    }
    const cached = egress ? this.#egress : this.#ingress;
    if (cached !== undefined || this.excluded || path === undefined) return cached;
    const found = counters.traffic(egress ? "publisher" : "subscriber", path);
    // traffic() may have pruned to make room: then a later increment looks up again.
    if (this.#generation === counters.generation) {
      if (egress) this.#egress = found;
      else this.#ingress = found;
    }
    return found;
  }

  /** Add `delta` to `field` of the tier's totals and of the path's entry. */
  add(egress: boolean, field: keyof Traffic, delta: number): void {
    const counters = this.binding.counters;
    (egress ? counters.totalPublisher : counters.totalSubscriber)[field] += delta;
    if (this.path === undefined) return;
    const e = this.entry(egress);
    if (e !== undefined) e[field] += delta;
  }

  /** Add groups, frames and bytes to the tier's totals and the path's entry in one go. */
  traffic(egress: boolean, groups: number, frames: number, bytes: number): void {
    const counters = this.binding.counters;
    const total = egress ? counters.totalPublisher : counters.totalSubscriber;
    total.groups += groups;
    total.frames += frames;
    total.bytes += bytes;
    if (this.path === undefined) return;
    // The common case first: the cached entry is still the tier's.
    let e = this.#counters === counters && this.#generation === counters.generation
      ? (egress ? this.#egress : this.#ingress)
      : undefined;
    if (e === undefined) e = this.entry(egress);
    if (e === undefined) return;
    e.groups += groups;
    e.frames += frames;
    e.bytes += bytes;
  }

  /** `delta` subscriptions opened on `path`: true when the session's first one opens a viewer. */
  viewerOpened(delta: number): boolean {
    if (this.path === undefined) return false;
    const viewers = this.binding.viewers ??= new Map();
    const open = viewers.get(this.path) ?? 0;
    viewers.set(this.path, open + delta);
    return open === 0;
  }

  /** `delta` subscriptions closed on `path`: true when the session's last one closes its viewer. */
  viewerClosed(delta: number): boolean {
    const viewers = this.binding.viewers;
    if (this.path === undefined || viewers === undefined) return false;
    const open = viewers.get(this.path);
    if (open === undefined) return false;
    if (open > delta) {
      viewers.set(this.path, open - delta);
      return false;
    }
    viewers.delete(this.path);
    return true;
  }
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

  /** The prototype of every view of these counters (made on the first {@link forSession}). */
  #viewPrototype: RelayStats | undefined = undefined;

  /**
   * A view for one session: the same counters (every numeric field reads and writes these), and
   * the traffic and session counts also land in `tier`'s totals; sessions are counted under the
   * auth `root`. Traffic entries are keyed by broadcast path, so counting under one goes through
   * {@link forBroadcast} on this view. The session layer increments plain fields, so each field of
   * a view is an accessor (defined once, on the views' shared prototype); fields added later are
   * forwarded the same way.
   */
  forSession(tier: string, root: string): RelayStats {
    const binding: SessionBinding = {
      counters: this.tiers.tier(tier),
      root,
      viewers: undefined,
      views: undefined,
    };
    return this.#view(binding, undefined);
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
    const excluded = path !== undefined && this.tiers.exclude !== undefined &&
      isUnder(path, this.tiers.exclude);
    const view = Object.create(this.#viewPrototype ??= viewPrototype(this, this.#view.bind(this)));
    view[VIEW_STATE] = new ViewState(binding, path, excluded);
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

/**
 * The prototype shared by every view of `root`: an accessor per numeric field of `root` (reads and
 * writes `root`'s field; a traffic field also counts in the view's tier and broadcast entry) and
 * the view methods, all reading the view's {@link ViewState}. Built once per `root`.
 */
function viewPrototype(
  root: RelayStats,
  makeView: (binding: SessionBinding, path: string) => RelayStats,
): RelayStats {
  const fields = root as unknown as Record<string, number>;
  const proto = Object.create(root) as RelayStats;
  for (const key of Object.keys(root)) {
    if (typeof fields[key] !== "number") continue;
    const traffic = TRAFFIC_FIELDS[key];
    if (traffic === undefined) {
      Object.defineProperty(proto, key, {
        get: () => fields[key],
        set: (value: number) => void (fields[key] = value),
      });
      continue;
    }
    const egress = traffic[0] === "publisher";
    const field = traffic[1];
    const opens = key === "subscriptionsOpened";
    const closes = key === "subscriptionsClosed";
    Object.defineProperty(proto, key, {
      get: () => fields[key],
      set(this: View, value: number) {
        const delta = value - fields[key];
        fields[key] = value;
        const state = this[VIEW_STATE];
        state.add(egress, field, delta);
        if (delta <= 0) return;
        if (opens && state.viewerOpened(delta)) this.viewersOpened++;
        else if (closes && state.viewerClosed(delta)) this.viewersClosed++;
      },
    });
  }
  const methods:
    & Pick<
      RelayStats,
      "countOut" | "countIn" | "forBroadcast" | "bind" | "sessionOpened" | "sessionClosed"
    >
    & ThisType<View> = {
      countOut(groups, frames, bytes) {
        root.groupsOut += groups;
        root.framesOut += frames;
        root.bytesOut += bytes;
        this[VIEW_STATE].traffic(true, groups, frames, bytes);
      },
      countIn(groups, frames, bytes) {
        root.groupsIn += groups;
        root.framesIn += frames;
        root.bytesIn += bytes;
        this[VIEW_STATE].traffic(false, groups, frames, bytes);
      },
      forBroadcast(path) {
        const state = this[VIEW_STATE];
        if (state.path !== undefined) return this;
        const binding = state.binding;
        const views = binding.views ??= new Map();
        let v = views.get(path);
        if (v === undefined) {
          if (views.size >= MAX_BROADCAST_VIEWS_PER_SESSION) views.clear();
          v = makeView(binding, path);
          views.set(path, v);
        }
        return v;
      },
      bind(tier, r) {
        const state = this[VIEW_STATE];
        if (state.path !== undefined) return;
        state.binding.counters = root.tiers.tier(tier);
        state.binding.root = r;
      },
      sessionOpened(transport, version) {
        root.sessionOpened(transport, version);
        const state = this[VIEW_STATE];
        if (state.path !== undefined) return;
        const { counters, root: authRoot } = state.binding;
        counters.totalSessions.sessions++;
        const entry = counters.presence(authRoot);
        if (entry !== undefined) entry.sessions++;
      },
      sessionClosed(transport, version) {
        root.sessionClosed(transport, version);
        const state = this[VIEW_STATE];
        if (state.path !== undefined) return;
        const { counters, root: authRoot } = state.binding;
        counters.totalSessions.sessions_closed++;
        const entry = counters.sessions.get(authRoot);
        if (entry !== undefined && entry.sessions > entry.sessions_closed) entry.sessions_closed++;
      },
    };
  for (const [name, method] of Object.entries(methods)) {
    Object.defineProperty(proto, name, { value: method, writable: true, configurable: true });
  }
  return proto;
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
