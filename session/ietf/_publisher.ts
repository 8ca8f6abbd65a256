/**
 * The relay as a moq-transport publisher: SUBSCRIBE served from the origin's track (one upstream
 * subscription however many subscribers, the group cache, each group on one subgroup stream) and
 * SUBSCRIBE_NAMESPACE answered from the origin's announcements.
 *
 * Mapping (docs/ietf.md §8): group ↔ group, frame n ↔ object n of subgroup 0; the subgroup header
 * carries the end-of-group bit, so an empty frame is an object of status Normal.
 *
 * @module
 */

import { putVarint } from "../../codec/mod.ts";
import {
  type AnnounceEvent,
  frameCost,
  type Group,
  type RelayStats,
  stripPrefix,
  type TrackConsumer,
  type TrackHandle,
} from "../../relay/mod.ts";
import type { SendStream } from "../../transport/mod.ts";
import { FRAMES_PER_YIELD, STATS_BATCH_FRAMES, yieldToEventLoop } from "../context.ts";
import {
  type GroupPump,
  GroupQueue,
  MAX_ANNOUNCE_INTERESTS_PER_SESSION,
  MAX_UPSTREAM_TRACKS_PER_SESSION,
  type SubscriptionRegistry,
} from "../session.ts";
import type { ControlOf } from "./control.ts";
import { encodeDatagram, encodeStreamHeader } from "./data.ts";
import { usesLeadingOnes } from "./draft.ts";
import { PublishDoneCode, StreamResetCode } from "./errors.ts";
import { framePayload } from "./_io.ts";
import {
  type IetfContext,
  largestOf,
  namespacePath,
  okFor,
  pathNamespace,
  PUBLISHER_PRIORITY,
  refuse,
  SubgroupMeta,
} from "./_context.ts";
import type { JoinPoints } from "./_fetch.ts";
import type { Request } from "./_requests.ts";
import { IetfReader, IetfWriter, putLeadingOnes, readProperties } from "./wire.ts";

/** Longest RENDEZVOUS_TIMEOUT the relay honours: a pending SUBSCRIBE waits at most this long. */
export const MAX_RENDEZVOUS_MS = 30_000;

const ZERO = Uint8Array.of(0);
const EMPTY_OBJECT = Uint8Array.of(0, 0, 0);
/**
 * Draft-17+ object headers `delta 0 || length` for payloads under 128 bytes (both one-byte
 * leading-ones varints), shared read-only so small frames cost no allocation per subscriber.
 */
const SMALL_OBJECT_HEADERS: readonly Uint8Array[] = Array.from(
  { length: 128 },
  (_, n) => Uint8Array.of(0, n),
);

/** Swallows the rejection of a write whose failure surfaces on the next awaited one. */
function ignore(): void {}

/**
 * Write one object: its header without waiting (a failure surfaces on the awaited payload write:
 * one await per object), then its payload; `payload` null = the header is the whole object.
 */
function writeObject(stream: SendStream, head: Uint8Array, payload: Uint8Array | null): Promise<void> {
  if (payload === null) return stream.write(head);
  stream.write(head).catch(ignore);
  return stream.write(payload);
}

/**
 * One downstream subscription: writes each group of a relay track as one subgroup stream. Scheduled
 * and bounded exactly as a moq-lite subscriber is ({@link GroupQueue}, docs/relay.md §5): at most
 * `MAX_GROUPS_IN_FLIGHT` streams and `limits.subscriberQueueBytes` of backlog; a subscriber
 * that falls behind gets whole recent groups (the oldest waiting ones are dropped unopened, then
 * the oldest started one is reset with DELIVERY_TIMEOUT).
 */
class IetfDownstream implements TrackConsumer {
  /** Holds each group it may still serve and lets go when done or passed over (see relay Track). */
  readonly selective = true;
  readonly #ctx: IetfContext;
  /** The session's counters for this broadcast (`[stats]` entries are keyed by broadcast path). */
  readonly #stats: RelayStats;
  readonly #alias: number;
  /** The groups it may still serve and the policy over them (shared with moq-lite subscribers). */
  readonly #queue: GroupQueue;
  readonly #startGroup: number | undefined;
  readonly #endGroup: number | undefined;
  #closed = false;
  #trackEnd: { code: number | null } | null = null;
  /** The filter's end group was delivered (or passed): the subscription is complete. */
  #rangeDone = false;
  #onIdle: (() => void) | null = null;
  /** Data streams opened (PUBLISH_DONE's Stream Count). */
  streams = 0;

  constructor(
    ctx: IetfContext,
    alias: number,
    startGroup: number | undefined,
    endGroup: number | undefined,
    stats: RelayStats = ctx.stats,
  ) {
    this.#ctx = ctx;
    this.#stats = stats;
    this.#alias = alias;
    this.#startGroup = startGroup;
    this.#endGroup = endGroup;
    this.#queue = new GroupQueue({
      limitBytes: ctx.limits.subscriberQueueBytes,
      dropCode: StreamResetCode.DeliveryTimeout,
      serve: (pump) => this.#serve(pump),
      dropped: (sequence) => {
        ctx.stats.groupsDropped++;
        if (sequence === this.#endGroup) this.#rangeDone = true;
      },
    });
  }

  get trackEnd(): { code: number | null } | null {
    return this.#trackEnd;
  }

  /** Whether the subscription ended because its range was delivered, not because the track ended. */
  get rangeDone(): boolean {
    return this.#rangeDone && this.#trackEnd === null;
  }

  onGroup(group: Group): void {
    if (this.#closed) return;
    if (this.#startGroup !== undefined && group.sequence < this.#startGroup) return;
    if (this.#endGroup !== undefined && group.sequence > this.#endGroup) {
      this.#rangeDone = true; // the track moved past the range
      if (this.#queue.size === 0) this.#onIdle?.();
      return;
    }
    if (this.#queue.has(group)) return;
    if (group.viaDatagram && this.#ctx.transport.datagrams) {
      // The publisher's ingest sets `group.meta` right after the group is fanned out.
      queueMicrotask(() => {
        if (!this.#closed && !this.#sendDatagram(group)) this.#send(group);
      });
      return;
    }
    this.#send(group);
  }

  /**
   * Forward a single-object group that arrived as a datagram (OBJECT_DATAGRAM or moq-lite-05) as an
   * OBJECT_DATAGRAM when it fits the connection's datagram size; false = send it on a stream.
   */
  #sendDatagram(group: Group): boolean {
    const ctx = this.#ctx;
    const channel = ctx.transport.datagrams;
    const frame = group.frameCount === 1 ? group.frame(0) : undefined;
    if (!channel || frame === undefined) return false;
    const meta = group.meta instanceof SubgroupMeta ? group.meta : undefined;
    const ext = meta?.extFor(0, ctx.draft);
    let body: Uint8Array;
    try {
      body = encodeDatagram({
        trackAlias: this.#alias,
        group: group.sequence,
        objectId: meta?.idOf(0) ?? 0,
        publisherPriority: meta?.priority ?? PUBLISHER_PRIORITY,
        extensions: ext ? readProperties(new IetfReader(ext, ctx.draft, "extension headers")) : [],
        payload: frame.subarray(framePayload(frame).prefix),
        endOfGroup: true,
      }, ctx.draft);
    } catch {
      return false;
    }
    if (body.length > channel.maxBytes) return false;
    channel.send(body);
    ctx.stats.groupsOut++;
    ctx.stats.framesOut++;
    ctx.stats.bytesOut += frame.length;
    if (group.sequence === this.#endGroup) this.#rangeDone = true;
    if (this.#queue.size === 0) this.#onIdle?.();
    return true;
  }

  onClose(code: number | null): void {
    this.#trackEnd = { code };
    if (this.#queue.size === 0) this.#onIdle?.();
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      this.#onIdle = () => {
        if ((this.#trackEnd || this.#rangeDone) && this.#queue.size === 0) resolve();
      };
      this.#onIdle();
    });
  }

  /** Send `group` on a subgroup stream of its own when its turn comes, within the bounds. */
  #send(group: Group): void {
    this.#queue.enforceBudget();
    this.#queue.push(group);
  }

  /** Serve `pump` (its turn came) on a subgroup stream; it leaves the queue when done. */
  #serve(pump: GroupPump): void {
    this.#run(pump).finally(() => {
      this.#queue.ended(pump);
      if (pump.group.sequence === this.#endGroup) this.#rangeDone = true;
      if (this.#queue.size === 0) this.#onIdle?.();
    });
  }

  async #run(pump: GroupPump): Promise<void> {
    const ctx = this.#ctx;
    const draft = ctx.draft;
    const group = pump.group;
    const leadingOnes = usesLeadingOnes(draft);
    // Sent but not yet added to the stats (counted in batches; see STATS_BATCH_FRAMES).
    let uncountedFrames = 0;
    let uncountedBytes = 0;
    try {
      const stream = await ctx.transport.openUni();
      pump.stream = stream;
      this.streams++;
      if (pump.cancelled) {
        stream.reset(StreamResetCode.Cancelled);
        return;
      }
      stream.stopped.then((code) => {
        if (code >= 0) this.#queue.stopped(pump, code);
      });
      let next = group.dropped;
      // An IETF publisher's subgroup is mirrored; anything else is subgroup 0 with the end bit.
      let meta = group.meta instanceof SubgroupMeta ? group.meta : undefined;
      if (!meta && leadingOnes && group.meta === undefined) {
        // Another protocol's group: the defaults below, plus the shared object header memo.
        meta = new SubgroupMeta(0, PUBLISHER_PRIORITY, true, false);
        meta.attach(group);
      }
      // Not awaited: it goes out with the first object, and a failure surfaces on the next write.
      stream.write(encodeStreamHeader({
        kind: "subgroup",
        trackAlias: this.#alias,
        group: group.sequence,
        subgroupIdMode: meta && meta.subgroup !== 0 ? "explicit" : "zero",
        subgroup: meta && meta.subgroup !== 0 ? meta.subgroup : undefined,
        publisherPriority: meta?.priority ?? PUBLISHER_PRIORITY,
        extensions: meta?.extensions ?? false,
        endOfGroup: meta?.endOfGroup ?? true,
        firstObjectBit: draft >= 18 && next === 0,
      }, draft)).catch(ignore);
      this.#stats.groupsOut++;
      pump.sentBytes = group.totalBytes - group.bytes;
      let first = true;
      let prevId = 0;
      for (;;) {
        if (pump.cancelled) return;
        while (next < group.frameCount) {
          const frame = group.frame(next);
          if (frame === undefined) {
            stream.reset(StreamResetCode.DeliveryTimeout); // lagged: the frames it needed are gone
            return;
          }
          const id = meta ? meta.idOf(next) : next;
          const delta = first ? id : id - prevId - 1;
          const ext = meta?.extensions ? meta.extFor(next, draft) : undefined;
          first = false;
          prevId = id;
          next++;
          pump.sentBytes += frameCost(frame.length);
          const { prefix, length } = framePayload(frame);
          if (meta?.extensions) {
            // Extension headers are mirrored: a length (0 when none was kept) and the bytes.
            const w = new IetfWriter(draft, 24 + (ext?.length ?? 0)).varint(delta);
            w.varint(ext?.length ?? 0);
            if (ext) w.bytes(ext);
            w.varint(length);
            if (length === 0) w.varint(0);
            await writeObject(stream, w.finish(), length > 0 ? frame.subarray(prefix) : null);
          } else if (length === 0 && delta === 0) {
            await stream.write(EMPTY_OBJECT); // delta 0, length 0, status Normal
          } else if (!leadingOnes && delta === 0) {
            await writeObject(stream, ZERO, frame);
          } else if (delta === 0 && length < 128) {
            await writeObject(stream, SMALL_OBJECT_HEADERS[length], frame.subarray(prefix));
          } else if (meta && leadingOnes && delta === (next === 1 ? id : id - meta.idOf(next - 2) - 1)) {
            // Drafts 17+: the object header encoded once per object for every subscriber.
            const head = meta.leadingOnesHeader(next - 1, delta, length);
            await writeObject(stream, head, length > 0 ? frame.subarray(prefix) : null);
          } else {
            // The object header in the draft's varints, then the payload (a view of the cached frame).
            const head = new Uint8Array(18);
            let n = leadingOnes ? putLeadingOnes(head, 0, delta) : putVarint(head, 0, delta);
            n = leadingOnes ? putLeadingOnes(head, n, length) : putVarint(head, n, length);
            if (length === 0) head[n++] = 0;
            await writeObject(stream, head.subarray(0, n), length > 0 ? frame.subarray(prefix) : null);
          }
          if (next % FRAMES_PER_YIELD === 0) await yieldToEventLoop();
          uncountedBytes += frame.length;
          if (++uncountedFrames === STATS_BATCH_FRAMES) {
            this.#stats.framesOut += uncountedFrames;
            this.#stats.bytesOut += uncountedBytes;
            uncountedFrames = uncountedBytes = 0;
          }
          if (pump.cancelled) return;
        }
        if (group.state === "done") {
          // Every object is with the transport: newer groups neither wait for it nor count it.
          pump.closing = true;
          this.#queue.startWaiting();
          await stream.close();
          return;
        }
        if (group.state === "aborted") {
          stream.reset(StreamResetCode.Cancelled);
          return;
        }
        pump.caughtUp = true;
        this.#queue.startWaiting();
        await group.changed();
        pump.caughtUp = false;
      }
    } catch (err) {
      pump.stream?.reset(StreamResetCode.InternalError);
      if (!ctx.signal.aborted) {
        ctx.log.trace("subgroup stream failed", { sequence: group.sequence, error: String(err) });
      }
    } finally {
      this.#stats.framesOut += uncountedFrames;
      this.#stats.bytesOut += uncountedBytes;
    }
  }

  /** Unsubscribe: cancel every group waiting or in flight. */
  close(code: number): void {
    this.#closed = true;
    this.#queue.close(code);
  }
}

/**
 * Serve one SUBSCRIBE until the subscriber leaves (UNSUBSCRIBE or FIN), the track ends (PUBLISH_DONE)
 * or the session ends.
 */
export async function serveSubscribe(
  ctx: IetfContext,
  req: Request,
  msg: ControlOf<"subscribe">,
  registry: SubscriptionRegistry,
  joins: JoinPoints,
): Promise<void> {
  const log = ctx.log;
  let path: string;
  try {
    path = ctx.scope.absolute(namespacePath(msg.namespace));
  } catch (err) {
    await refuse(ctx, req, "subscribe", "doesNotExist", (err as Error).message);
    return;
  }
  if (registry.ids.size >= ctx.limits.maxSubscriptionsPerSession) {
    ctx.warnings.warn(log, "subscription-quota", "subscription quota exceeded; subscribe refused", {
      limit: ctx.limits.maxSubscriptionsPerSession,
      path,
    });
    await refuse(ctx, req, "subscribe", "excessiveLoad", "too many subscriptions on this session");
    return;
  }
  if (!ctx.scope.canSubscribe(path)) {
    await refuse(ctx, req, "subscribe", "unauthorized", "not allowed to subscribe to this path");
    return;
  }
  const id = BigInt(req.id);
  registry.ids.add(id);
  const stats = ctx.stats.forBroadcast(path);
  stats.subscriptionsOpened++;
  let handle: TrackHandle | undefined;
  let downstream: IetfDownstream | undefined;
  let forward = msg.forward !== false;
  let leftResolve!: () => void;
  const left = new Promise<void>((resolve) => (leftResolve = resolve));
  const onAbort = () => leftResolve();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const hooks: { attach: (() => void) | null } = { attach: null };
  const reading = (async () => {
    try {
      for (;;) {
        const m = await req.next();
        if (m === null) break;
        if (m.kind !== "requestUpdate") {
          log.debug("unexpected message on a subscription ignored", { kind: m.kind });
          continue;
        }
        if (m.subscriberPriority !== undefined && handle && m.subscriberPriority > handle.track.priority) {
          handle.track.upstream?.update?.(m.subscriberPriority);
        }
        if (m.forward === true && !forward) {
          forward = true;
          hooks.attach?.();
        }
      }
    } catch (err) {
      log.debug("subscription stream read ended", { error: String(err) });
    }
    leftResolve();
  })();

  try {
    // RENDEZVOUS_TIMEOUT (draft-17+, parameter 0x04): the subscriber asks to wait for a publisher.
    const rendezvous = ctx.draft >= 17 ? msg.params.find((p) => p.type === 0x04)?.value : undefined;
    const waitMs = typeof rendezvous === "number"
      ? Math.max(ctx.limits.subscribeWaitMs, Math.min(rendezvous, MAX_RENDEZVOUS_MS))
      : ctx.limits.subscribeWaitMs;
    const broadcast = await Promise.race([
      ctx.origin.waitFor(path, waitMs, ctx.signal),
      left.then(() => undefined),
    ]);
    if (!broadcast) {
      await refuse(ctx, req, "subscribe", "doesNotExist", "no such broadcast");
      return;
    }
    if (
      !ctx.scope.internal && !ctx.origin.hasTrack(path, msg.name) &&
      registry.openCreated() >= MAX_UPSTREAM_TRACKS_PER_SESSION
    ) {
      ctx.warnings.warn(log, "upstream-quota", "upstream track quota exceeded; subscribe refused", {
        limit: MAX_UPSTREAM_TRACKS_PER_SESSION,
        path,
      });
      await refuse(ctx, req, "subscribe", "excessiveLoad", "too many upstream tracks opened by this session");
      return;
    }
    const priority = msg.subscriberPriority ?? 128;
    handle = ctx.origin.acquireTrack(path, msg.name, priority);
    if (!handle) {
      await refuse(ctx, req, "subscribe", "doesNotExist", "no such track");
      return;
    }
    if (handle.created && !ctx.scope.internal) registry.created.add(handle.track);
    const track = handle.track;
    const ready = await Promise.race([track.whenReady(), left.then(() => null)]);
    if (ready === null) {
      await req.finish();
      return;
    }
    if (!ready) {
      await refuse(ctx, req, "subscribe", "doesNotExist", "the publisher refused or ended the track");
      return;
    }
    const largest = largestOf(track);
    const filter = msg.filter ?? { type: "largestObject" };
    let startGroup: number | undefined;
    let endGroup: number | undefined;
    switch (filter.type) {
      case "nextGroup":
        startGroup = largest ? largest.group + 1 : undefined;
        break;
      case "absoluteStart":
        startGroup = filter.start.group;
        break;
      case "absoluteRange":
        startGroup = filter.start.group;
        endGroup = filter.endGroup;
        break;
      case "relative":
        startGroup = largest ? Math.max(0, largest.group + 1 - filter.groups) : undefined;
        break;
    }
    await req.send({
      kind: "subscribeOk",
      requestId: req.id,
      trackAlias: req.id,
      expires: 0,
      groupOrder: 1,
      largest,
      params: [],
      properties: [],
    });
    joins.set(req.id, { path, name: msg.name, startGroup: startGroup ?? largest?.group ?? 0 });
    const down = new IetfDownstream(ctx, req.id, startGroup, endGroup, stats);
    downstream = down;
    hooks.attach = () => {
      hooks.attach = null;
      if (startGroup !== undefined) {
        for (const g of track.groups) if (g.sequence >= startGroup && g !== track.latest) down.onGroup(g);
      }
      track.attach(down);
    };
    if (forward) hooks.attach();
    const ended = await Promise.race([down.drained().then(() => true), left.then(() => false)]);
    if (ended) {
      const code = down.trackEnd?.code ?? null;
      const range = down.rangeDone;
      await req.send({
        kind: "publishDone",
        requestId: req.id,
        statusCode: range
          ? PublishDoneCode.SubscriptionEnded
          : code === null
          ? PublishDoneCode.TrackEnded
          : PublishDoneCode.InternalError,
        streamCount: down.streams,
        reason: range ? "range delivered" : code === null ? "track ended" : `track reset with code ${code}`,
      });
    } else {
      down.close(StreamResetCode.Cancelled);
    }
    await req.finish();
  } catch (err) {
    log.debug("subscription failed", { path, track: msg.name, error: String(err) });
    req.abort(StreamResetCode.InternalError);
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    if (downstream) {
      downstream.close(StreamResetCode.Cancelled);
      handle?.track.detach(downstream);
    }
    handle?.release();
    registry.ids.delete(id);
    joins.delete(req.id);
    stats.subscriptionsClosed++;
    leftResolve();
    void reading;
  }
}

/** Counts a session's open SUBSCRIBE_NAMESPACE requests. */
export interface InterestCounter {
  interests: number;
}

/**
 * Answer one SUBSCRIBE_NAMESPACE: REQUEST_OK, then NAMESPACE / NAMESPACE_DONE on its stream (16+), or
 * PUBLISH_NAMESPACE / PUBLISH_NAMESPACE_DONE requests on the control stream (14–15), for every
 * broadcast under the prefix the session may subscribe to, until the peer ends the request.
 */
export async function serveNamespaces(
  ctx: IetfContext,
  req: Request,
  msg: ControlOf<"subscribeNamespace">,
  counter: InterestCounter,
): Promise<void> {
  let prefix: string;
  try {
    prefix = ctx.scope.absolute(namespacePath(msg.prefix));
  } catch (err) {
    await refuse(ctx, req, "subscribeNamespace", "doesNotExist", (err as Error).message);
    return;
  }
  if (counter.interests >= MAX_ANNOUNCE_INTERESTS_PER_SESSION) {
    ctx.warnings.warn(ctx.log, "interests", "too many SUBSCRIBE_NAMESPACE requests; refused", {
      limit: MAX_ANNOUNCE_INTERESTS_PER_SESSION,
    });
    await refuse(ctx, req, "subscribeNamespace", "excessiveLoad", "too many namespace subscriptions");
    return;
  }
  counter.interests++;
  const legacy = ctx.draft <= 15;
  /** Paths the peer knows as active, with the request carrying each (14–15). */
  const known = new Map<string, Request | null>();
  const pending = new Map<string, boolean>();
  const waker: { wake: (() => void) | null } = { wake: null };
  let finished = false;
  const visible = (e: AnnounceEvent) => ctx.scope.canSubscribe(e.path);
  const watch = ctx.origin.watch(prefix, (e) => {
    pending.set(e.path, e.active && visible(e));
    waker.wake?.();
  });
  const peerDone = (async () => {
    try {
      while ((await req.next()) !== null) {
        // nothing is expected; updates are ignored
      }
    } catch {
      // reset or session loss: same outcome
    }
    finished = true;
    waker.wake?.();
  })();
  const advertise = async (path: string) => {
    const suffix = pathNamespace(stripPrefix(path, prefix));
    if (!legacy) {
      await req.send({ kind: "namespace", suffix, params: [] });
      known.set(path, null);
      return;
    }
    const namespace = pathNamespace(stripPrefix(path, ctx.scope.root));
    const out = await ctx.openRequest((requestId) => ({
      kind: "publishNamespace",
      requestId,
      namespace,
      params: [],
    }));
    known.set(path, out);
    if (out) {
      // The peer's REQUEST_OK / error needs no action; read until the request ends.
      (async () => {
        while ((await out.next()) !== null) { /* drain */ }
      })().catch(() => {});
    }
  };
  const withdraw = async (path: string) => {
    const out = known.get(path);
    known.delete(path);
    if (!legacy) {
      await req.send({ kind: "namespaceDone", suffix: pathNamespace(stripPrefix(path, prefix)) });
      return;
    }
    if (!out) return;
    const namespace = pathNamespace(stripPrefix(path, ctx.scope.root));
    await out.send(
      ctx.draft === 16
        ? { kind: "publishNamespaceDone", requestId: out.id }
        : { kind: "publishNamespaceDone", namespace },
    );
    await out.finish();
  };
  try {
    await req.send(okFor(ctx.draft, "subscribeNamespace", req.id));
    for (const e of watch.initial) if (visible(e)) pending.set(e.path, true);
    while (!finished && !ctx.signal.aborted) {
      if (pending.size === 0) {
        await new Promise<void>((resolve) => (waker.wake = resolve));
        waker.wake = null;
        continue;
      }
      const [path, active] = pending.entries().next().value as [string, boolean];
      pending.delete(path);
      if (active && !known.has(path)) await advertise(path);
      else if (!active && known.has(path)) await withdraw(path);
    }
  } catch (err) {
    ctx.log.debug("namespace subscription ended", { prefix, error: String(err) });
  } finally {
    watch.stop();
    counter.interests--;
    finished = true;
    if (legacy) {
      for (const path of [...known.keys()]) await withdraw(path).catch(() => {});
    }
    await req.finish().catch(() => {});
    await peerDone;
  }
}
