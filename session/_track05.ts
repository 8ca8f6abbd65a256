/**
 * The moq-lite-05 Track and Fetch streams a subscriber opens (draft-lcurley-moq-lite-05; docs/lite05.md):
 * TRACK is answered with the track's TRACK_INFO then FIN, FETCH with one cached group's frames
 * (timestamps on a fresh baseline; the encoding lite-05 subscribers share, see `_frame05.ts`) then FIN. Both resolve the track through the origin exactly like
 * SUBSCRIBE (one upstream subscription however many subscribers); a track that does not exist is a
 * stream reset.
 *
 * @module
 */

import type { Group, TrackHandle } from "../relay/mod.ts";
import type { BidiStream, StreamReader } from "../transport/mod.ts";
import {
  Code,
  discardRest,
  FRAMES_PER_YIELD,
  refuse,
  type SessionContext,
  yieldToEventLoop,
} from "./context.ts";
import { Code05, decodeFetch05, decodeTrack, encodeTrackInfo } from "./lite05.ts";
import { MAX_MESSAGE_BYTES } from "./messages.ts";
import { MAX_UPSTREAM_TRACKS_PER_SESSION, type SubscriptionRegistry } from "./_subscribe.ts";
import { run05 } from "./_frame05.ts";

/**
 * Resolve a live track for a TRACK or FETCH request, counted against the same quotas as a
 * SUBSCRIBE; resets the stream and returns undefined when it cannot.
 */
async function resolveTrack(
  ctx: SessionContext,
  stream: BidiStream,
  broadcast: string,
  name: string,
  priority: number,
  registry: SubscriptionRegistry,
): Promise<TrackHandle | undefined> {
  const path = ctx.scope.absolute(broadcast);
  if (!ctx.scope.canSubscribe(path)) {
    ctx.log.debug("track request outside scope", { path, track: name });
    refuse(stream, Code.NotFound);
    return undefined;
  }
  const found = await ctx.origin.waitFor(path, ctx.limits.subscribeWaitMs, ctx.signal);
  if (!found) {
    refuse(stream, Code.NotFound);
    return undefined;
  }
  if (
    !ctx.scope.internal && !ctx.origin.hasTrack(path, name) &&
    registry.openCreated() >= MAX_UPSTREAM_TRACKS_PER_SESSION
  ) {
    ctx.warnings.warn(ctx.log, "upstream-quota", "upstream track quota exceeded; reset with code 11", {
      limit: MAX_UPSTREAM_TRACKS_PER_SESSION,
      path,
    });
    refuse(stream, Code.Bounds);
    return undefined;
  }
  const handle = ctx.origin.acquireTrack(path, name, priority);
  if (!handle) {
    refuse(stream, Code.NotFound);
    return undefined;
  }
  if (handle.created && !ctx.scope.internal) registry.created.add(handle.track);
  // The peer may give up (reset) or the session end while the upstream is still pending.
  let onAbort = () => {};
  const gone = new Promise<boolean>((resolve) => {
    onAbort = () => resolve(false);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    stream.send.stopped.then((code) => code >= 0 && resolve(false));
  });
  const ready = await Promise.race([handle.track.whenReady(), gone]);
  ctx.signal.removeEventListener("abort", onAbort);
  if (!ready) {
    handle.release();
    if (ctx.signal.aborted) return undefined;
    const code = handle.track.closeCode;
    refuse(stream, code === null || code === 0 ? Code.NotFound : code);
    return undefined;
  }
  return handle;
}

/** Answer one TRACK with the track's TRACK_INFO, then FIN. */
export async function serveTrack05(
  ctx: SessionContext,
  stream: BidiStream,
  reader: StreamReader,
  registry: SubscriptionRegistry,
): Promise<void> {
  const req = decodeTrack(await reader.message(MAX_MESSAGE_BYTES));
  const handle = await resolveTrack(ctx, stream, req.broadcast, req.track, 0, registry);
  if (!handle) return;
  try {
    await stream.send.write(encodeTrackInfo(handle.track.info));
    await stream.send.close();
  } finally {
    handle.release();
  }
  // The subscriber FINs its side after TRACK_INFO; nothing else is expected.
  await discardRest(reader).catch(() => {});
}

/** Answer one FETCH with the cached group's frames (fresh timestamp baseline), then FIN. */
export async function serveFetch05(
  ctx: SessionContext,
  stream: BidiStream,
  reader: StreamReader,
  registry: SubscriptionRegistry,
): Promise<void> {
  const req = decodeFetch05(await reader.message(MAX_MESSAGE_BYTES));
  const handle = await resolveTrack(ctx, stream, req.broadcast, req.track, req.priority, registry);
  if (!handle) return;
  // Counted when requested (a fetch of a group not cached still counts); its payload counts too.
  const stats = ctx.stats.forBroadcast(handle.track.broadcast);
  stats.fetchesServed++;
  let held: Group | undefined;
  try {
    const group = handle.track.findGroup(req.group);
    if (!group) {
      refuse(stream, Code.NotFound);
      return;
    }
    // Held while served: subscribers passing over it must not stop it being read upstream.
    held = group;
    group.hold();
    stats.groupsOut++;
    stream.recv.stop(Code.Cancel);
    // A fresh baseline from the first cached frame: the subscribers' shared encoding from frame 0.
    const start = group.dropped;
    let next = start;
    let sinceYield = 0;
    for (;;) {
      while (next < group.frameCount) {
        const run = run05(group, next, next === start);
        if (run === undefined) {
          stream.send.reset(Code05.Lagged);
          return;
        }
        next += run.count;
        if (run.tail !== null) stream.send.write(run.bytes).catch(() => {}); // goes out with its frame
        await stream.send.write(run.tail ?? run.bytes);
        stats.framesOut += run.count;
        stats.bytesOut += run.frameBytes;
        if ((sinceYield += run.count) >= FRAMES_PER_YIELD) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
      if (group.state === "done") {
        await stream.send.close();
        return;
      }
      if (group.state === "aborted") {
        stream.send.reset(group.abortCode);
        return;
      }
      await group.changed();
    }
  } catch (err) {
    ctx.log.debug("fetch failed", { track: req.track, group: req.group, error: String(err) });
    stream.send.reset(Code.Cancel);
  } finally {
    held?.unhold();
    handle.release();
  }
}
