/**
 * `GET /fetch/<broadcast…>/<track>[?group=N|latest]`: one group's frame payloads, concatenated and
 * streamed as frames arrive (docs/relay.md §4.1).
 *
 * The lookup (broadcast live, track answered, group found) has one deadline; the body has an
 * inactivity deadline instead of a total one (docs/relay.md §8 item 31), so a large group on a slow link
 * is never cut off while it keeps moving.
 *
 * @module
 */

import type { Authenticator } from "../auth/mod.ts";
import { getVarint, varintLength } from "../codec/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Group, Origin, Track, TrackConsumer, TrackHandle } from "../relay/mod.ts";
import { authorizeSubscriber, BadPathError, decodeSegments, segmentsToPath } from "./_access.ts";
import { CORS_HEADERS, errorResponse } from "./responses.ts";

/** Default lookup and inactivity deadline of `/fetch`. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

/** Subscriber priority `/fetch` asks for upstream (lowest). */
export const FETCH_PRIORITY = 0;

/** Most `/fetch` requests one client IP may have in progress at once (beyond: 429). */
export const MAX_CONCURRENT_FETCHES_PER_IP = 16;
/**
 * Most tracks `/fetch` requests of one client IP may have opened upstream that are still open
 * (each is a SUBSCRIBE toward a publisher; a track already open costs nothing). Beyond: 429.
 */
export const MAX_FETCH_UPSTREAM_TRACKS_PER_IP = 32;

/** Tracked `/fetch` clients beyond which every idle entry is pruned at once. */
const FETCH_CLIENTS_PRUNE_AT = 4096;

/** Per-client-IP accounting of `/fetch`: requests in progress and tracks opened upstream. */
export class FetchLimiter {
  readonly #clients = new Map<string, { active: number; created: Set<Track> }>();
  #pruneAt = FETCH_CLIENTS_PRUNE_AT;

  #entry(ip: string): { active: number; created: Set<Track> } {
    let e = this.#clients.get(ip);
    if (!e) this.#clients.set(ip, e = { active: 0, created: new Set() });
    return e;
  }

  #prune(ip: string): void {
    const e = this.#clients.get(ip);
    if (!e) return;
    for (const t of e.created) if (t.state === "closed") e.created.delete(t);
    if (e.active === 0 && e.created.size === 0) this.#clients.delete(ip);
  }

  /** Admit one request from `ip`: a release function (call once), or undefined when at the cap. */
  enter(ip: string): (() => void) | undefined {
    // Entries of clients gone quiet are pruned when they return; many distinct clients (address
    // rotation) trigger a full prune, so the map only holds clients with live requests or tracks.
    // The threshold doubles with what survives, keeping the prunes amortised O(1) per request.
    if (this.#clients.size >= this.#pruneAt) {
      for (const key of [...this.#clients.keys()]) this.#prune(key);
      this.#pruneAt = Math.max(FETCH_CLIENTS_PRUNE_AT, 2 * this.#clients.size);
    }
    const e = this.#entry(ip);
    if (e.active >= MAX_CONCURRENT_FETCHES_PER_IP) return undefined;
    e.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      e.active--;
      this.#prune(ip);
    };
  }

  /** Whether `ip` may open one more track upstream. */
  mayOpen(ip: string): boolean {
    this.#prune(ip);
    return (this.#clients.get(ip)?.created.size ?? 0) < MAX_FETCH_UPSTREAM_TRACKS_PER_IP;
  }

  /** Count a track that a request of `ip` opened upstream (until it closes). */
  opened(ip: string, track: Track): void {
    this.#entry(ip).created.add(track);
  }

  /** Client IPs tracked right now (for tests). */
  get size(): number {
    return this.#clients.size;
  }
}

/** What the `/fetch` route needs. */
export interface FetchRouteContext {
  origin: Origin;
  auth: Authenticator;
  logger: Logger;
  /** Lookup deadline, and the longest pause between frames while streaming. */
  fetchTimeoutMs: number;
  /** Per-client quotas; created on first use when absent (one per context, not global). */
  limiter?: FetchLimiter;
}

/** The body of a `/fetch` response was aborted mid-stream. */
export class FetchBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FetchBodyError";
  }
}

/** Which group a request asks for. */
export type GroupSelector = { kind: "latest" } | { kind: "sequence"; sequence: number };

/** Parse `?group=`: absent or `latest` ⇒ latest, a decimal integer ⇒ that group, else undefined. */
export function parseGroupSelector(value: string | null): GroupSelector | undefined {
  if (value === null || value === "latest") return { kind: "latest" };
  if (!/^\d{1,16}$/.test(value)) return undefined;
  const sequence = Number(value);
  return Number.isSafeInteger(sequence) ? { kind: "sequence", sequence } : undefined;
}

/**
 * The payload of one encoded frame (`vi size` + payload), as a view (no copy). Undefined when the
 * size prefix is truncated or disagrees with the frame length.
 */
export function framePayload(encoded: Uint8Array): Uint8Array | undefined {
  if (encoded.length === 0) return undefined;
  const prefix = varintLength(encoded[0]);
  if (encoded.length < prefix) return undefined;
  const size = getVarint(encoded, 0);
  if (size !== encoded.length - prefix) return undefined;
  return encoded.subarray(prefix);
}

type Outcome<T> = { kind: "value"; value: T } | { kind: "timeout" } | { kind: "aborted" };

/** Race `promise` against a timer and an abort signal; always clears the timer. */
function race<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<Outcome<T>> {
  if (signal.aborted) return Promise.resolve({ kind: "aborted" });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Outcome<T>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const onAbort = () => settle({ kind: "aborted" });
    const timer = setTimeout(() => settle({ kind: "timeout" }), Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => settle({ kind: "value", value }),
      () => settle({ kind: "aborted" }),
    );
  });
}

/** Wait for the latest group (cached, or the first to arrive). Null when the track ends first. */
async function waitLatest(track: Track, ms: number, signal: AbortSignal): Promise<Outcome<Group | null>> {
  let consumer: TrackConsumer | undefined;
  const first = new Promise<Group | null>((resolve) => {
    consumer = {
      onGroup: (group) => resolve(group),
      onClose: () => resolve(null),
    };
  });
  track.attach(consumer!);
  try {
    return await race(first, ms, signal);
  } finally {
    track.detach(consumer!);
  }
}

/** Serve `/fetch/<tail>`; `tail` is the encoded path after `/fetch/`. */
export async function serveFetch(
  ctx: FetchRouteContext,
  req: Request,
  url: URL,
  tail: string,
  info: Deno.ServeHandlerInfo,
): Promise<Response> {
  const head = req.method === "HEAD";
  let broadcast: string;
  let trackName: string;
  try {
    const segments = decodeSegments(tail);
    if (segments.length < 2) {
      return errorResponse(400, "bad request: use /fetch/<broadcast>/<track>", head);
    }
    trackName = segments[segments.length - 1];
    broadcast = segmentsToPath(segments.slice(0, -1));
  } catch (e) {
    if (e instanceof BadPathError) return errorResponse(400, `bad request: ${e.message}`, head);
    throw e;
  }
  const selector = parseGroupSelector(url.searchParams.get("group"));
  if (!selector) return errorResponse(400, "bad request: group must be 'latest' or a group number", head);

  const access = await authorizeSubscriber(
    ctx.auth,
    url,
    broadcast,
    head,
    (info.remoteAddr as Deno.NetAddr).hostname,
  );
  if (access instanceof Response) return access;
  if (!access.scope.canSubscribe(access.path)) {
    return errorResponse(403, `forbidden: this credential may not subscribe to "${access.path}"`, head);
  }
  const path = access.path;
  const limiter = ctx.limiter ??= new FetchLimiter();
  const ip = info.remoteAddr.transport === "tcp" || info.remoteAddr.transport === "udp"
    ? (info.remoteAddr as Deno.NetAddr).hostname
    : "local";
  const leave = limiter.enter(ip);
  if (!leave) {
    return errorResponse(
      429,
      `too many requests: at most ${MAX_CONCURRENT_FETCHES_PER_IP} /fetch in progress per client`,
      head,
    );
  }
  let owned = false; // true once the body owns `leave`
  try {
    const response = await lookup(ctx, req, path, trackName, selector, head, info, limiter, ip, leave);
    owned = response.status === 200 && !head && response.body !== null;
    return response;
  } finally {
    if (!owned) leave();
  }
}

/** The lookup part of {@link serveFetch}: broadcast, track, group; then the body. */
async function lookup(
  ctx: FetchRouteContext,
  req: Request,
  path: string,
  trackName: string,
  selector: GroupSelector,
  head: boolean,
  info: Deno.ServeHandlerInfo,
  limiter: FetchLimiter,
  ip: string,
  leave: () => void,
): Promise<Response> {
  const timeoutMs = ctx.fetchTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(0, deadline - Date.now());

  const found = await ctx.origin.waitFor(path, timeoutMs, req.signal);
  if (req.signal.aborted) return errorResponse(499, "client closed the request", head);
  if (!found) return errorResponse(504, `timeout: broadcast "${path}" not live after ${timeoutMs} ms`, head);

  if (!ctx.origin.hasTrack(path, trackName) && !limiter.mayOpen(ip)) {
    return errorResponse(
      429,
      `too many requests: at most ${MAX_FETCH_UPSTREAM_TRACKS_PER_IP} tracks opened by /fetch per client`,
      head,
    );
  }
  const handle = ctx.origin.acquireTrack(path, trackName, FETCH_PRIORITY);
  if (!handle) return errorResponse(404, `not found: broadcast "${path}" ended`, head);
  if (handle.created) limiter.opened(ip, handle.track);
  let handed = false; // true once the body owns the handle
  try {
    const ready = await race(handle.track.whenReady(), remaining(), req.signal);
    if (ready.kind === "aborted") return errorResponse(499, "client closed the request", head);
    if (ready.kind === "timeout") {
      return errorResponse(504, `timeout: track "${trackName}" did not answer within ${timeoutMs} ms`, head);
    }
    if (!ready.value) return errorResponse(404, `not found: track "${trackName}" of "${path}"`, head);

    let group: Group | null;
    if (selector.kind === "sequence") {
      group = handle.track.findGroup(selector.sequence) ?? null;
      if (!group || group.state === "aborted") {
        return errorResponse(404, `not found: group ${selector.sequence} is not cached`, head);
      }
    } else {
      const latest = await waitLatest(handle.track, remaining(), req.signal);
      if (latest.kind === "aborted") return errorResponse(499, "client closed the request", head);
      if (latest.kind === "timeout") {
        return errorResponse(504, `timeout: no group of "${trackName}" arrived within ${timeoutMs} ms`, head);
      }
      group = latest.value;
      if (!group) return errorResponse(404, `not found: track "${trackName}" ended before any group`, head);
    }
    if (group.dropped > 0) {
      return errorResponse(404, `not found: the start of group ${group.sequence} is no longer cached`, head);
    }
    const headers: Record<string, string> = {
      ...CORS_HEADERS,
      "cache-control": selector.kind === "latest" ? "no-store" : "public, max-age=60",
      "x-moq-group": String(group.sequence),
    };
    if (head) return new Response(null, { status: 200, headers });
    handed = true;
    const body = groupBody(group, handle, timeoutMs, info, ctx.logger, leave);
    return new Response(body, { status: 200, headers });
  } finally {
    if (!handed) handle.release();
  }
}

/**
 * A stream of `group`'s payloads, pulled as the client reads. Errors (aborting the HTTP body) when
 * the group is aborted, frames were dropped before the client read them, or no frame arrived for
 * `inactivityMs`. Holds `group` ({@link Group.hold}) and releases it and `handle` exactly once: at
 * the end, on error, or when the client leaves.
 */
function groupBody(
  group: Group,
  handle: TrackHandle,
  inactivityMs: number,
  info: Deno.ServeHandlerInfo,
  logger: Logger,
  leave: () => void,
): ReadableStream<Uint8Array> {
  const stop = new AbortController();
  let done = false;
  // While this body reads the group, it is not abandoned when every subscriber passed it over.
  group.hold();
  const finish = () => {
    if (done) return;
    done = true;
    stop.abort();
    group.unhold();
    handle.release();
    leave();
  };
  // Settles when the response was delivered, or rejects when the client left mid-body. (Not
  // `request.signal`: Deno also aborts it after successful responses.)
  info.completed.then(finish, finish);
  let next = 0; // absolute frame index within the group
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, reason: string) => {
    logger.debug("fetch body aborted", { group: group.sequence, reason });
    finish();
    controller.error(new FetchBodyError(reason));
  };
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      while (!done) {
        if (next < group.dropped) return fail(controller, "client too slow: frames left the cache");
        const frame = group.frame(next);
        if (frame !== undefined) {
          const payload = framePayload(frame);
          next++;
          if (!payload) return fail(controller, "corrupt frame in cache");
          if (payload.length === 0) continue;
          controller.enqueue(payload);
          return;
        }
        if (group.state === "done") {
          finish();
          controller.close();
          return;
        }
        if (group.state === "aborted") return fail(controller, `group aborted (code ${group.abortCode})`);
        const changed = await race(group.changed(), inactivityMs, stop.signal);
        if (changed.kind === "timeout") return fail(controller, `no frame for ${inactivityMs} ms`);
      }
    },
    cancel: () => finish(),
  });
}
