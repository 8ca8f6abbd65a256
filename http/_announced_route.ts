/**
 * `GET /announced[/<prefix>]`: the broadcasts announced under a prefix that the request may
 * subscribe to, one path per line relative to the prefix (docs/relay.md §4.1). The reserved
 * `.internal` namespace is listed only for internal credentials (docs/relay.md §8 item 1).
 *
 * Unpaginated by default, like upstream; `?limit=N` returns at most N paths and `?after=<path>`
 * continues after a path (docs/relay.md §8 item 32). When more remain, a
 * `Link: <…?limit=N&after=…>; rel="next"` header points at the next page (without the token).
 *
 * @module
 */

import type { Authenticator } from "../auth/mod.ts";
import { type Origin, stripPrefix } from "../relay/mod.ts";
import { authorizeSubscriber, BadPathError, decodeSegments, segmentsToPath } from "./_access.ts";
import { errorResponse, textResponse } from "./responses.ts";

/** The largest page `?limit=` may ask for. */
export const MAX_ANNOUNCED_LIMIT = 10_000;

/** What the `/announced` route needs. */
export interface AnnouncedRouteContext {
  origin: Origin;
  auth: Authenticator;
}

/** A page of sorted paths: at most `limit` paths after `after`, and whether more remain. */
export function paginate(
  sorted: readonly string[],
  limit: number | undefined,
  after: string | undefined,
): { page: string[]; more: boolean } {
  const rest = after === undefined ? sorted : sorted.filter((p) => p > after);
  if (limit === undefined || rest.length <= limit) return { page: [...rest], more: false };
  return { page: rest.slice(0, limit), more: true };
}

/** Serve `/announced/<tail>`; `tail` is the encoded path after `/announced`. */
export async function serveAnnounced(
  ctx: AnnouncedRouteContext,
  req: Request,
  url: URL,
  tail: string,
  peer?: string,
): Promise<Response> {
  const head = req.method === "HEAD";
  let prefix: string;
  try {
    prefix = segmentsToPath(decodeSegments(tail));
  } catch (e) {
    if (e instanceof BadPathError) return errorResponse(400, `bad request: ${e.message}`, head);
    throw e;
  }
  const limitText = url.searchParams.get("limit");
  let limit: number | undefined;
  if (limitText !== null) {
    limit = /^\d{1,6}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_ANNOUNCED_LIMIT)) {
      return errorResponse(
        400,
        `bad request: limit must be an integer from 1 to ${MAX_ANNOUNCED_LIMIT}`,
        head,
      );
    }
  }
  const after = url.searchParams.get("after") ?? undefined;

  const access = await authorizeSubscriber(ctx.auth, url, prefix, head, peer);
  if (access instanceof Response) return access;
  const absolute = access.path;
  const visible = ctx.origin.list(absolute)
    .filter((p) => access.scope.canSubscribe(p))
    .map((p) => stripPrefix(p, absolute))
    .sort();
  const { page, more } = paginate(visible, limit, after);
  const headers: Record<string, string> = {};
  if (more && limit !== undefined) {
    const nextUrl = new URL(url.pathname, url);
    nextUrl.searchParams.set("limit", String(limit));
    nextUrl.searchParams.set("after", page[page.length - 1]);
    headers.link = `<${nextUrl.pathname}${nextUrl.search}>; rel="next"`;
  }
  return textResponse(200, page.join("\n"), head, headers);
}
