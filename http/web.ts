/**
 * The public web listener's request handler (docs/relay.md §4.1, §5): `/health`,
 * `/certificate.sha256`, `/announced`, `/fetch`, the public console at `/` (http/console.ts) with
 * `/console/grant`, WebSocket upgrades on every other path, CORS preflights, and a 404 page for
 * the rest. Every response carries
 * `Access-Control-Allow-Origin: *`.
 *
 * `/certificate.sha256` answers exactly one lowercase hex hash with no newline: `@moq/lite` 0.2.2
 * reads the whole body as one hex string (its `Hex.toBytes` rejects any extra character). Every
 * served certificate is listed, one hash per line (each line ends in `\n`, first line = the
 * first certificate), at `/certificates.sha256` and `/certificate.sha256?all` (docs/relay.md §8 item 7).
 *
 * @module
 */

import { type Authenticator, AuthError, type SessionGrant } from "../auth/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Origin, RelayStats } from "../relay/mod.ts";
import { authFailureReason } from "./_access.ts";
import { serveAnnounced } from "./_announced_route.ts";
import { DEFAULT_FETCH_TIMEOUT_MS, serveFetch } from "./_fetch_route.ts";
import { ConsoleAssets, serveConsoleGrant } from "./console.ts";
import {
  errorResponse,
  healthResponse,
  landingPage,
  methodNotAllowed,
  preflightResponse,
  textResponse,
  withCors,
} from "./responses.ts";

/** What the web handler needs from the relay. */
export interface WebContext {
  origin: Origin;
  stats: RelayStats;
  auth: Authenticator;
  logger: Logger;
  /** SHA-256 (hex) of every served certificate's DER, first = the primary QUIC certificate. */
  certificateHashes(): string[];
  /** True while the relay shuts down (`/health` answers 503). */
  draining(): boolean;
  /** Why the relay is unhealthy (a listener died), or undefined: `/health` answers 503 with it. */
  unhealthy?(): string | undefined;
  /**
   * Accept an authenticated WebSocket upgrade (absent when `web.ws = false`: upgrades then get the
   * landing page). Throwing answers 400.
   */
  webSocket?: (
    req: Request,
    grant: SessionGrant,
    info: Deno.ServeHandlerInfo,
  ) => Response | Promise<Response>;
  /** `/fetch` lookup deadline and body inactivity deadline (default 30 s). */
  fetchTimeoutMs?: number;
}

/** A request handler for `Deno.serve`. */
export type WebHandler = (req: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;

/** Normalise a certificate hash to lowercase hex without colons. */
export function normalizeHash(hash: string): string {
  return hash.replaceAll(":", "").trim().toLowerCase();
}

/** Whether a request asks for a WebSocket upgrade. */
export function isWebSocketUpgrade(req: Request): boolean {
  const upgrade = req.headers.get("upgrade");
  if (!upgrade) return false;
  return upgrade.split(",").some((token) => token.trim().toLowerCase() === "websocket");
}

function certificates(ctx: WebContext, all: boolean, head: boolean): Response {
  const hashes = ctx.certificateHashes().map(normalizeHash).filter((h) => h !== "");
  if (hashes.length === 0) return errorResponse(404, "no certificate", head);
  const body = all ? hashes.map((h) => `${h}\n`).join("") : hashes[0];
  return textResponse(200, body, head);
}

async function upgrade(
  ctx: WebContext,
  req: Request,
  url: URL,
  info: Deno.ServeHandlerInfo,
): Promise<Response> {
  const accept = ctx.webSocket!;
  if (!req.headers.get("host")) return errorResponse(400, "bad request: the Host header is missing");
  let grant: SessionGrant;
  try {
    grant = await ctx.auth.authenticate(url, "websocket", (info.remoteAddr as Deno.NetAddr).hostname);
  } catch (e) {
    if (e instanceof AuthError) return errorResponse(e.status, authFailureReason(e));
    throw e;
  }
  try {
    return await accept(req, grant, info);
  } catch (e) {
    ctx.logger.debug("websocket upgrade refused", { error: e instanceof Error ? e.message : String(e) });
    return errorResponse(
      400,
      `bad request: invalid WebSocket upgrade (${e instanceof Error ? e.message : e})`,
    );
  }
}

/** The route a path names, with its encoded tail. */
type Route =
  | { kind: "health" }
  | { kind: "certificate"; all: boolean }
  | { kind: "announced"; tail: string }
  | { kind: "fetch"; tail: string }
  | { kind: "grant" }
  | { kind: "other" };

function route(url: URL): Route {
  const path = url.pathname;
  if (path === "/health") return { kind: "health" };
  if (path === "/certificate.sha256") return { kind: "certificate", all: url.searchParams.has("all") };
  if (path === "/certificates.sha256") return { kind: "certificate", all: true };
  if (path === "/console/grant") return { kind: "grant" };
  if (path === "/announced" || path.startsWith("/announced/")) {
    return { kind: "announced", tail: path.slice("/announced".length) };
  }
  if (path === "/fetch" || path.startsWith("/fetch/")) {
    return { kind: "fetch", tail: path.slice("/fetch".length) };
  }
  return { kind: "other" };
}

/** Build the web listener's handler. */
export function createWebHandler(ctx: WebContext): WebHandler {
  const log = ctx.logger.target === "http" ? ctx.logger : ctx.logger.child("http");
  const fetchCtx = {
    origin: ctx.origin,
    auth: ctx.auth,
    logger: log,
    fetchTimeoutMs: ctx.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
  };
  const consoleAssets = new ConsoleAssets();
  const handle = async (req: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    const url = new URL(req.url);
    const r = route(url);
    if (r.kind === "other") {
      if (ctx.webSocket && isWebSocketUpgrade(req)) return await upgrade(ctx, req, url, info);
      if (req.method === "OPTIONS") return preflightResponse(req);
      if (req.method === "GET" || req.method === "HEAD") {
        const page = consoleAssets.publicConsole(req, url.pathname);
        if (page) return await page;
      }
      return landingPage(req.method === "HEAD");
    }
    if (req.method === "OPTIONS") return preflightResponse(req);
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed(req.method);
    const head = req.method === "HEAD";
    switch (r.kind) {
      case "health":
        return healthResponse(ctx, head);
      case "certificate":
        return certificates(ctx, r.all, head);
      case "announced":
        return await serveAnnounced(ctx, req, url, r.tail, (info.remoteAddr as Deno.NetAddr).hostname);
      case "fetch":
        return await serveFetch(fetchCtx, req, url, r.tail, info);
      case "grant":
        return await serveConsoleGrant(ctx.auth, url, head);
    }
  };
  return async (req, info) => {
    try {
      return withCors(await handle(req, info));
    } catch (e) {
      log.warn("http request failed", {
        method: req.method,
        path: new URL(req.url).pathname.slice(0, 256),
        error: e instanceof Error ? e.message : String(e),
      });
      return errorResponse(500, "internal error");
    }
  };
}
