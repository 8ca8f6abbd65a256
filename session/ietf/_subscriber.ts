/**
 * The relay as a moq-transport subscriber of its peer: PUBLISH_NAMESPACE registers a broadcast in
 * the origin; a track someone wants becomes one SUBSCRIBE to the peer (deduplicated by the
 * origin); the peer's subgroup streams fill the track's groups.
 *
 * Mapping (docs/ietf.md §8): each subgroup stream of subgroup 0 is one group; its objects become the
 * group's frames in order (object ids are not kept: a gap closes up). Other subgroups are refused.
 *
 * @module
 */

import {
  type BroadcastSource,
  type Publication,
  stripPrefix,
  type Track,
  type UpstreamSubscription,
} from "../../relay/mod.ts";
import { type RecvStream, type StreamReader, StreamResetError } from "../../transport/mod.ts";
import { FRAMES_PER_YIELD, MAX_FRAME_BYTES, STATS_BATCH_FRAMES, yieldToEventLoop } from "../context.ts";
import type { ControlOf } from "./control.ts";
import { type Datagram, isSubgroupType, ObjectStatus } from "./data.ts";
import { IetfWriter, writeProperties } from "./wire.ts";
import { putVarint, varintSize } from "../../codec/mod.ts";
import { StreamResetCode } from "./errors.ts";
import { readDraftVarint, readObject } from "./_io.ts";
import { type IetfContext, namespacePath, okFor, pathNamespace, refuse, SubgroupMeta } from "./_context.ts";
import type { Request } from "./_requests.ts";

/** How long a subgroup stream may wait for the SUBSCRIBE_OK naming its track alias. */
export const ALIAS_WAIT_MS = 2_000;
/** How long after PUBLISH_DONE the relay waits for the data streams it announced. */
export const PUBLISH_DONE_GRACE_MS = 2_000;

interface Upstream {
  track: Track;
  /** Data streams received and still open. */
  open: number;
  /** Data streams received in all. */
  seen: number;
  /** Called when a stream finishes (PUBLISH_DONE waits on it). */
  changed: (() => void) | null;
}

/** The peer's broadcasts and the upstream subscriptions the relay holds on it. */
export class IetfIngest {
  readonly #ctx: IetfContext;
  readonly #publications = new Map<string, Publication>();
  /** Live upstream subscriptions by the track alias the peer chose. */
  readonly #aliases = new Map<number, Upstream>();
  /** Tracks the peer pushes with PUBLISH, by `path\ntrack`, until the origin binds them. */
  readonly #pushed = new Map<string, Upstream & { alias: number; bound: boolean }>();
  /** Publications created for PUBLISH without a PUBLISH_NAMESPACE, with their PUBLISH count. */
  readonly #implicit = new Map<string, { pub: Publication; refs: number }>();
  #aliasWake: (() => void) | null = null;
  #aliasChanged: Promise<void> | null = null;

  constructor(ctx: IetfContext) {
    this.#ctx = ctx;
  }

  /** End every publication: `abrupt` when the session was lost rather than closed cleanly. */
  close(abrupt: boolean): void {
    for (const pub of this.#publications.values()) pub.end(abrupt);
    this.#publications.clear();
    for (const i of this.#implicit.values()) i.pub.end(abrupt);
    this.#implicit.clear();
    this.#aliases.clear();
  }

  /** Serve one PUBLISH_NAMESPACE until the peer withdraws it (PUBLISH_NAMESPACE_DONE or FIN). */
  async publishNamespace(req: Request, msg: ControlOf<"publishNamespace">): Promise<void> {
    const ctx = this.#ctx;
    let path: string;
    try {
      path = ctx.scope.absolute(namespacePath(msg.namespace));
    } catch (err) {
      await refuse(ctx, req, "publishNamespace", "unauthorized", (err as Error).message);
      return;
    }
    if (!ctx.scope.canPublish(path)) {
      ctx.warnings.warn(ctx.log, "announce-scope", "PUBLISH_NAMESPACE outside publish scope refused", {
        path,
      });
      await refuse(ctx, req, "publishNamespace", "unauthorized", "not allowed to publish this namespace");
      return;
    }
    if (this.#publications.has(path)) {
      await refuse(ctx, req, "publishNamespace", "internal", "namespace already published on this session");
      return;
    }
    if (this.#publications.size >= ctx.limits.maxBroadcastsPerSession) {
      ctx.warnings.warn(ctx.log, "broadcast-quota", "broadcast quota exceeded; PUBLISH_NAMESPACE refused", {
        path,
        limit: ctx.limits.maxBroadcastsPerSession,
      });
      await refuse(ctx, req, "publishNamespace", "excessiveLoad", "too many broadcasts on this session");
      return;
    }
    const pub = ctx.origin.publish(path, this.#source(path));
    this.#publications.set(path, pub);
    ctx.log.info("broadcast published", { path });
    let abrupt = false;
    try {
      await req.send(okFor(ctx.draft, "publishNamespace", req.id));
      for (;;) {
        const m = await req.next();
        if (m === null) break;
        ctx.log.debug("message on a PUBLISH_NAMESPACE request ignored", { kind: m.kind });
      }
    } catch (err) {
      abrupt = true;
      ctx.log.debug("PUBLISH_NAMESPACE request ended", { path, error: String(err) });
    } finally {
      if (this.#publications.get(path) === pub) {
        this.#publications.delete(path);
        pub.end(abrupt || ctx.signal.aborted);
        ctx.log.info("broadcast unpublished", { path });
      }
      await req.finish().catch(() => {});
    }
  }

  #source(path: string): BroadcastSource {
    const ctx = this.#ctx;
    return {
      label: `session ${ctx.id}`,
      hops: [],
      subscribe: (track, priority) => this.#subscribe(path, track, priority),
      displaced: (by) => ctx.log.info("publisher displaced by a newer publisher", { path, by }),
    };
  }

  #subscribe(path: string, track: Track, priority: number): UpstreamSubscription {
    const ctx = this.#ctx;
    const pushed = this.#pushed.get(`${path}\n${track.name}`);
    if (pushed && !pushed.bound) {
      // The peer already pushes this track (PUBLISH): bind its alias instead of subscribing.
      pushed.bound = true;
      pushed.track = track;
      this.#aliases.set(pushed.alias, pushed);
      this.#aliasWake?.();
      track.ready();
      return { cancel: () => this.#aliases.delete(pushed.alias) };
    }
    let cancelled = false;
    let req: Request | null = null;
    let alias: number | null = null;
    const namespace = pathNamespace(stripPrefix(path, ctx.scope.root));
    const run = async (): Promise<number | null> => {
      req = await ctx.openRequest((requestId) => ({
        kind: "subscribe",
        requestId,
        namespace,
        name: track.name,
        subscriberPriority: Math.min(255, Math.max(0, priority)),
        groupOrder: 0,
        forward: true,
        // The start of the current group (moq-lite's join point): draft-20 says so with a relative
        // filter of 1; before it, LargestObject is how `@moq/net` and upstream ask for it.
        filter: ctx.draft >= 20 ? { type: "relative", groups: 1 } : { type: "largestObject" },
        params: [],
      }));
      if (!req) return 13;
      if (cancelled) {
        await this.#unsubscribe(req);
        return null;
      }
      const first = await req.next();
      if (first === null) return 13;
      if (first.kind !== "subscribeOk") {
        ctx.log.debug("upstream subscribe refused", { path, track: track.name, kind: first.kind });
        return 13;
      }
      alias = first.trackAlias;
      if (this.#aliases.has(alias)) {
        ctx.fail(0x5, `track alias ${alias} used twice`);
        return 0;
      }
      const up: Upstream = { track, open: 0, seen: 0, changed: null };
      this.#aliases.set(alias, up);
      this.#aliasWake?.();
      if (!cancelled) track.ready();
      for (;;) {
        const m = await req.next();
        if (m === null) return null;
        if (m.kind === "publishDone") {
          await this.#settle(up, m.streamCount);
          return m.statusCode === 0x2 || m.statusCode === 0x3 ? null : 0;
        }
      }
    };
    run().then(
      (code) => {
        if (alias !== null) this.#aliases.delete(alias);
        if (!cancelled && !ctx.signal.aborted) track.upstreamEnded(code);
      },
      (err) => {
        if (alias !== null) this.#aliases.delete(alias);
        if (ctx.signal.aborted || cancelled) return;
        track.upstreamEnded(err instanceof StreamResetError ? err.code : 0);
      },
    );
    return {
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        if (alias !== null) this.#aliases.delete(alias);
        const r = req as Request | null;
        if (r) this.#unsubscribe(r).catch(() => {});
      },
    };
  }

  /**
   * Accept one PUBLISH (a track pushed by the peer) until PUBLISH_DONE or the end of its request.
   * The relay holds the track open itself, so objects are cached even before anyone subscribes,
   * and SUBSCRIBEs for the track (pending ones included) are served from it.
   */
  async publish(req: Request, msg: ControlOf<"publish">): Promise<void> {
    const ctx = this.#ctx;
    let path: string;
    try {
      path = ctx.scope.absolute(namespacePath(msg.namespace));
    } catch (err) {
      await refuse(ctx, req, "publish", "unauthorized", (err as Error).message);
      return;
    }
    if (!ctx.scope.canPublish(path)) {
      ctx.warnings.warn(ctx.log, "announce-scope", "PUBLISH outside publish scope refused", { path });
      await refuse(ctx, req, "publish", "unauthorized", "not allowed to publish this namespace");
      return;
    }
    const key = `${path}\n${msg.name}`;
    if (
      this.#aliases.has(msg.trackAlias) || [...this.#pushed.values()].some((p) => p.alias === msg.trackAlias)
    ) {
      ctx.fail(0x5, `track alias ${msg.trackAlias} used twice`);
      return;
    }
    if (this.#pushed.size >= ctx.limits.maxSubscriptionsPerSession) {
      ctx.warnings.warn(ctx.log, "publish-quota", "too many PUBLISHed tracks on this session; refused", {
        limit: ctx.limits.maxSubscriptionsPerSession,
      });
      await refuse(ctx, req, "publish", "excessiveLoad", "too many published tracks on this session");
      return;
    }
    if (this.#pushed.has(key)) {
      await refuse(ctx, req, "publish", "internal", "this track is already published on this session");
      return;
    }
    let implicit = this.#implicit.get(path);
    if (!this.#publications.has(path) && !implicit) {
      if (this.#publications.size + this.#implicit.size >= ctx.limits.maxBroadcastsPerSession) {
        await refuse(ctx, req, "publish", "excessiveLoad", "too many broadcasts on this session");
        return;
      }
    }
    const up = {
      track: null as unknown as Track,
      open: 0,
      seen: 0,
      changed: null,
      alias: msg.trackAlias,
      bound: false,
    };
    this.#pushed.set(key, up);
    if (!this.#publications.has(path)) {
      if (!implicit) {
        implicit = { pub: ctx.origin.publish(path, this.#source(path)), refs: 0 };
        this.#implicit.set(path, implicit);
        ctx.log.info("broadcast published", { path, by: "PUBLISH" });
      }
      implicit.refs++;
    }
    const handle = ctx.origin.acquireTrack(path, msg.name, 128);
    let code: number | null = null;
    try {
      if (!handle || !up.bound) {
        await refuse(ctx, req, "publish", "internal", "the relay already has this track from another source");
        return;
      }
      if (ctx.draft <= 16) {
        await req.send({ kind: "publishOk", requestId: req.id, forward: true, params: [] });
      } else {
        await req.send({ kind: "requestOk", requestId: req.id, params: [], properties: [] });
      }
      for (;;) {
        const m = await req.next();
        if (m === null) {
          code = 0;
          break;
        }
        if (m.kind === "publishDone") {
          await this.#settle(up, m.streamCount);
          code = m.statusCode === 0x2 || m.statusCode === 0x3 ? null : 0;
          break;
        }
        ctx.log.debug("message on a PUBLISH request ignored", { kind: m.kind });
      }
      up.track.upstreamEnded(code);
      await req.finish().catch(() => {});
    } finally {
      this.#aliases.delete(up.alias);
      this.#pushed.delete(key);
      handle?.release();
      if (implicit && --implicit.refs === 0 && this.#implicit.get(path) === implicit) {
        this.#implicit.delete(path);
        implicit.pub.end(false);
        ctx.log.info("broadcast unpublished", { path, by: "PUBLISH" });
      }
    }
  }

  async #unsubscribe(req: Request): Promise<void> {
    if (this.#ctx.draft <= 16) await req.send({ kind: "unsubscribe", requestId: req.id }).catch(() => {});
    await req.finish();
  }

  /** Wait until the streams PUBLISH_DONE counted have arrived and ended (bounded by a grace time). */
  async #settle(up: Upstream, streamCount: number): Promise<void> {
    const deadline = Date.now() + PUBLISH_DONE_GRACE_MS;
    while ((up.seen < streamCount || up.open > 0) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        up.changed = () => {
          clearTimeout(t);
          resolve();
        };
      });
      up.changed = null;
    }
  }

  async #lookup(alias: number): Promise<Upstream | undefined> {
    const deadline = Date.now() + ALIAS_WAIT_MS;
    for (;;) {
      const up = this.#aliases.get(alias);
      if (up || Date.now() >= deadline || this.#ctx.signal.aborted) return up;
      this.#aliasChanged ??= new Promise<void>((resolve) => (this.#aliasWake = resolve)).finally(() => {
        this.#aliasChanged = null;
        this.#aliasWake = null;
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#aliasChanged,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(1, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
    }
  }

  /**
   * One OBJECT_DATAGRAM of a track the relay subscribed to (or the peer PUBLISHed): a complete
   * single-object group, cached and fanned out as the moq-lite-05 datagram is (datagrams to
   * subscribers that take them, a stream elsewhere). Unknown aliases, status datagrams and groups
   * already cached are dropped; the object id, priority and properties are kept in `group.meta`.
   */
  datagram(d: Datagram): void {
    const ctx = this.#ctx;
    const up = this.#aliases.get(d.trackAlias);
    if (!up || d.status !== undefined) return;
    const prefix = varintSize(d.payload.length);
    const frame = new Uint8Array(prefix + d.payload.length);
    putVarint(frame, 0, d.payload.length);
    frame.set(d.payload, prefix);
    const group = up.track.completeGroup(d.group, frame, BigInt(Date.now()));
    if (!group) return;
    let ext: Uint8Array | undefined;
    if (d.extensions.length > 0) {
      const w = new IetfWriter(ctx.draft, 32);
      writeProperties(w, d.extensions);
      ext = w.finish();
    }
    const meta = new SubgroupMeta(0, d.publisherPriority ?? 128, true, ext !== undefined, ctx.draft);
    meta.attach(group);
    meta.record(0, d.objectId, ext);
    up.track.countFrame(frame.length);
    ctx.stats.groupsIn++;
    ctx.stats.framesIn++;
    ctx.stats.bytesIn += frame.length;
  }

  /** Read one subgroup stream whose type (already read) is `type`. */
  async subgroup(stream: RecvStream, reader: StreamReader, type: number): Promise<void> {
    const ctx = this.#ctx;
    const draft = ctx.draft;
    if (!isSubgroupType(type, draft)) {
      ctx.log.debug("unknown unidirectional stream type", { type });
      stream.stop(StreamResetCode.Cancelled);
      return;
    }
    const t = draft >= 18 ? type & ~0x40 : type;
    const alias = await readDraftVarint(reader, draft);
    const groupId = await readDraftVarint(reader, draft);
    const mode = (t & 0x04) !== 0 ? "explicit" : (t & 0x02) !== 0 ? "firstObject" : "zero";
    const subgroup = mode === "explicit" ? await readDraftVarint(reader, draft) : 0;
    const priority = (t & 0x30) === 0x10 ? await reader.u8() : 128;
    const meta = new SubgroupMeta(subgroup, priority, (t & 0x08) !== 0, (t & 0x01) !== 0, draft);
    const up = await this.#lookup(alias);
    if (!up) {
      stream.stop(StreamResetCode.Cancelled);
      return;
    }
    up.seen++;
    up.open++;
    try {
      await this.#readGroup(reader, up, groupId, mode === "firstObject", meta);
    } finally {
      up.open--;
      up.changed?.();
    }
  }

  /**
   * Read one subgroup stream into a group of its own: the frames for every subscriber, the
   * subgroup, object ids and extension headers in `group.meta` for IETF subscribers.
   */
  async #readGroup(
    reader: StreamReader,
    up: Upstream,
    groupId: number,
    subgroupIsFirstObject: boolean,
    meta: SubgroupMeta,
  ): Promise<void> {
    const ctx = this.#ctx;
    const track = up.track;
    const group = track.startGroup(groupId);
    meta.attach(group);
    const stats = ctx.stats.forBroadcast(track.broadcast);
    stats.groupsIn++;
    let prev: number | undefined;
    // Received but not yet added to the stats (counted in batches; see STATS_BATCH_FRAMES).
    let uncountedFrames = 0;
    let uncountedBytes = 0;
    try {
      for (let n = 1; !(await reader.done()); n++) {
        const o = await readObject(reader, ctx.draft, prev, meta.extensions, MAX_FRAME_BYTES);
        if (subgroupIsFirstObject && prev === undefined) meta.subgroup = o.objectId;
        prev = o.objectId;
        if (n % FRAMES_PER_YIELD === 0) await yieldToEventLoop();
        let frame = o.frame;
        if (!frame) {
          if (o.status === ObjectStatus.EndOfGroup || o.status === ObjectStatus.EndOfTrack) break;
          if (o.status !== ObjectStatus.Normal) continue;
          frame = new Uint8Array(1); // an empty frame
        }
        if (!meta.record(group.frameCount, o.objectId, o.ext)) {
          ctx.warnings.warn(
            ctx.log,
            "extensions",
            "object extension headers beyond the group's cap dropped",
            {
              group: groupId,
            },
          );
        }
        group.append(frame);
        track.countFrame(frame.length);
        uncountedBytes += frame.length;
        if (++uncountedFrames === STATS_BATCH_FRAMES) {
          stats.framesIn += uncountedFrames;
          stats.bytesIn += uncountedBytes;
          uncountedFrames = uncountedBytes = 0;
        }
      }
      group.finish();
    } catch (err) {
      group.abort(err instanceof StreamResetError ? err.code : StreamResetCode.Cancelled);
      if (err instanceof StreamResetError || (err instanceof Error && err.name === "SessionClosedError")) {
        return;
      }
      throw err;
    } finally {
      stats.framesIn += uncountedFrames;
      stats.bytesIn += uncountedBytes;
    }
  }
}
