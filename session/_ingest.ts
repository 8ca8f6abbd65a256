/**
 * The relay as a subscriber of its peer: it asks the peer what it publishes (ANNOUNCE_INTEREST on
 * each allowed publish prefix), registers those broadcasts in the origin, and pulls tracks on
 * demand (one SUBSCRIBE per track, deduplicated by the origin), reading the peer's GROUP streams.
 * On moq-lite-05 it asks with ANNOUNCE_REQUEST (answered by ANNOUNCE_OK, whose hop id it appends to
 * every chain; a second `active` is a restart), fetches each track's TRACK_INFO before subscribing
 * and keeps every frame's timestamp in the cache.
 *
 * @module
 */

import {
  type BroadcastSource,
  checkedPath,
  joinPath,
  MAX_PATH_SEGMENTS,
  type Publication,
  SMALL_FRAME_BYTES,
  stripPrefix,
  type Track,
  type UpstreamSubscription,
} from "../relay/mod.ts";
import { type BidiStream, type RecvStream, StreamReader, StreamResetError } from "../transport/mod.ts";
import { Writer } from "../codec/mod.ts";
import {
  BidiType05,
  bufferedFrame05,
  type Datagram05,
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeTrackInfo,
  encodeAnnounceRequest,
  encodeStreamType05,
  encodeTrack,
  FrameTimestampDecoder,
  readEncodedFrame05,
  readSubscribeResponse05,
  receivedHops,
} from "./lite05.ts";
import {
  Code,
  FRAMES_PER_YIELD,
  MAX_FRAME_BYTES,
  MESSAGES_PER_YIELD,
  peerErrorCode,
  ProtocolError,
  type SessionContext,
  STATS_BATCH_FRAMES,
  yieldToEventLoop,
} from "./context.ts";
import {
  BidiType,
  decodeAnnounce,
  decodeAnnounceInit,
  decodeGroupHeader,
  decodeSubscribeDrop,
  decodeSubscribeFields,
  encodeAnnounceInterest,
  encodeStreamType,
  encodeSubscribe,
  encodeSubscribeUpdate,
  isLegacy,
  MAX_MESSAGE_BYTES,
  UNI_GROUP,
  Version,
} from "./messages.ts";

/** Most hops a broadcast may have travelled. */
export const MAX_HOP_COUNT = 32;

/** The peer's broadcasts and the upstream subscriptions the relay holds on it. */
export class Ingest {
  readonly #ctx: SessionContext;
  /** Broadcasts the peer announced: absolute path → publication. */
  readonly #publications = new Map<string, Publication>();
  /** Upstream subscriptions by the id the relay chose. */
  readonly #subs = new Map<bigint, Track>();
  #nextId = 0n;

  constructor(ctx: SessionContext) {
    this.#ctx = ctx;
  }

  /** Number of broadcasts this peer currently publishes through the relay. */
  get broadcasts(): number {
    return this.#publications.size;
  }

  /** Open ANNOUNCE_INTEREST for every publish prefix of the session. */
  start(): void {
    const scope = this.#ctx.scope;
    for (const prefix of scope.publish) {
      const relative = stripPrefix(prefix, scope.root);
      this.#discover(relative).catch((err) => this.#fail(err));
    }
  }

  /** End every publication: `abrupt` when the session was lost rather than closed cleanly. */
  close(abrupt: boolean): void {
    for (const pub of this.#publications.values()) pub.end(abrupt);
    this.#publications.clear();
    this.#subs.clear();
  }

  #fail(err: unknown): void {
    if (this.#ctx.signal.aborted) return;
    const code = peerErrorCode(err);
    if (code !== null) this.#ctx.fail(code, (err as Error).message);
    else this.#ctx.log.debug("announce interest ended", { error: String(err) });
  }

  async #discover(relativePrefix: string): Promise<void> {
    const ctx = this.#ctx;
    const stream = await ctx.transport.openBidi();
    const reader = new StreamReader(stream.recv);
    const lite05 = ctx.version === Version.Lite05;
    await stream.send.write(encodeStreamType(BidiType.Announce));
    await stream.send.write(
      lite05
        ? encodeAnnounceRequest({ prefix: relativePrefix, excludeHop: BigInt(ctx.originId) })
        : encodeAnnounceInterest(ctx.version, { prefix: relativePrefix, excludeHop: BigInt(ctx.originId) }),
    );
    const base = joinPath(ctx.scope.root, relativePrefix);
    const mine = new Set<string>();
    let abrupt = false;
    try {
      if (isLegacy(ctx.version)) {
        const init = decodeAnnounceInit(await reader.message(MAX_MESSAGE_BYTES));
        for (const suffix of init) this.#announce(base, suffix, [], mine);
      }
      const okHop = lite05 ? decodeAnnounceOk(await reader.message(MAX_MESSAGE_BYTES)).hop : 0n;
      for (let n = 1; !(await reader.done()); n++) {
        if (n % MESSAGES_PER_YIELD === 0) await yieldToEventLoop();
        const body = await reader.message(MAX_MESSAGE_BYTES);
        if (lite05) {
          const msg = decodeAnnounceBroadcast(body);
          // lite-05 receivers append the responder's hop (62-bit ids, kept exact).
          if (msg.active) {
            this.#announce(base, msg.suffix, receivedHops(msg.hops, okHop), mine, true);
          } else this.#unannounce(base, msg.suffix, mine);
          continue;
        }
        const msg = decodeAnnounce(ctx.version, body);
        if (msg.active) this.#announce(base, msg.suffix, msg.hops, mine);
        else this.#unannounce(base, msg.suffix, mine);
      }
    } catch (err) {
      abrupt = true;
      if (!(err instanceof StreamResetError)) throw err;
    } finally {
      for (const path of mine) {
        this.#publications.get(path)?.end(abrupt || ctx.signal.aborted);
        this.#publications.delete(path);
        ctx.stats.announced("in", path, false);
      }
      await stream.send.close();
    }
  }

  /** Register an announced broadcast; with `restart` (lite-05) an active one is replaced. */
  #announce(base: string, suffix: string, wireHops: bigint[], mine: Set<string>, restart = false): void {
    const ctx = this.#ctx;
    const path = checkedPath(joinPath(base, checkedPath(suffix)));
    // Hop ids are cluster routing state: only a cluster member (internal credential) may state
    // them. From anyone else they could fake a route to another publisher's broadcast or make a
    // peer drop a path as a loop, so they are ignored.
    const hops = ctx.scope.internal ? wireHops : [];
    if (!ctx.scope.canPublish(path)) {
      ctx.warnings.warn(ctx.log, "announce-scope", "announce outside publish scope ignored", { path });
      return;
    }
    if (ctx.originId !== 0 && hops.includes(BigInt(ctx.originId))) {
      ctx.log.debug("announce loop dropped", { path });
      return;
    }
    if (hops.length >= MAX_HOP_COUNT || hops.length > MAX_PATH_SEGMENTS) {
      ctx.log.debug("announce with too many hops dropped", { path, hops: hops.length });
      return;
    }
    const previous = this.#publications.get(path);
    if (previous && !(restart && mine.has(path))) {
      throw new ProtocolError(Code.Duplicate, `broadcast "${path}" announced twice without an end`);
    }
    if (previous) {
      // Restart (route change): the new route takes over before the old one is let go.
      this.#publications.set(path, ctx.origin.publish(path, this.#source(path, hops)));
      previous.end(false);
      ctx.log.info("broadcast restarted", { path, hops: hops.length });
      return;
    }
    if (this.#publications.size >= ctx.limits.maxBroadcastsPerSession) {
      ctx.warnings.warn(ctx.log, "broadcast-quota", "broadcast quota exceeded; announce ignored", {
        path,
        limit: ctx.limits.maxBroadcastsPerSession,
      });
      return;
    }
    const source = this.#source(path, hops);
    this.#publications.set(path, ctx.origin.publish(path, source));
    mine.add(path);
    ctx.stats.announced("in", path, true);
    ctx.log.info("broadcast published", { path });
  }

  #unannounce(base: string, suffix: string, mine: Set<string>): void {
    const path = checkedPath(joinPath(base, checkedPath(suffix)));
    const pub = this.#publications.get(path);
    if (!pub || !mine.has(path)) return; // unknown end: tolerated
    pub.end(false);
    this.#publications.delete(path);
    mine.delete(path);
    this.#ctx.stats.announced("in", path, false);
    this.#ctx.log.info("broadcast unpublished", { path });
  }

  #source(path: string, hops: bigint[]): BroadcastSource {
    const ctx = this.#ctx;
    return {
      label: `session ${ctx.id}`,
      hops,
      cost: ctx.scope.linkCost,
      upstream: ctx.scope.dialed,
      subscribe: (track, priority) => this.#subscribe(path, track, priority),
      displaced: (by) => ctx.log.info("publisher displaced by a newer publisher", { path, by }),
    };
  }

  #subscribe(path: string, track: Track, priority: number): UpstreamSubscription {
    const ctx = this.#ctx;
    const id = this.#nextId++;
    let cancelled = false;
    let stream: BidiStream | null = null;
    this.#subs.set(id, track);
    const stats = ctx.stats.forBroadcast(path);
    stats.ingressSubscriptionsOpened++;
    let open = true;
    const closed = () => {
      if (!open) return;
      open = false;
      stats.ingressSubscriptionsClosed++;
    };
    const lite05 = ctx.version === Version.Lite05;
    const run = async () => {
      if (lite05) {
        // lite-05: the track's immutable properties come from a Track stream first.
        const t = await ctx.transport.openBidi();
        const tr = new StreamReader(t.recv);
        await t.send.write(encodeStreamType05(BidiType05.Track));
        await t.send.write(encodeTrack({ broadcast: stripPrefix(path, ctx.scope.root), track: track.name }));
        const info = decodeTrackInfo(await tr.message(MAX_MESSAGE_BYTES));
        await t.send.close();
        if (cancelled) return null;
        track.info = info;
      }
      stream = await ctx.transport.openBidi();
      if (cancelled) {
        await stream.send.close();
        return;
      }
      const reader = new StreamReader(stream.recv);
      await stream.send.write(encodeStreamType(BidiType.Subscribe));
      await stream.send.write(encodeSubscribe(ctx.version, {
        id,
        broadcast: stripPrefix(path, ctx.scope.root),
        track: track.name,
        priority,
        ordered: true,
        maxLatencyMs: 0,
      }));
      if (lite05) {
        // Acceptance is implicit; START / END / DROP follow (the relay serves whatever arrives).
        if (this.#subs.get(id) === track && !cancelled) track.ready();
        for (let n = 1; (await readSubscribeResponse05(reader, MAX_MESSAGE_BYTES)) !== null; n++) {
          if (n % MESSAGES_PER_YIELD === 0) await yieldToEventLoop();
        }
        return null;
      }
      // The first response must be SUBSCRIBE_OK.
      if (ctx.version === Version.Lite01 || ctx.version === Version.Lite02) {
        await reader.message(MAX_MESSAGE_BYTES);
      } else {
        const type = await reader.varint();
        if (type !== 0) {
          throw new ProtocolError(Code.Unexpected, "first subscribe response is not SUBSCRIBE_OK");
        }
        decodeSubscribeFields(await reader.message(MAX_MESSAGE_BYTES), "SUBSCRIBE_OK");
      }
      if (this.#subs.get(id) === track && !cancelled) track.ready();
      // Then DROP messages (ignored) until FIN or reset.
      for (let n = 1; !(await reader.done()); n++) {
        if (n % MESSAGES_PER_YIELD === 0) await yieldToEventLoop();
        const type = await reader.varint();
        const body = await reader.message(MAX_MESSAGE_BYTES);
        if (type === 1) decodeSubscribeDrop(body);
      }
      return null;
    };
    run().finally(closed).then(
      () => {
        if (this.#subs.get(id) === track) {
          this.#subs.delete(id);
          if (!cancelled) track.upstreamEnded(null);
        }
      },
      (err) => {
        const mineStill = this.#subs.get(id) === track;
        this.#subs.delete(id);
        if (ctx.signal.aborted || cancelled || !mineStill) return;
        if (err instanceof StreamResetError) {
          track.upstreamEnded(err.code);
          return;
        }
        if (err instanceof Error && err.name === "SessionClosedError") return; // origin lingers it
        track.upstreamEnded(Code.Cancel);
        this.#fail(err);
      },
    );
    return {
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        closed();
        this.#subs.delete(id);
        const s = stream as BidiStream | null;
        if (s) {
          s.send.close();
          s.recv.stop(Code.Cancel);
        }
      },
      update: (p: number) => {
        const s = stream as BidiStream | null;
        if (!s || isLegacy(ctx.version)) return;
        s.send.write(encodeSubscribeUpdate({ priority: p, ordered: true, maxLatencyMs: 0 })).catch(() => {});
      },
    };
  }

  /**
   * A lite-05 QUIC datagram from the peer: a complete single-frame group of one of our upstream
   * subscriptions. Unknown subscriptions and groups already cached are dropped.
   */
  datagram(d: Datagram05): void {
    const track = this.#subs.get(d.subscribeId);
    if (!track) return;
    const frame = new Writer(d.payload.length + 8).varint(d.payload.length).bytes(d.payload).finish();
    if (!track.completeGroup(d.sequence, frame, d.timestamp)) return;
    track.countFrame(frame.length);
    const stats = this.#ctx.stats;
    stats.countIn(1, 1, frame.length);
  }

  /** Read one GROUP stream the peer opened (`type`: its stream type when already read). */
  async group(stream: RecvStream, reader: StreamReader, type?: number): Promise<void> {
    const ctx = this.#ctx;
    type ??= await reader.u8();
    if (type !== UNI_GROUP) {
      ctx.log.debug("unknown unidirectional stream type", { type });
      stream.stop(Code.UnexpectedStream);
      return;
    }
    const header = decodeGroupHeader(await reader.message(MAX_MESSAGE_BYTES));
    const track = this.#subs.get(header.subscribeId);
    if (!track) {
      stream.stop(Code.Cancel);
      return;
    }
    const group = track.startGroup(header.sequence);
    // Every subscriber passed over this group (see the relay Track's groupIdle): stop reading it.
    let unwanted = false;
    group.onAbandon = () => {
      unwanted = true;
      stream.stop(Code.Old);
    };
    const stats = ctx.stats.forBroadcast(track.broadcast);
    stats.groupsIn++;
    // lite-05 frames carry timestamps; older ones are stamped with their arrival time.
    const clock = ctx.version === Version.Lite05 ? new FrameTimestampDecoder() : null;
    // Frames and bytes received but not yet added to the stats (counted in batches: the session's
    // stats view does real work per increment).
    let uncountedFrames = 0;
    let uncountedBytes = 0;
    // Frames are appended without waking the group's readers; they wake once the reader has
    // consumed what it buffered (all the frames of one received chunk) and is about to wait.
    reader.onWait = () => group.wake();
    try {
      // Withheld while every subscriber is behind: over raw QUIC its bytes stay with the transport
      // (held by QUIC flow control) until it is offered, and are never read when a newer group
      // supersedes it (then its stream is stopped). The framed transports (WebSocket, TCP) buffer
      // unread bytes against a session budget instead, so there it is read into the cache.
      const wanted = ctx.transport.kind === "quic" ? track.whenWanted(group) : null;
      if (wanted !== null && !(await wanted)) return;
      for (let n = 1;; n++) {
        // Small frames are copied into the group's shared chunks: a view of what was read is
        // enough, and one already buffered (lite-05: with its timestamp delta) is taken without a
        // promise.
        const frame = clock === null
          ? reader.bufferedFrame(MAX_FRAME_BYTES, SMALL_FRAME_BYTES) ??
            await reader.frame(MAX_FRAME_BYTES, SMALL_FRAME_BYTES)
          : bufferedFrame05(reader, clock, MAX_FRAME_BYTES, SMALL_FRAME_BYTES) ??
            await readEncodedFrame05(reader, clock, MAX_FRAME_BYTES, SMALL_FRAME_BYTES);
        if (frame === null) break;
        const timestamp = clock?.last;
        if (n % FRAMES_PER_YIELD === 0) {
          group.wake();
          await yieldToEventLoop();
        }
        group.append(frame, timestamp, false);
        track.countFrame(frame.length);
        uncountedBytes += frame.length;
        if (++uncountedFrames === STATS_BATCH_FRAMES) {
          stats.countIn(0, uncountedFrames, uncountedBytes);
          uncountedFrames = uncountedBytes = 0;
        }
      }
      group.finish();
    } catch (err) {
      group.abort(err instanceof StreamResetError ? err.code : Code.Cancel);
      // Stopped mid-frame because nobody reads the group: not the publisher's fault.
      if (unwanted) return;
      if (err instanceof StreamResetError || (err instanceof Error && err.name === "SessionClosedError")) {
        return;
      }
      throw err;
    } finally {
      reader.onWait = null;
      group.onAbandon = null;
      group.wake(); // finish/abort woke them; belt and braces for any other exit
      stats.countIn(0, uncountedFrames, uncountedBytes);
    }
  }
}
