/**
 * The internal listener's request handler (docs/relay.md §4.2; plain HTTP, no auth, off
 * unless configured): `/health`, `/metrics` (Prometheus text format) and `/nodes` (cluster view).
 *
 * @module
 */

import { type Logger, redactSecrets } from "../log/mod.ts";
import type { Origin, RelayStats } from "../relay/mod.ts";
import { METRICS_CONTENT_TYPE, renderRelayMetrics } from "./metrics.ts";
import { errorResponse, healthResponse, methodNotAllowed } from "./responses.ts";

/** What the internal handler needs from the relay. */
export interface InternalContext {
  origin: Origin;
  stats: RelayStats;
  logger: Logger;
  /** True while the relay shuts down (`/health` answers 503). */
  draining(): boolean;
  /** Why the relay is unhealthy (a listener died), or undefined: `/health` answers 503 with it. */
  unhealthy?(): string | undefined;
  /** Authentication refusals by reason (e.g. `JwtAuthenticator.authFailures`). */
  authFailures?: () => ReadonlyMap<string, number>;
  /** The cluster view for `/nodes` (JSON-serialisable entries); absent = no cluster. */
  nodes?: () => unknown[];
}

/** Build the internal listener's handler. */
export function createInternalHandler(
  ctx: InternalContext,
): (req: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const log = ctx.logger.target === "http" ? ctx.logger : ctx.logger.child("http");
  const handle = (req: Request): Response => {
    const path = new URL(req.url).pathname;
    if (path !== "/health" && path !== "/metrics" && path !== "/nodes") {
      return errorResponse(404, `not found: ${path.slice(0, 128)} (try /health, /metrics or /nodes)`);
    }
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed(req.method);
    const head = req.method === "HEAD";
    if (path === "/health") {
      return healthResponse(ctx, head);
    }
    if (path === "/metrics") {
      const body = renderRelayMetrics({
        stats: ctx.stats,
        origin: ctx.origin.stats(),
        cacheCapacityBytes: ctx.origin.cacheCapacityBytes,
        authFailures: ctx.authFailures?.(),
        draining: ctx.draining(),
      });
      return new Response(head ? null : body, {
        status: 200,
        headers: { "content-type": METRICS_CONTENT_TYPE },
      });
    }
    // Node errors may quote dialed URLs: no credential is ever served (unauthenticated listener).
    const body = redactSecrets(JSON.stringify({ nodes: ctx.nodes?.() ?? [] }));
    return new Response(head ? null : body, {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  };
  return (req) => {
    try {
      return Promise.resolve(handle(req));
    } catch (e) {
      log.warn("internal request failed", { error: e instanceof Error ? e.message : String(e) });
      return Promise.resolve(errorResponse(500, "internal error"));
    }
  };
}
