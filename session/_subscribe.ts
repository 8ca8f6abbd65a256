/**
 * Serving a Subscribe stream the peer opened: resolve the track through the origin (one upstream
 * subscription however many subscribers), answer SUBSCRIBE_OK once the upstream is live, then send
 * one GROUP stream per group, latest first for a late joiner.
 *
 * Each subscriber has a bounded backlog, counted in what memory costs (frames with their per-frame
 * overhead, each stream in flight, transport queues): when it falls behind by more than
 * `limits.subscriberQueueBytes`, its oldest groups are reset (code 2 `old`) so it never stalls the
 * publisher or other subscribers and never makes memory grow without bound. Frames are the cached
 * encoded buffers, written as-is: no per-subscriber copy. moq-lite-05 subscribers get each frame's
 * timestamp header first (encoded once per frame, `_frame05.ts`), implicit acceptance and
 * SUBSCRIBE_START / SUBSCRIBE_DROP / SUBSCRIBE_END instead of SUBSCRIBE_OK.
 *
 * @module
 */

import {
  type Group,
  type RelayStats,
  type Track,
  type TrackConsumer,
  type TrackHandle,
} from "../relay/mod.ts";
import type { BidiStream, StreamReader } from "../transport/mod.ts";
import {
  Code,
  FRAMES_PER_YIELD,
  MESSAGES_PER_YIELD,
  type SessionContext,
  STATS_BATCH_FRAMES,
  yieldToEventLoop,
} from "./context.ts";
import {
  decodeSubscribeFields,
  encodeGroupHeader,
  encodeSubscribeOk,
  isLegacy,
  type Subscribe,
  type SubscribeOk,
  Version,
} from "./messages.ts";
import { encodeDatagram05, encodeSubscribeResponse05 } from "./lite05.ts";
import { varintLength } from "../codec/mod.ts";
import { run05 } from "./_frame05.ts";
import { GroupPump, GroupQueue } from "./_group_queue.ts";

export { GROUP_STREAM_OVERHEAD_BYTES, MAX_GROUPS_BEHIND, MAX_GROUPS_IN_FLIGHT } from "./_group_queue.ts";

const RESOLVED: Promise<void> = Promise.resolve();

/** Swallows the rejection of a write whose failure surfaces on the next awaited one. */
function ignore(): void {}

/**
 * A group's first write carries its header and the frames cached so far in one buffer when they
 * fit in this many bytes (one 16 KiB frame included): one copy per group shared by subscribers with
 * the same subscribe id, where the header alone would cost a transport write per subscriber.
 */
export const HEADED_RUN_MAX_BYTES = 32 * 1024;

/**
 * A subscriber's pump writes the next run of cached frames without waiting for the previous write
 * while fewer than this many bytes are queued on its stream (the QUIC send half gathers chunks up
 * to the same size into one write).
 */
export const SAME_TURN_MAX_BYTES = 16 * 1024;

/**
 * Most distinct tracks one (non-cluster) session's subscriptions may have opened upstream and
 * that are still open (pending, live or warm). Each is an upstream SUBSCRIBE toward a publisher;
 * subscribing to a track someone else already opened costs nothing and is not counted.
 */
export const MAX_UPSTREAM_TRACKS_PER_SESSION = 128;

/** Per-session bookkeeping of downstream subscriptions (ids must be unique, count is capped). */
export class SubscriptionRegistry {
  readonly ids = new Set<bigint>();
  /** Tracks this session's subscriptions created (opened upstream), pruned once closed. */
  readonly created = new Set<Track>();

  /** Tracks this session opened upstream that are still open. */
  openCreated(): number {
    for (const t of this.created) if (t.state === "closed") this.created.delete(t);
    return this.created.size;
  }
}

/** What a lite-05 subscription reports on its Subscribe stream as groups are served or dropped. */
export interface RangeListener {
  /** The first group is about to be served (SUBSCRIBE_START). */
  started(sequence: number): void;
  /** A group was dropped before the subscriber had it (SUBSCRIBE_DROP). */
  dropped(sequence: number, code: number): void;
}

/** One downstream subscription: a consumer of a relay track writing to one session. */
class Downstream implements TrackConsumer {
  /** Holds each group it may still serve and lets go when done or passed over (see relay Track). */
  readonly selective = true;
  readonly #ctx: SessionContext;
  /** The session's counters for this broadcast (`[stats]` entries are keyed by broadcast path). */
  readonly #stats: RelayStats;
  readonly #id: bigint;
  /** Groups below it are not served (SUBSCRIBE start, raised or set by SUBSCRIBE_UPDATE). */
  #startGroup: number | undefined;
  /** Groups above it are not served (SUBSCRIBE end / SUBSCRIBE_UPDATE end; undefined = none). */
  #endGroup: number | undefined;
  /** The groups it may still serve and the policy over them (shared with moq-transport subscribers). */
  readonly #queue: GroupQueue;
  /** This subscription's GROUP header for a group (one function per subscription, not per group). */
  readonly #headerOf = (group: Group): Uint8Array =>
    encodeGroupHeader({ subscribeId: this.#id, sequence: group.sequence });
  /** Frames carry lite-05 timestamp headers. */
  readonly #timed: boolean;
  readonly #range: RangeListener | null;
  /** One past the highest group sequence served so far (0 = none yet). */
  endSequence = 0;
  #closed = false;
  /** Set when the track ended: null = clean. */
  #trackEnd: { code: number | null } | null = null;
  #onIdle: (() => void) | null = null;
  #onEnded: ((code: number | null) => void) | null = null;

  constructor(
    ctx: SessionContext,
    id: bigint,
    startGroup: number | undefined,
    range: RangeListener | null = null,
    stats: RelayStats = ctx.stats,
    endGroup: number | undefined = undefined,
  ) {
    this.#ctx = ctx;
    this.#stats = stats;
    this.#id = id;
    this.#startGroup = startGroup;
    this.#endGroup = endGroup;
    this.#timed = ctx.version === Version.Lite05;
    this.#range = range;
    this.#queue = new GroupQueue({
      limitBytes: ctx.limits.subscriberQueueBytes,
      dropCode: Code.Old,
      serve: (pump) => this.#start(pump),
      dropped: (sequence, code) => {
        ctx.stats.groupsDropped++;
        range?.dropped(sequence, code);
      },
    });
  }

  get trackEnd(): { code: number | null } | null {
    return this.#trackEnd;
  }

  onGroup(group: Group): void {
    if (this.#closed) return;
    if (this.#startGroup !== undefined && group.sequence < this.#startGroup) return;
    if (this.#endGroup !== undefined && group.sequence > this.#endGroup) return;
    if (this.#queue.has(group)) return;
    this.#queue.enforceBudget();
    if (this.endSequence === 0) this.#range?.started(group.sequence);
    this.endSequence = Math.max(this.endSequence, group.sequence + 1);
    if (group.viaDatagram && this.#timed && this.#sendDatagram(group)) return;
    this.#queue.push(group);
  }

  /** A waiting group may start (see {@link GroupQueue.startWaiting}). */
  #startWaiting(): void {
    this.#queue.startWaiting();
  }

  /** Open `pump`'s stream and serve its group (its turn came); it leaves the list when done. */
  #start(pump: GroupPump): void {
    // #run never rejects: it catches what fails and ends in #ended (no closure per group here).
    void this.#run(pump);
  }

  /** `pump`'s task is over: it leaves the list, and a waiting group may start. */
  #ended(pump: GroupPump): void {
    this.#queue.ended(pump);
    if (this.#queue.size === 0) this.#onIdle?.();
  }

  /**
   * New bounds from SUBSCRIBE_UPDATE: later groups below `start` or above `end` (inclusive, undefined
   * = open) are not served; groups already in flight finish.
   */
  bound(start: number | undefined, end: number | undefined): void {
    this.#startGroup = start;
    this.#endGroup = end;
  }

  onClose(code: number | null): void {
    this.#trackEnd = { code };
    this.#onEnded?.(code);
    if (this.#queue.size === 0) this.#onIdle?.();
  }

  /** Resolves with the track's end code (null = clean) once the track ended. */
  ended(): Promise<number | null> {
    if (this.#trackEnd) return Promise.resolve(this.#trackEnd.code);
    return new Promise((resolve) => (this.#onEnded = resolve));
  }

  /**
   * Calls `done` once the track ended and every group in flight is finished (a callback, not a
   * promise: an idle subscription waits for it all its life).
   */
  onDrained(done: () => void): void {
    this.#onIdle = () => {
      if (this.#trackEnd && this.#queue.size === 0) done();
    };
    this.#onIdle();
  }

  /**
   * Forward a group that arrived as a QUIC datagram the same way, when this session's transport
   * carries datagrams and it fits; false = send it on a stream instead.
   */
  #sendDatagram(group: Group): boolean {
    const ctx = this.#ctx;
    const channel = ctx.transport.datagrams;
    const frame = group.frame(0);
    const timestamp = group.timestamp(0);
    if (!channel || channel.maxBytes === 0 || frame === undefined || timestamp === undefined) return false;
    let body: Uint8Array;
    try {
      body = encodeDatagram05({
        subscribeId: this.#id,
        sequence: group.sequence,
        timestamp,
        payload: frame.subarray(varintLength(frame[0])),
      }, channel.maxBytes);
    } catch {
      return false; // too large for a datagram: a stream carries it
    }
    channel.send(body);
    ctx.stats.countOut(1, 1, frame.length);
    return true;
  }

  /** Remove `p` from the in-flight list; a pump the peer stopped no longer counts. */
  #forget(p: GroupPump): void {
    this.#queue.forget(p);
  }

  async #run(pump: GroupPump): Promise<void> {
    const ctx = this.#ctx;
    const group = pump.group;
    // Frames and bytes sent but not yet added to the stats: counted in batches, not per frame (the
    // session's stats view does real work per increment).
    let uncountedFrames = 0;
    let uncountedBytes = 0;
    /** The group itself, counted with its first batch of frames (or at its end). */
    let uncountedGroups = 0;
    try {
      const stream = await ctx.transport.openUni();
      pump.stream = stream;
      if (pump.cancelled) {
        stream.reset(pump.cancelCode);
        return;
      }
      stream.stopped.then((code) => {
        if (code < 0) return;
        pump.cancel(code);
        this.#forget(pump);
        this.#startWaiting(); // one fewer open: a waiting group may start
      });
      // The header waits for the first frames (or the group's end) and goes out with them as one
      // transport write: written at once, a stream opened before its group's first frame arrived
      // cost one more write (per group, per subscriber). Not awaited: a failure surfaces on the next
      // write.
      let headerSent = false;
      uncountedGroups = 1;
      // Start from the first cached frame.
      const start = group.dropped;
      let next = start;
      pump.sentBytes = group.totalBytes - group.bytes;
      /** Frames written since the last yield to the event loop. */
      let sinceYield = 0;
      for (;;) {
        if (pump.cancelled) return;
        if (!headerSent && (next < group.frameCount ? this.#timed : group.state === "done")) {
          stream.write(this.#headerOf(group)).catch(ignore);
          headerSent = true;
        }
        while (next < group.frameCount) {
          let frames: number;
          let bytes: number;
          if (this.#timed) {
            // The lite-05 bytes of every frame from `next` on, encoded once for all subscribers.
            const run = run05(group, next, next === start);
            if (run === undefined) {
              stream.reset(26); // lagged: the frames it needed were dropped
              return;
            }
            pump.sentBytes += run.cost;
            if (run.tail !== null) stream.write(run.bytes).catch(ignore); // goes out with its frame
            await stream.write(run.tail ?? run.bytes);
            frames = run.count;
            bytes = run.frameBytes;
          } else {
            // Every frame cached back to back from `next` on, as one write of the cache's bytes; the
            // first one with the group header in front (one copy shared by the subscribers that
            // use the same subscribe id, see Group.prefixedRun).
            let run = headerSent
              ? undefined
              : group.prefixedRun(next, this.#id, this.#headerOf, HEADED_RUN_MAX_BYTES);
            let headerBytes = 0;
            if (run !== undefined) headerBytes = run.bytes.length - group.run(next)!.bytes.length;
            else {
              if (!headerSent) stream.write(this.#headerOf(group)).catch(ignore); // goes out with the run
              run = group.run(next);
              if (run === undefined) {
                stream.reset(26); // lagged: the frames it needed were dropped
                return;
              }
            }
            headerSent = true;
            pump.sentBytes += run.cost;
            const written = stream.write(run.bytes);
            // More cached frames wait in another buffer (the group's frames span two chunks): while
            // little is queued, they are written in the same turn, so the transport sends both in
            // one write instead of the second waiting for the first to be handed over.
            if (next + run.count < group.frameCount && stream.bufferedBytes < SAME_TURN_MAX_BYTES) {
              written.catch(ignore); // a failure surfaces on the next, awaited write
            } else await written;
            frames = run.count;
            bytes = run.bytes.length - headerBytes;
          }
          next += frames;
          uncountedBytes += bytes;
          uncountedFrames += frames;
          if (uncountedFrames >= STATS_BATCH_FRAMES) {
            this.#stats.countOut(uncountedGroups, uncountedFrames, uncountedBytes);
            uncountedGroups = uncountedFrames = uncountedBytes = 0;
          }
          if ((sinceYield += frames) >= FRAMES_PER_YIELD) {
            sinceYield = 0;
            await yieldToEventLoop();
          }
          if (pump.cancelled) return;
        }
        if (group.state === "done") {
          // Every frame is with the transport: newer groups neither wait for it nor count it in
          // flight (closing can take until the peer acknowledged it).
          pump.closing = true;
          this.#startWaiting();
          await stream.close();
          return;
        }
        if (group.state === "aborted") {
          stream.reset(group.abortCode);
          return;
        }
        pump.caughtUp = true;
        this.#startWaiting();
        await group.changed();
        pump.caughtUp = false;
      }
    } catch (err) {
      pump.stream?.reset(Code.Cancel);
      if (!ctx.signal.aborted) {
        ctx.log.trace("group stream failed", { sequence: group.sequence, error: String(err) });
      }
    } finally {
      if (uncountedGroups + uncountedFrames > 0) {
        this.#stats.countOut(uncountedGroups, uncountedFrames, uncountedBytes);
      }
      this.#ended(pump);
    }
  }

  /** Unsubscribe: cancel every group in flight. */
  close(code: number): void {
    this.#closed = true;
    this.#queue.close(code);
  }
}

/**
 * Serve one SUBSCRIBE until the subscriber leaves, the track ends or the session ends.
 */
export async function serveSubscribe(
  ctx: SessionContext,
  stream: BidiStream,
  reader: StreamReader,
  msg: Subscribe,
  registry: SubscriptionRegistry,
): Promise<void> {
  const path = ctx.scope.absolute(msg.broadcast);
  const log = ctx.log;
  if (registry.ids.has(msg.id)) {
    ctx.warnings.warn(log, "duplicate-id", "duplicate subscribe id; reset with code 12", { id: msg.id });
    stream.send.reset(Code.Duplicate);
    stream.recv.stop(Code.Duplicate);
    return;
  }
  if (registry.ids.size >= ctx.limits.maxSubscriptionsPerSession) {
    ctx.warnings.warn(log, "subscription-quota", "subscription quota exceeded; reset with code 11", {
      limit: ctx.limits.maxSubscriptionsPerSession,
      path,
    });
    stream.send.reset(Code.Bounds);
    stream.recv.stop(Code.Bounds);
    return;
  }
  if (!ctx.scope.canSubscribe(path)) {
    log.debug("subscribe outside scope", { path, track: msg.track });
    stream.send.reset(Code.NotFound);
    stream.recv.stop(Code.NotFound);
    return;
  }
  registry.ids.add(msg.id);
  const stats = ctx.stats.forBroadcast(path);
  stats.subscriptionsOpened++;
  let handle: TrackHandle | undefined;
  let downstream: Downstream | undefined;
  // The subscriber leaves by FIN/reset on its side, STOP_SENDING on ours, or the session's end. What
  // waits for that is one slot, not a promise each step races against: a reaction added to a
  // long-lived promise stays until it settles, and an idle subscription waits all its life.
  let gone = false;
  let wake: (() => void) | null = null;
  const leave = () => {
    gone = true;
    wake?.();
  };
  /** `step`'s value, or `ifLeft` once the subscriber left first. */
  const unlessLeft = <T, U>(step: Promise<T>, ifLeft: U): Promise<T | U> =>
    new Promise<T | U>((resolve, reject) => {
      // Handled even when the subscriber already left: a step failing later (the wait aborted with
      // the session) must not be an unhandled rejection.
      step.then(resolve, reject);
      if (gone) resolve(ifLeft);
      else wake = () => resolve(ifLeft);
    });
  ctx.signal.addEventListener("abort", leave, { once: true });
  stream.send.stopped.then((code) => {
    if (code >= 0) leave();
  });
  readUpdates(reader, ctx, leave, (update) => {
    if (handle && update.priority > handle.track.priority) handle.track.upstream?.update?.(update.priority);
    downstream?.bound(update.startGroup, update.endGroup);
  });
  const failed = (err: unknown) => {
    log.debug("subscription failed", { path, track: msg.track, error: String(err) });
    stream.send.reset(Code.Cancel);
  };
  const cleanup = () => {
    ctx.signal.removeEventListener("abort", leave);
    if (downstream) {
      handle?.track.detach(downstream);
      downstream.close(Code.Cancel);
    }
    handle?.release();
    registry.ids.delete(msg.id);
    stats.subscriptionsClosed++;
    stream.recv.stop(Code.Cancel);
    leave();
  };
  /** Set once the subscription is attached: its end then runs the cleanup, not this frame. */
  let handedOver = false;

  try {
    const broadcast = await unlessLeft(
      ctx.origin.waitFor(path, ctx.limits.subscribeWaitMs, ctx.signal),
      undefined,
    );
    if (!broadcast) {
      stream.send.reset(Code.NotFound);
      return;
    }
    if (
      !ctx.scope.internal && !ctx.origin.hasTrack(path, msg.track) &&
      registry.openCreated() >= MAX_UPSTREAM_TRACKS_PER_SESSION
    ) {
      ctx.warnings.warn(log, "upstream-quota", "upstream track quota exceeded; reset with code 11", {
        limit: MAX_UPSTREAM_TRACKS_PER_SESSION,
        path,
      });
      stream.send.reset(Code.Bounds);
      return;
    }
    handle = ctx.origin.acquireTrack(path, msg.track, msg.priority);
    if (!handle) {
      stream.send.reset(Code.NotFound);
      return;
    }
    if (handle.created && !ctx.scope.internal) registry.created.add(handle.track);
    const track = handle.track;
    const ready = await unlessLeft(track.whenReady(), null);
    if (ready === null) {
      await stream.send.close();
      return;
    }
    if (!ready) {
      const code = track.closeCode;
      if (code === null && ctx.version === Version.Lite05) {
        await stream.send.write(encodeSubscribeResponse05({ type: "end", group: 0 }));
      }
      if (code === null) await stream.send.close();
      else stream.send.reset(code === 0 ? Code.NotFound : code);
      return;
    }
    const lite05 = ctx.version === Version.Lite05;
    // lite-05: acceptance is implicit; START / DROP / END go out in order as groups are served.
    let responses = RESOLVED;
    const respond = (bytes: Uint8Array) => {
      responses = responses.then(() => stream.send.write(bytes)).catch(() => {});
    };
    if (!lite05) {
      await stream.send.write(encodeSubscribeOk(ctx.version, {
        priority: msg.priority,
        ordered: false,
        maxLatencyMs: 0,
      }));
    }
    const range: RangeListener | null = lite05
      ? {
        started: (group) => respond(encodeSubscribeResponse05({ type: "start", group })),
        dropped: (seq, error) =>
          respond(encodeSubscribeResponse05({ type: "drop", start: seq, end: seq, error })),
      }
      : null;
    downstream = new Downstream(ctx, msg.id, msg.startGroup, range, stats, msg.endGroup);
    const ds = downstream;
    // lite-05: SUBSCRIBE_END as soon as the track ended cleanly (the first group never delivered,
    // 0 = none), before the remaining groups drain; the FIN follows once they have.
    const endDeclared = lite05
      ? ds.ended().then((code) => {
        if (code === null) respond(encodeSubscribeResponse05({ type: "end", group: ds.endSequence }));
      })
      : RESOLVED;
    if (msg.startGroup !== undefined) {
      for (const g of track.groups) {
        if (g.sequence >= msg.startGroup && g !== track.latest) downstream.onGroup(g);
      }
    }
    track.attach(downstream);
    // From here an idle subscription waits all its life: in callbacks and one promise, not in this
    // suspended async frame (its generator, register file and await closures).
    handedOver = true;
    return new Promise<void>((resolve, reject) => {
      let over = false;
      // true once the track ended and every group was served, false when the subscriber left.
      const finish = (ended: boolean) => {
        if (over) return;
        over = true;
        wake = null;
        // Made only now: an idle subscription holds no closure for its end.
        void (async () => {
          try {
            if (ended) {
              const code = ds.trackEnd?.code ?? null;
              await endDeclared;
              await responses;
              if (code === null) await stream.send.close();
              else stream.send.reset(code);
            } else {
              // Detached first: groups only this subscription held are then kept for late joiners
              // when it was the last consumer (see the relay Track's groupIdle).
              track.detach(ds);
              ds.close(Code.Cancel);
              await stream.send.close();
            }
          } catch (err) {
            failed(err);
          } finally {
            cleanup();
          }
        })().then(resolve, reject);
      };
      wake = () => finish(false);
      ds.onDrained(() => finish(true));
      if (gone) finish(false);
    });
  } catch (err) {
    failed(err);
  } finally {
    if (!handedOver) cleanup();
  }
}

/**
 * Read SUBSCRIBE_UPDATEs from a Subscribe stream (handing each to `apply`) until it ends, then call
 * `left`. Not an async function: an idle subscription waits for its next update all its life, and a
 * suspended async frame (its generator, promise and await closures) costs more than a `then`.
 */
function readUpdates(
  reader: StreamReader,
  ctx: SessionContext,
  left: () => void,
  apply: (update: SubscribeOk) => void,
): void {
  let n = 0;
  const failed = (err: unknown) => {
    ctx.log.trace("subscribe stream read ended", { error: String(err) });
    left();
  };
  const next = (): void => {
    reader.done().then(got, failed);
  };
  const got = (ended: boolean): void => {
    if (ended) {
      left();
      return;
    }
    // Made per update (rare): an idle subscription holds no closure for it.
    (async () => {
      if (++n % MESSAGES_PER_YIELD === 0) await yieldToEventLoop();
      const m = await reader.message(1024);
      if (isLegacy(ctx.version)) return; // 01/02 define no update; ignore
      apply(decodeSubscribeFields(m, "SUBSCRIBE_UPDATE"));
    })().then(next, failed);
  };
  next();
}
