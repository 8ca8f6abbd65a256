/**
 * FETCH and TRACK_STATUS answered from the relay's group cache: standalone fetches of a range,
 * relative- and absolute-joining fetches that complete a subscription of the same session back to
 * its join point, and the largest location of a track.
 *
 * @module
 */

import type { Group, Track } from "../../relay/mod.ts";
import type { ControlMessage, ControlOf, Location } from "./control.ts";
import { encodeFetchObject, encodeStreamHeader, type FetchObject } from "./data.ts";
import { StreamResetCode } from "./errors.ts";
import { framePayload } from "./_io.ts";
import {
  type IetfContext,
  largestOf,
  namespacePath,
  PUBLISHER_PRIORITY,
  refuse,
  SubgroupMeta,
} from "./_context.ts";
import type { Request } from "./_requests.ts";
import { IetfWriter, MessageParam } from "./wire.ts";

/** A subscription of this session a joining FETCH can refer to. */
export interface JoinPoint {
  path: string;
  name: string;
  /** The group the subscription started at (its first group; earlier ones need a fetch). */
  startGroup: number;
}

/** Subscriptions of one session by request id, for joining fetches. */
export type JoinPoints = Map<number, JoinPoint>;

/**
 * FETCHes one session may have in flight. A fetch the peer does not read holds its stream, a
 * blocked write (an encoded object: up to a frame's size) and its queued answer, so the count is
 * capped; more are refused with EXCESSIVE_LOAD until earlier ones finish.
 */
export const MAX_FETCHES_PER_SESSION = 16;

/** The FETCHes one session has in flight (see {@link MAX_FETCHES_PER_SESSION}). */
export interface FetchCounter {
  fetches: number;
}

/** The cached track at `path`/`name`, if the origin has one. */
function cachedTrack(ctx: IetfContext, path: string, name: string): Track | undefined {
  const t = ctx.origin.get(path)?.tracks.get(name);
  return t && t.state !== "closed" ? t : undefined;
}

/**
 * Serve one FETCH from the cache: FETCH_OK, then one FETCH_HEADER stream with every cached object
 * in range, ascending, then FIN. A range the cache no longer holds yields the objects it still has.
 */
export async function serveFetch(
  ctx: IetfContext,
  req: Request,
  msg: ControlOf<"fetch">,
  joins: JoinPoints,
  counter: FetchCounter,
): Promise<void> {
  if (counter.fetches >= MAX_FETCHES_PER_SESSION) {
    ctx.warnings.warn(ctx.log, "fetch-quota", "too many FETCHes in flight on this session; FETCH refused", {
      limit: MAX_FETCHES_PER_SESSION,
    });
    await refuse(ctx, req, "fetch", "excessiveLoad", "too many fetches in flight on this session");
    return;
  }
  counter.fetches++;
  try {
    await serveFetchNow(ctx, req, msg, joins);
  } finally {
    counter.fetches--;
  }
}

async function serveFetchNow(
  ctx: IetfContext,
  req: Request,
  msg: ControlOf<"fetch">,
  joins: JoinPoints,
): Promise<void> {
  let path: string;
  let name: string;
  let start: Location;
  let end: Location; // exclusive in objects; object 0 = the whole end group
  const spec = msg.spec;
  if (spec.type === "standalone") {
    try {
      path = ctx.scope.absolute(namespacePath(spec.namespace));
    } catch (err) {
      await refuse(ctx, req, "fetch", "doesNotExist", (err as Error).message);
      return;
    }
    name = spec.name;
    start = spec.start;
    end = spec.end;
  } else {
    const join = joins.get(spec.joiningRequestId);
    if (!join) {
      await refuse(ctx, req, "fetch", "internal", `no subscription with request id ${spec.joiningRequestId}`);
      return;
    }
    path = join.path;
    name = join.name;
    // The groups before the one the subscription started at (an empty range when there are none).
    const first = spec.type === "relativeJoining" ? Math.max(0, join.startGroup - spec.offset) : spec.group;
    start = { group: first, object: 0 };
    end = { group: join.startGroup - 1, object: 0 };
  }
  if (!ctx.scope.canSubscribe(path)) {
    await refuse(ctx, req, "fetch", "unauthorized", "not allowed to fetch this path");
    return;
  }
  const track = cachedTrack(ctx, path, name);
  if (!track) {
    await refuse(ctx, req, "fetch", "doesNotExist", "the relay has no cached copy of this track");
    return;
  }
  const groups: Group[] = track.groups
    .filter((g) => g.sequence >= start.group && g.sequence <= end.group)
    .sort((a, b) => a.sequence - b.sequence);
  const idAt = (g: Group, i: number) => g.meta instanceof SubgroupMeta ? g.meta.idOf(i) : i;
  const inRange = (g: Group, object: number) =>
    !(g.sequence === start.group && object < start.object) &&
    !(g.sequence === end.group && end.object !== 0 && object >= end.object);
  let last: Location = { group: start.group, object: start.object };
  for (const g of groups) {
    for (let i = g.frameCount - 1; i >= g.dropped; i--) {
      if (inRange(g, idAt(g, i))) {
        last = { group: g.sequence, object: idAt(g, i) };
        break;
      }
    }
  }
  let cancelled = false;
  const watching = (async () => {
    try {
      while ((await req.next()) !== null) { /* FETCH has no updates */ }
    } catch {
      // reset: same as cancel
    }
    cancelled = true;
  })();
  await req.send({
    kind: "fetchOk",
    requestId: req.id,
    groupOrder: 1,
    endOfTrack: false,
    endLocation: last,
    params: [],
    properties: [],
  });
  const stream = await ctx.transport.openUni();
  try {
    await stream.write(encodeStreamHeader({ kind: "fetch", requestId: req.id }, ctx.draft));
    let prev: FetchObject | undefined;
    for (const g of groups) {
      for (let i = g.dropped; i < g.frameCount; i++) {
        if (cancelled || ctx.signal.aborted) {
          stream.reset(StreamResetCode.Cancelled);
          return;
        }
        if (!inRange(g, idAt(g, i))) continue;
        const frame = g.frame(i);
        if (!frame) continue;
        const { prefix } = framePayload(frame);
        const meta = g.meta instanceof SubgroupMeta ? g.meta : undefined;
        const o: FetchObject = {
          group: g.sequence,
          subgroup: meta?.subgroup ?? 0,
          objectId: meta ? meta.idOf(i) : i,
          publisherPriority: meta?.priority ?? PUBLISHER_PRIORITY,
          extensions: [],
          payload: frame.subarray(prefix),
        };
        await stream.write(encodeFetchObject(o, prev, ctx.draft));
        prev = o;
      }
    }
    await stream.close();
    await req.finish();
  } catch (err) {
    stream.reset(StreamResetCode.InternalError);
    ctx.log.debug("fetch failed", { path, track: name, error: String(err) });
  }
  void watching;
}

/** Answer TRACK_STATUS from the origin: the largest cached location, or DOES_NOT_EXIST. */
export async function serveTrackStatus(
  ctx: IetfContext,
  req: Request,
  msg: ControlOf<"trackStatus">,
): Promise<void> {
  let path: string;
  try {
    path = ctx.scope.absolute(namespacePath(msg.namespace));
  } catch (err) {
    await refuse(ctx, req, "trackStatus", "doesNotExist", (err as Error).message);
    return;
  }
  if (!ctx.scope.canSubscribe(path)) {
    await refuse(ctx, req, "trackStatus", "unauthorized", "not allowed to subscribe to this path");
    return;
  }
  if (!ctx.origin.get(path)) {
    await refuse(ctx, req, "trackStatus", "doesNotExist", "no such broadcast");
    return;
  }
  const track = cachedTrack(ctx, path, msg.name);
  const largest = track ? largestOf(track) : undefined;
  let reply: ControlMessage;
  if (ctx.draft === 14) {
    reply = {
      kind: "trackStatusOk",
      requestId: req.id,
      trackAlias: 0,
      expires: 0,
      largest,
      params: [],
      properties: [],
    };
  } else {
    const params = largest
      ? [{
        type: MessageParam.LargestObject,
        value: new IetfWriter(ctx.draft, 16).varint(largest.group).varint(largest.object).finish(),
      }]
      : [];
    reply = { kind: "requestOk", requestId: req.id, params, properties: [] };
  }
  await req.send(reply);
  await req.finish();
}
