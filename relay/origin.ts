/**
 * The origin tree: every broadcast the relay knows, keyed by absolute normalised path. Sessions
 * and cluster links publish into it and read from it; announcements, deduplicated upstream
 * subscriptions, lingering, displacement and the group cache budget are decided here.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { betterRoute, Broadcast, type BroadcastSource, sameOrigin } from "./broadcast.ts";
import { hasPrefix } from "./path.ts";
import { CODE_CANCEL, Track } from "./track.ts";

/** Default time an abruptly lost broadcast stays announced. */
export const DEFAULT_LINGER_MS = 5_000;
/** Default time non-latest groups stay cached. */
export const DEFAULT_GROUP_TTL_MS = 5_000;
/** Default time an upstream subscription stays open after its last subscriber left. */
export const DEFAULT_WARM_MS = 5_000;
/** Default byte budget of the group cache. */
export const DEFAULT_CACHE_CAPACITY_BYTES = 512 * 1024 * 1024;
/** How often the cache sweeper runs. */
export const CACHE_SWEEP_INTERVAL_MS = 1_000;

/** Origin settings. */
export interface OriginOptions {
  logger: Logger;
  lingerMs?: number;
  groupTtlMs?: number;
  warmMs?: number;
  cacheCapacityBytes?: number;
}

/** An announcement event. */
export interface AnnounceEvent {
  /** Absolute path. */
  path: string;
  active: boolean;
  /** Hop chain (for `active`). */
  hops: bigint[];
  /**
   * Set on a seamless route change of a live broadcast (the active source changed to another
   * route of the same publisher, so the hop chain may differ). Only delivered to listeners that
   * asked for route changes ({@link WatchOptions.routes}); announcements are not repeated.
   */
  reroute?: boolean;
}

/** Options of {@link Origin.watch}. */
export interface WatchOptions {
  /**
   * Also deliver route changes (`active` events with `reroute: true`). Cluster peers need them:
   * a route whose new chain contains the peer must be withdrawn from it (split horizon).
   */
  routes?: boolean;
}

/** Receives announcements under a prefix. */
export type AnnounceListener = (event: AnnounceEvent) => void;

/** Returned by {@link Origin.publish}: ends this source's publication. */
export interface Publication {
  /** The source stops publishing. `abrupt` = lost without an explicit end (lingers). */
  end(abrupt: boolean): void;
}

/** A reference to a track held by one subscriber; call `release` exactly once. */
export interface TrackHandle {
  readonly track: Track;
  /** True when this acquisition created the track (and opened its upstream subscription). */
  readonly created: boolean;
  release(): void;
}

/** Counters read by the metrics endpoint. */
export interface OriginStats {
  broadcasts: number;
  tracks: number;
  upstreamSubscriptions: number;
  /** Encoded bytes of the cached frames. */
  cacheBytes: number;
  /** What the cache costs against its budget (frames with per-frame and per-group overhead). */
  cacheCostBytes?: number;
  cacheGroups: number;
  groupsEvicted: number;
}

/** The process-wide origin tree. */
export class Origin {
  readonly #broadcasts = new Map<string, Broadcast>();
  readonly #listeners = new Map<AnnounceListener, { prefix: string; routes: boolean }>();
  /** {@link waitFor} callers by exact path: an announcement visits only its own path's waiters. */
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #log: Logger;
  readonly lingerMs: number;
  readonly groupTtlMs: number;
  readonly warmMs: number;
  readonly cacheCapacityBytes: number;
  /** Cache cost (what the budget counts). */
  #cacheBytes = 0;
  /** Encoded bytes of cached frames (for metrics). */
  #cacheEncodedBytes = 0;
  #groupsEvicted = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  readonly #policy;

  constructor(options: OriginOptions) {
    this.#log = options.logger.child("relay");
    this.lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.groupTtlMs = options.groupTtlMs ?? DEFAULT_GROUP_TTL_MS;
    this.warmMs = options.warmMs ?? DEFAULT_WARM_MS;
    this.cacheCapacityBytes = options.cacheCapacityBytes ?? DEFAULT_CACHE_CAPACITY_BYTES;
    this.#policy = {
      groupTtlMs: this.groupTtlMs,
      onBytes: (cost: number, bytes: number) => {
        this.#cacheBytes += cost;
        this.#cacheEncodedBytes += bytes;
      },
    };
  }

  /** Start the cache sweeper (expiry without writes, byte budget) until `signal` aborts. */
  start(signal: AbortSignal): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => this.sweep(Date.now()), CACHE_SWEEP_INTERVAL_MS);
    signal.addEventListener("abort", () => this.close(), { once: true });
  }

  /** Stop timers and end every broadcast (shutdown). */
  close(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const b of [...this.#broadcasts.values()]) this.#remove(b);
  }

  /**
   * Expire old groups on every track and enforce the budget: evict the stalest non-latest groups
   * across all tracks, oldest first. One sorted pass (O(G log G)) rather than a scan of every track
   * per eviction; each step evicts one group, so the loop ends however small the groups are.
   */
  sweep(nowMs: number): void {
    const tracks: Track[] = [];
    for (const b of this.#broadcasts.values()) {
      for (const t of b.tracks.values()) {
        t.expire(nowMs);
        tracks.push(t);
      }
    }
    if (this.#cacheBytes <= this.cacheCapacityBytes) return;
    const candidates: { track: Track; createdAtMs: number }[] = [];
    for (const t of tracks) {
      for (const g of t.groups) if (g !== t.latest) candidates.push({ track: t, createdAtMs: g.createdAtMs });
    }
    candidates.sort((a, b) => a.createdAtMs - b.createdAtMs);
    for (const c of candidates) {
      if (this.#cacheBytes <= this.cacheCapacityBytes) break;
      // A track's groups are in arrival order, so its stalest candidate is at its front (a group
      // may be skipped if it became the latest; evictOldest never takes the latest).
      if (c.track.evictOldest()) this.#groupsEvicted++;
    }
  }

  /** Snapshot of counters. */
  stats(): OriginStats {
    let tracks = 0, upstream = 0, groups = 0;
    for (const b of this.#broadcasts.values()) {
      for (const t of b.tracks.values()) {
        tracks++;
        if (t.upstream) upstream++;
        groups += t.groups.length;
      }
    }
    return {
      broadcasts: this.#broadcasts.size,
      tracks,
      upstreamSubscriptions: upstream,
      cacheBytes: this.#cacheEncodedBytes,
      cacheCostBytes: this.#cacheBytes,
      cacheGroups: groups,
      groupsEvicted: this.#groupsEvicted,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Announcements

  /** Whether `path` has an open track `name` (a subscription to it opens nothing upstream). */
  hasTrack(path: string, name: string): boolean {
    const t = this.#broadcasts.get(path)?.tracks.get(name);
    return t !== undefined && t.state !== "closed";
  }

  /** Live (or lingering) broadcast paths under `prefix`, sorted. */
  list(prefix: string): string[] {
    const out: string[] = [];
    for (const path of this.#broadcasts.keys()) if (hasPrefix(path, prefix)) out.push(path);
    return out.sort();
  }

  /** The broadcast at `path`, if announced. */
  get(path: string): Broadcast | undefined {
    return this.#broadcasts.get(path);
  }

  /**
   * Watch announcements under `prefix`. Returns the current set (as active events) and a stop
   * function; later changes are delivered to `listener` synchronously.
   */
  watch(
    prefix: string,
    listener: AnnounceListener,
    options: WatchOptions = {},
  ): { initial: AnnounceEvent[]; stop: () => void } {
    const initial: AnnounceEvent[] = [];
    for (const b of this.#broadcasts.values()) {
      if (hasPrefix(b.path, prefix)) initial.push({ path: b.path, active: true, hops: b.hops });
    }
    this.#listeners.set(listener, { prefix, routes: options.routes ?? false });
    return { initial, stop: () => this.#listeners.delete(listener) };
  }

  #emit(event: AnnounceEvent): void {
    if (event.active && !event.reroute) {
      const waiters = this.#waiters.get(event.path);
      if (waiters) { for (const w of [...waiters]) w(); }
    }
    for (const [listener, { prefix, routes }] of this.#listeners) {
      if (!hasPrefix(event.path, prefix) || (event.reroute && !routes)) continue;
      try {
        listener(event);
      } catch (err) {
        this.#log.warn("announce listener failed", { path: event.path, error: String(err) });
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Publishing

  /** Publish `source` at absolute `path`. */
  publish(path: string, source: BroadcastSource): Publication {
    let b = this.#broadcasts.get(path);
    if (!b) {
      b = new Broadcast(path);
      b.sources.push(source);
      b.active = source;
      b.hops = source.hops;
      this.#broadcasts.set(path, b);
      this.#log.debug("broadcast announced", { path, source: source.label });
      this.#emit({ path, active: true, hops: b.hops });
    } else {
      this.#attach(b, source);
    }
    let ended = false;
    const broadcast = b;
    return {
      end: (abrupt: boolean) => {
        if (ended) return;
        ended = true;
        this.#detach(broadcast, source, abrupt);
      },
    };
  }

  #attach(b: Broadcast, source: BroadcastSource): void {
    b.sources.push(source);
    const current = b.active;
    if (current === null) {
      // Lingering: splice the returning publisher in; subscribers keep their subscriptions.
      if (b.lingerTimer !== undefined) clearTimeout(b.lingerTimer);
      b.lingerTimer = undefined;
      this.#log.debug("broadcast resumed", { path: b.path, source: source.label });
      this.#switchRoute(b, source, false);
      return;
    }
    if (sameOrigin(current, source)) {
      // Another route to the same publisher: prefer the better one (cost, hops, tie-break), seamlessly.
      if (betterRoute(b.path, source, current)) this.#switchRoute(b, source, true);
      return;
    }
    // A different publisher: the newcomer wins; the incumbent becomes a standby and is told.
    this.#log.info("broadcast publisher replaced", { path: b.path, old: current.label, new: source.label });
    current.displaced?.(source.label);
    this.#replace(b, source);
  }

  /**
   * Seamless route change: same announcement, tracks re-subscribe on the new source. Route
   * listeners (cluster peers) are told, so a peer on the new chain stops being offered the path.
   * `sameOrigin`: the new source is another route to the same publisher (its group numbers go on:
   * groups subscribers already got are not sent twice).
   */
  #switchRoute(b: Broadcast, source: BroadcastSource, sameOrigin: boolean): void {
    b.active = source;
    b.hops = source.hops;
    for (const t of b.tracks.values()) {
      if (t.state === "closed") continue;
      t.upstream?.cancel();
      t.upstream = null;
      t.restart(sameOrigin);
      t.upstream = source.subscribe(t, t.priority);
    }
    this.#emit({ path: b.path, active: true, hops: b.hops, reroute: true });
  }

  /** Visible replacement: ended + active, tracks end and must be re-subscribed. */
  #replace(b: Broadcast, source: BroadcastSource): void {
    this.#emit({ path: b.path, active: false, hops: b.hops });
    this.#closeTracks(b, null);
    b.active = source;
    b.hops = source.hops;
    this.#emit({ path: b.path, active: true, hops: b.hops });
  }

  #closeTracks(b: Broadcast, code: number | null): void {
    for (const t of b.tracks.values()) t.close(code);
    b.tracks.clear();
    for (const timer of b.warmTimers.values()) clearTimeout(timer);
    b.warmTimers.clear();
  }

  #detach(b: Broadcast, source: BroadcastSource, abrupt: boolean): void {
    const i = b.sources.indexOf(source);
    if (i < 0) return;
    b.sources.splice(i, 1);
    if (this.#broadcasts.get(b.path) !== b) return;
    if (b.active !== source) return; // a standby or alternate route left: nothing visible
    // Prefer the best other route to the same publisher, then the newest standby.
    let best: BroadcastSource | undefined;
    for (const s of b.sources) {
      if (sameOrigin(s, source) && (best === undefined || betterRoute(b.path, s, best))) best = s;
    }
    if (best !== undefined) {
      this.#switchRoute(b, best, true);
      return;
    }
    const standby = b.sources[b.sources.length - 1];
    if (standby) {
      this.#log.info("broadcast reclaimed by standby publisher", { path: b.path, source: standby.label });
      this.#replace(b, standby);
      return;
    }
    if (abrupt && this.lingerMs > 0) {
      b.active = null;
      for (const t of b.tracks.values()) t.upstreamEnded(CODE_CANCEL, true);
      this.#log.debug("broadcast lingering", { path: b.path, ms: this.lingerMs });
      b.lingerTimer = setTimeout(() => {
        b.lingerTimer = undefined;
        if (b.active === null && this.#broadcasts.get(b.path) === b) this.#remove(b);
      }, this.lingerMs);
      return;
    }
    this.#remove(b);
  }

  #remove(b: Broadcast): void {
    if (b.lingerTimer !== undefined) clearTimeout(b.lingerTimer);
    b.lingerTimer = undefined;
    b.active = null;
    this.#broadcasts.delete(b.path);
    this.#closeTracks(b, null);
    this.#log.debug("broadcast ended", { path: b.path });
    this.#emit({ path: b.path, active: false, hops: b.hops });
  }

  // -------------------------------------------------------------------------------------------
  // Subscribing

  /**
   * Wait up to `waitMs` for `path` to be announced (docs/relay.md §8 item 20). Resolves the broadcast,
   * or undefined on timeout / abort.
   */
  waitFor(path: string, waitMs: number, signal?: AbortSignal): Promise<Broadcast | undefined> {
    const b = this.#broadcasts.get(path);
    if (b || waitMs <= 0 || signal?.aborted) return Promise.resolve(b);
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(path);
      if (!waiters) this.#waiters.set(path, waiters = new Set());
      const set = waiters;
      const done = (value: Broadcast | undefined) => {
        clearTimeout(timer);
        set.delete(announced);
        if (set.size === 0 && this.#waiters.get(path) === set) this.#waiters.delete(path);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      };
      const announced = () => done(this.#broadcasts.get(path));
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), waitMs);
      set.add(announced);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Get (or create, opening ONE upstream subscription) the track `name` of broadcast `path`.
   * Returns undefined when the broadcast is not announced. The caller waits for
   * `track.whenReady()`, attaches its consumer, and calls `release()` when done.
   */
  acquireTrack(path: string, name: string, priority: number): TrackHandle | undefined {
    const b = this.#broadcasts.get(path);
    if (!b) return undefined;
    let track = b.tracks.get(name);
    const created = !track || track.state === "closed";
    if (!track || track.state === "closed") {
      track = new Track(path, name, this.#policy);
      track.priority = priority;
      b.tracks.set(name, track);
      b.refs.set(name, 0);
      if (b.active) track.upstream = b.active.subscribe(track, priority);
    } else if (priority > track.priority && track.upstream) {
      track.priority = priority;
      track.upstream.update?.(priority);
    }
    const warm = b.warmTimers.get(name);
    if (warm !== undefined) {
      clearTimeout(warm);
      b.warmTimers.delete(name);
    }
    b.refs.set(name, (b.refs.get(name) ?? 0) + 1);
    const t = track;
    let released = false;
    return {
      track: t,
      created,
      release: () => {
        if (released) return;
        released = true;
        this.#release(b, t);
      },
    };
  }

  #release(b: Broadcast, track: Track): void {
    const name = track.name;
    if (b.tracks.get(name) !== track) return; // replaced or closed already
    const refs = (b.refs.get(name) ?? 1) - 1;
    if (refs > 0) {
      b.refs.set(name, refs);
      return;
    }
    b.refs.delete(name);
    const finish = () => {
      b.warmTimers.delete(name);
      if (b.tracks.get(name) !== track || (b.refs.get(name) ?? 0) > 0) return;
      b.tracks.delete(name);
      track.close(null);
    };
    // Only a track the publisher accepted stays warm: one still pending (never answered) closes
    // with its last subscriber, so subscribe-and-leave cannot pile up upstream subscriptions.
    if (this.warmMs <= 0 || track.state !== "live") {
      finish();
      return;
    }
    b.warmTimers.set(name, setTimeout(finish, this.warmMs));
  }
}
