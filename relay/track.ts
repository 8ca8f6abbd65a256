/**
 * A track inside the relay: the group cache of one (broadcast, track) pair, fed by at most one
 * upstream subscription and read by any number of downstream consumers (deduplication).
 *
 * @module
 */

import { Group, type GroupBudget } from "./group.ts";

/** Reset code: cancelled / normal. */
export const CODE_CANCEL = 0;
/** Reset code: group expired. */
export const CODE_OLD = 2;
/** Reset code: not found. */
export const CODE_NOT_FOUND = 13;
/** Reset code: the subscriber fell behind the cached frames. */
export const CODE_LAGGED = 26;
/** Reset code: evicted from the cache under memory pressure. */
export const CODE_EVICTED = 31;

/**
 * A track's immutable publisher properties, version-neutral (moq-lite-05 carries them in
 * TRACK_INFO; older versions carry none and get {@link DEFAULT_TRACK_INFO}).
 */
export interface TrackInfo {
  /** Publisher priority (0–255). */
  priority: number;
  /** Whether the publisher delivers groups in order. */
  ordered: boolean;
  /** How long the publisher retains a non-latest group, in ms. */
  maxLatencyMs: number;
  /** Frame timestamp units per second (never 0). */
  timescale: number;
}

/**
 * What a track whose publisher states nothing reports (upstream's synthesized default): priority
 * 0, unordered, 5 s retention, millisecond timestamps (frames are stamped with their arrival time).
 */
export const DEFAULT_TRACK_INFO: Readonly<TrackInfo> = Object.freeze({
  priority: 0,
  ordered: false,
  maxLatencyMs: 5_000,
  timescale: 1_000,
});

/** A downstream reader of a track (a subscriber session, `/fetch`, a cluster link). */
export interface TrackConsumer {
  /** A new group began (or, at attach, the latest cached group). */
  onGroup(group: Group): void;
  /** The track ended: `code` null = clean end (FIN), else the reset code to forward. */
  onClose(code: number | null): void;
  /**
   * True when the consumer reports its interest per group: it {@link Group.hold holds} each group
   * it may still read and lets go ({@link Group.unhold}) once it is done with it or passed over it.
   * A consumer without it wants every group: while one is attached, every group is read whole.
   */
  readonly selective?: boolean;
}

/** A live upstream feed for a track, created by a {@link TrackSourceLink}. */
export interface UpstreamSubscription {
  /** Stop pulling (FIN the upstream subscribe stream). Idempotent. */
  cancel(): void;
  /** Forward a changed aggregate priority (lite-03+). Optional. */
  update?(priority: number): void;
}

/** Opens upstream subscriptions; implemented by whatever publishes the broadcast. */
export interface TrackSourceLink {
  /**
   * Start feeding `track` from upstream. The source calls `track.ready()` once the upstream
   * accepted (SUBSCRIBE_OK), `track.startGroup()` / `Group.append()` for data and
   * `track.upstreamEnded()` when the upstream subscription ends.
   */
  subscribe(track: Track, priority: number): UpstreamSubscription;
}

/** Track lifecycle. */
export type TrackState = "pending" | "live" | "closed";

/** Cache policy shared by all tracks (owned by the origin). */
export interface TrackCachePolicy {
  /** How long non-latest groups stay cached. */
  groupTtlMs: number;
  /** Called with the cost and encoded-byte deltas of every cache change (global budget). */
  onBytes(cost: number, bytes: number): void;
}

/**
 * Most groups one track caches; beyond it the oldest (never the latest) is evicted. A publisher
 * that starts a group per datagram or per frame cannot grow the list (and its per-group cost)
 * without bound inside the TTL.
 */
export const MAX_GROUPS_PER_TRACK = 4096;

/**
 * Offered groups that no consumer has started reading beyond which every consumer is behind:
 * consumers serve groups oldest first, so when even the fastest one has not reached the last this
 * many, a new group offered now would only join every consumer's queue behind them. It is held
 * back instead (see {@link Track.startGroup}) and offered once a consumer catches up, so the group
 * served next is recent. Small, because the groups already queued are served first. A consumer
 * keeping up starts each group as soon as it arrives, so even a publisher running 2–12 groups ahead
 * (the closed-loop bench) never gets a group withheld (measured at 200 B – 16 KiB frames).
 */
export const MAX_UNREAD_GROUPS = 4;

/** How many TTLs an open group that consumers are reading may stay cached (see {@link Track.expire}). */
export const HELD_GROUP_TTL_FACTOR = 2;

/**
 * Fewest consumers for which groups are withheld ({@link MAX_UNREAD_GROUPS}). A lone consumer's own
 * queue already drops what it cannot take, counts what it skipped and resets a group it is stuck on
 * once that is a budget behind, for one offer per group; withholding saves an offer and a drop per
 * consumer, which matters for a fan-out.
 */
export const MIN_CONSUMERS_TO_WITHHOLD = 2;

/** How many of the newest cached groups {@link Track.startGroup} looks through for a finished one to size a new group by. */
export const CHUNK_HINT_LOOKBACK_GROUPS = 16;

/** One track's cache and fan-out. */
export class Track {
  /** Absolute broadcast path. */
  readonly broadcast: string;
  /** Track name. */
  readonly name: string;
  /** Cached groups, oldest first (arrival order); at most {@link MAX_GROUPS_PER_TRACK}. */
  readonly groups: Group[] = [];
  /** The newest cached group of each sequence (datagram dedup and FETCH look groups up by it). */
  readonly #bySequence = new Map<number, Group>();
  /** The newest group by sequence number (never evicted while the track lives). */
  latest: Group | null = null;
  /** Lifecycle state. */
  state: TrackState = "pending";
  /** The reset code when the track closed with an error (null = clean). */
  closeCode: number | null = null;
  /** Current consumers. */
  readonly consumers = new Set<TrackConsumer>();
  /** The upstream subscription feeding it, if any. */
  upstream: UpstreamSubscription | null = null;
  /** The publisher's properties; set by the source before {@link Track.ready}. */
  info: Readonly<TrackInfo> = DEFAULT_TRACK_INFO;
  /** Priority requested upstream. */
  priority = 0;
  /** Counters for metrics. */
  groupsIn = 0;
  /** Frames received from upstream. */
  framesIn = 0;
  /** Bytes received from upstream. */
  bytesIn = 0;

  readonly #policy: TrackCachePolicy;
  #readyWaiters: Array<(ok: boolean) => void> = [];
  readonly #onBytes: GroupBudget;
  /** After a same-publisher route change: groups up to this sequence were already offered. */
  #resumeAfter = -1;
  /** Attached consumers that are not {@link TrackConsumer.selective}: they want every group. */
  #greedy = 0;
  /** Open groups stopped because no consumer would read them ({@link Track.groupIdle}). */
  groupsAbandoned = 0;
  /** Shared by every group of the track as its {@link Group.onIdle}. */
  readonly #onIdle = (group: Group) => this.groupIdle(group);
  /**
   * Groups offered to selective consumers that none of them has read yet, oldest first (at most
   * {@link MAX_UNREAD_GROUPS} + 1: nothing is offered while that many wait).
   */
  readonly #unread: Group[] = [];
  /** The newest group while every consumer is behind: cached, not offered (nor read) yet. */
  #withheld: Group | null = null;
  /** Resolves whether the withheld group's frames are wanted (see {@link Track.whenWanted}). */
  #wanted: ((wanted: boolean) => void) | null = null;
  /** Groups withheld and replaced by a newer one before any consumer was offered them. */
  groupsSkipped = 0;
  /** Shared by every offered group as its {@link Group.onRead}. */
  readonly #onRead = (group: Group) => this.#groupRead(group);
  /** A check of the withheld group is queued (see {@link Track.#scheduleOffer}). */
  #offerQueued = false;
  readonly #queuedOffer = () => {
    this.#offerQueued = false;
    this.#offerWithheld();
  };

  constructor(broadcast: string, name: string, policy: TrackCachePolicy) {
    this.broadcast = broadcast;
    this.name = name;
    this.#policy = policy;
    this.#onBytes = (cost, bytes) => policy.onBytes(cost, bytes);
  }

  /** Resolves true once the track is live, false if it closed first. */
  whenReady(): Promise<boolean> {
    if (this.state === "live") return Promise.resolve(true);
    if (this.state === "closed") return Promise.resolve(false);
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  #settleReady(ok: boolean): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w(ok);
  }

  /** Upstream accepted the subscription. */
  ready(): void {
    if (this.state !== "pending") return;
    this.state = "live";
    this.#settleReady(true);
  }

  /**
   * A new upstream subscription begins (first one, or a splice onto a returning publisher): its
   * sequence numbers are a new space, so the old cache is dropped. `sameOrigin`: the new
   * subscription is another route to the same publisher, whose sequence numbers continue.
   */
  restart(sameOrigin = false): void {
    // Another route to the same publisher re-sends its latest group: what subscribers were
    // already offered is not offered twice (at most the group in flight is lost).
    if (!sameOrigin) this.#resumeAfter = -1;
    else if (this.latest) this.#resumeAfter = Math.max(this.#resumeAfter, this.latest.sequence);
    for (const g of this.groups) g.release(CODE_CANCEL);
    this.groups.length = 0;
    this.#bySequence.clear();
    this.latest = null;
    this.#unread.length = 0;
    this.#unwithhold(false);
  }

  /**
   * Start a new group from upstream and fan it out. Returns the group to append frames to.
   *
   * While every consumer is behind ({@link MAX_UNREAD_GROUPS}), the new group is withheld rather
   * than offered: the one withheld before it is then pointless (a newer group exists and nobody
   * was offered it), so it leaves the cache and its stream is stopped before its bytes are read,
   * with no work per consumer. A consumer catching up gets the newest group.
   */
  startGroup(sequence: number): Group {
    // Already offered before a route change: read and dropped, not cached nor fanned out.
    if (sequence <= this.#resumeAfter) return new Group(sequence);
    // Sized like a recent finished group: its frames then lie in one chunk (one write per subscriber).
    const previous = this.latest;
    const group = new Group(sequence, this.#onBytes, this.#chunkHint());
    group.onIdle = this.#onIdle;
    this.groupsIn++;
    this.#cache(group);
    const behind = this.#behind();
    const replaced = this.#withheld;
    // A newer group makes the withheld one pointless, whether or not the new one is withheld too.
    if (replaced !== null && group === this.latest) {
      this.#unwithhold(replaced.holds > 0);
      this.#skip(replaced);
    }
    if (!behind) this.#offer(group);
    else if (group === this.latest) {
      this.#withheld = group;
      group.onRead = this.#onRead; // a reader of its own (a fetch) wants its frames
    }
    // The group that was latest may now be one nobody reads; so may a late, older new one.
    if (previous !== null && previous !== this.latest) this.groupIdle(previous);
    if (group !== this.latest) this.groupIdle(group);
    this.expire(Date.now());
    return group;
  }

  /**
   * Bytes of small frames a new group likely holds: those of the newest finished group among the
   * last {@link CHUNK_HINT_LOOKBACK_GROUPS} cached (a publisher running ahead overlaps groups, so
   * the latest is usually unfinished and would size the first chunk to a fraction of a group), else
   * the latest group's so far.
   */
  #chunkHint(): number {
    const groups = this.groups;
    const stop = Math.max(0, groups.length - CHUNK_HINT_LOOKBACK_GROUPS);
    for (let i = groups.length - 1; i >= stop; i--) {
      if (groups[i].state === "done") return groups[i].compactedBytes;
    }
    return this.latest?.compactedBytes ?? 0;
  }

  /**
   * A withheld group was superseded: unless a late joiner took it, it leaves the cache (complete or
   * not: nobody was offered it) and an open one stops being read upstream.
   */
  #skip(group: Group): void {
    if (group.holds > 0) return;
    const i = this.groups.lastIndexOf(group); // it was the newest: at the end of a list of thousands
    if (i < 0) return; // no longer cached: whoever removed it released it
    this.groups.splice(i, 1);
    this.#uncache(group);
    this.groupsSkipped++;
    if (group.state === "open") group.abandon(CODE_OLD);
    else group.release(CODE_OLD);
  }

  /**
   * For the writer feeding `group`: null when its frames are wanted now; while the group is
   * withheld, a promise resolved true once they are (offered, or taken by a late joiner) and false
   * when a newer group superseded it unread (it was abandoned: its stream is being stopped). The
   * writer leaves its bytes with the transport meanwhile: a superseded group is never read.
   */
  whenWanted(group: Group): Promise<boolean> | null {
    if (group !== this.#withheld || group.holds > 0 || this.#wanted !== null) return null;
    return new Promise((resolve) => (this.#wanted = resolve));
  }

  /** The withheld group stays withheld from the consumers, but its frames are wanted now. */
  #unwantedToWanted(): void {
    const resolve = this.#wanted;
    this.#wanted = null;
    resolve?.(true);
  }

  /** Nothing is withheld any more; its writer is told whether the frames are wanted. */
  #unwithhold(wanted: boolean): void {
    this.#withheld = null;
    const resolve = this.#wanted;
    this.#wanted = null;
    resolve?.(wanted);
  }

  /** Offer `group` to every consumer, remembering it until one of them reads it. */
  #offer(group: Group): void {
    if (this.#greedy === 0 && this.consumers.size >= MIN_CONSUMERS_TO_WITHHOLD) {
      this.#unread.push(group);
      group.onRead = this.#onRead;
    }
    for (const c of this.consumers) c.onGroup(group);
  }

  /**
   * Whether every consumer is behind: at least {@link MIN_CONSUMERS_TO_WITHHOLD}, all of them
   * selective, and {@link MAX_UNREAD_GROUPS} offered groups still queued by one of them and read by
   * none (read, let-go and aborted ones are forgotten here). Every consumer either reads or lets go
   * of what it holds, and each of those re-checks: the withheld group is never stuck behind groups
   * nobody will read.
   */
  #behind(): boolean {
    const unread = this.#unread;
    if (this.#greedy > 0 || this.consumers.size < MIN_CONSUMERS_TO_WITHHOLD) {
      unread.length = 0;
      return false;
    }
    let kept = 0;
    // A group no consumer holds any more is queued nowhere (they all passed over it).
    for (const g of unread) if (!g.read && g.holds > 0 && g.state !== "aborted") unread[kept++] = g;
    unread.length = kept;
    return kept >= MAX_UNREAD_GROUPS;
  }

  /**
   * A consumer started reading `group`: it may have caught up enough for the withheld group. A
   * reader of the withheld group itself (e.g. a fetch of the latest group) has its frames read.
   */
  #groupRead(group: Group): void {
    if (group === this.#withheld) {
      this.#unwantedToWanted();
      return;
    }
    const i = this.#unread.indexOf(group);
    if (i >= 0) this.#unread.splice(i, 1);
    this.#scheduleOffer();
  }

  /**
   * Check the withheld group once the current task is done: reads and let-gos happen inside a
   * consumer's own bookkeeping, which an offer must not re-enter.
   */
  #scheduleOffer(): void {
    if (this.#withheld === null || this.#offerQueued) return;
    this.#offerQueued = true;
    queueMicrotask(this.#queuedOffer);
  }

  /** Offer the withheld group once consumers are no longer all behind (or on the first greedy one). */
  #offerWithheld(): void {
    const group = this.#withheld;
    if (group === null || this.#behind()) return;
    this.#unwithhold(true);
    // Offered only while still the newest and not released (evicted, expired, abandoned).
    if (group === this.latest && group.state !== "aborted") this.#offer(group);
  }

  /**
   * Stop reading `group` when nobody would read it: it is open, not the latest, no consumer holds
   * it and every attached consumer is {@link TrackConsumer.selective} (so all of them passed over
   * it). It leaves the cache and its writer stops reading it upstream ({@link Group.abandon}). A
   * track without consumers keeps caching (for late joiners).
   */
  groupIdle(group: Group): void {
    this.#abandonIdle(group);
    // A consumer let go of a group (passed over it): it may no longer be behind.
    if (group !== this.#withheld) this.#scheduleOffer();
  }

  #abandonIdle(group: Group): void {
    if (
      group.state !== "open" || group.holds > 0 || group === this.latest || this.#greedy > 0 ||
      this.consumers.size === 0
    ) return;
    const i = this.groups.indexOf(group);
    if (i < 0) return; // no longer cached: whoever removed it released it
    this.groups.splice(i, 1);
    this.#uncache(group);
    this.groupsAbandoned++;
    group.abandon(CODE_OLD);
  }

  /** Add `group` to the cache, evicting the oldest beyond {@link MAX_GROUPS_PER_TRACK}. */
  #cache(group: Group): void {
    this.groups.push(group);
    this.#bySequence.set(group.sequence, group);
    if (!this.latest || group.sequence >= this.latest.sequence) this.latest = group;
    // Each pass removes one group (the oldest, or the next one when the oldest is the latest).
    while (this.groups.length > MAX_GROUPS_PER_TRACK) {
      const [g] = this.groups.splice(this.groups[0] === this.latest ? 1 : 0, 1);
      this.#uncache(g);
      g.release(CODE_EVICTED);
    }
  }

  /** Forget `g`'s sequence entry when it leaves the cache. */
  #uncache(g: Group): void {
    if (this.#bySequence.get(g.sequence) === g) this.#bySequence.delete(g.sequence);
  }

  /**
   * Cache a complete single-frame group from upstream (a QUIC datagram) and fan it out whole.
   * Returns undefined when a group with that sequence is cached already (datagram and stream
   * copies of one group are deduplicated by sequence).
   */
  completeGroup(sequence: number, encodedFrame: Uint8Array, timestamp: bigint): Group | undefined {
    if (this.findGroup(sequence) || sequence <= this.#resumeAfter) return undefined;
    // A datagram far behind the newest group is stale: it would only churn the cache.
    if (this.latest && sequence < this.latest.sequence - MAX_GROUPS_PER_TRACK) return undefined;
    const group = new Group(sequence, this.#onBytes);
    group.viaDatagram = true;
    group.append(encodedFrame, timestamp);
    group.finish();
    this.groupsIn++;
    this.#cache(group);
    for (const c of this.consumers) c.onGroup(group);
    this.expire(Date.now());
    return group;
  }

  /** Count one upstream frame (bytes include its size prefix). */
  countFrame(bytes: number): void {
    this.framesIn++;
    this.bytesIn += bytes;
  }

  /** Attach a consumer; a late joiner immediately gets the latest group. */
  attach(consumer: TrackConsumer): void {
    if (this.state === "closed") {
      consumer.onClose(this.closeCode);
      return;
    }
    if (!this.consumers.has(consumer)) {
      this.consumers.add(consumer);
      if (!consumer.selective) this.#greedy++;
    }
    if (this.latest && this.latest.state !== "aborted") consumer.onGroup(this.latest);
    // A consumer that wants every group: nothing is withheld any more.
    if (!consumer.selective) this.#offerWithheld();
    // A late joiner took the withheld group: its frames are wanted (still not offered to the others).
    else if (this.#withheld !== null && this.#withheld === this.latest) this.#unwantedToWanted();
  }

  /** Detach a consumer. */
  detach(consumer: TrackConsumer): void {
    if (this.consumers.delete(consumer) && !consumer.selective) this.#greedy--;
    // Below the fan-out that withholds: the newest group is offered (or cached for late joiners).
    if (this.consumers.size < MIN_CONSUMERS_TO_WITHHOLD) this.#offerWithheld();
    if (this.consumers.size === 0) this.#unread.length = 0;
  }

  /**
   * Upstream ended. `code` null = clean end (publisher finished the track), a number = reset code.
   * With `linger` the track stays open waiting for a new upstream (publisher lost abruptly).
   */
  upstreamEnded(code: number | null, linger = false): void {
    this.upstream = null;
    for (const g of this.groups) if (g.state === "open") g.abort(code ?? CODE_CANCEL);
    this.#unwithhold(false);
    if (linger && this.state !== "closed") return;
    this.close(code);
  }

  /** Close the track for every consumer and drop its cache. */
  close(code: number | null): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeCode = code;
    this.#settleReady(false);
    const up = this.upstream;
    this.upstream = null;
    up?.cancel();
    const consumers = [...this.consumers];
    this.consumers.clear();
    this.#greedy = 0;
    for (const c of consumers) c.onClose(code);
    for (const g of this.groups) g.release(code ?? CODE_CANCEL);
    this.groups.length = 0;
    this.#bySequence.clear();
    this.latest = null;
    this.#unread.length = 0;
    this.#unwithhold(false);
  }

  /**
   * Drop non-latest groups older than the TTL. Returns the cost released. A group still arriving
   * while subscribers read it gets up to {@link HELD_GROUP_TTL_FACTOR} TTLs to complete: cut at one
   * TTL, every subscriber would get it truncated (under overload a group's bytes share the
   * publisher's bandwidth with every newer group in flight, and can take seconds).
   */
  expire(nowMs: number): number {
    let released = 0;
    const ttl = this.#policy.groupTtlMs;
    while (this.groups.length > 0) {
      const g = this.groups[0];
      const age = nowMs - g.createdAtMs;
      if (g === this.latest || age < ttl) break;
      if (g.state === "open" && g.holds > 0 && age < ttl * HELD_GROUP_TTL_FACTOR) break;
      this.groups.shift();
      this.#uncache(g);
      released += g.bytes;
      g.release(CODE_OLD);
    }
    // Groups behind a still-fresh one can be old too when arrival order differs from age; rare.
    return released;
  }

  /**
   * Evict the oldest non-latest group (cache pressure). Returns whether a group was evicted (an
   * empty one counts: callers loop on groups, not bytes).
   */
  evictOldest(): boolean {
    const g = this.groups[0];
    if (!g || g === this.latest) return false;
    this.groups.shift();
    this.#uncache(g);
    g.release(CODE_EVICTED);
    return true;
  }

  /** Cost of this track's cached frames. */
  get cachedBytes(): number {
    let n = 0;
    for (const g of this.groups) n += g.bytes;
    return n;
  }

  /** Find a cached group by sequence. */
  findGroup(sequence: number): Group | undefined {
    return this.#bySequence.get(sequence);
  }
}
