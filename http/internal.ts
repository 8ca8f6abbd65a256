/**
 * The internal listener's request handler (docs/relay.md §4.2; plain HTTP, no auth, off
 * unless configured): `/health`, `/metrics` (Prometheus text format), `/nodes` (cluster view),
 * `/stats.json` (one JSON snapshot of the same counters) and the operator console at `/`
 * (http/console.ts), which reads `/stats.json`. None of these is served on the public listener.
 *
 * @module
 */

import { type Logger, redactSecrets } from "../log/mod.ts";
import type { Origin, RelayStats } from "../relay/mod.ts";
import { ConsoleAssets } from "./console.ts";
import { METRICS_CONTENT_TYPE, type RelayMetricsInput, renderRelayMetrics } from "./metrics.ts";
import { StatsHistory, statsSnapshot } from "./stats_json.ts";
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
  /**
   * The relay's lifetime: while it lives, traffic totals are recorded every second for the
   * operator console's graph (`/stats.json?history`). Absent = no history.
   */
  signal?: AbortSignal;
}

/** Build the internal listener's handler. */
export function createInternalHandler(
  ctx: InternalContext,
): (req: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const log = ctx.logger.target === "http" ? ctx.logger : ctx.logger.child("http");
  const startedAtMs = Date.now();
  const consoleAssets = new ConsoleAssets();
  const history = new StatsHistory(ctx.stats);
  if (ctx.signal) history.start(ctx.signal);
  /** The counters `/metrics` and `/stats.json` both read. */
  const metricsInput = (): RelayMetricsInput => ({
    stats: ctx.stats,
    origin: ctx.origin.stats(),
    cacheCapacityBytes: ctx.origin.cacheCapacityBytes,
    authFailures: ctx.authFailures?.(),
    draining: ctx.draining(),
  });
  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (req.method === "GET" || req.method === "HEAD") {
      const page = consoleAssets.operatorConsole(req, path);
      if (page) return await page;
    }
    if (path !== "/health" && path !== "/metrics" && path !== "/nodes" && path !== "/stats.json") {
      return errorResponse(
        404,
        `not found: ${path.slice(0, 128)} (try /, /health, /metrics, /stats.json or /nodes)`,
      );
    }
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed(req.method);
    const head = req.method === "HEAD";
    if (path === "/health") {
      return healthResponse(ctx, head);
    }
    if (path === "/stats.json") {
      const snapshot = statsSnapshot({
        ...metricsInput(),
        tree: ctx.origin,
        startedAtMs,
        nowMs: Date.now(),
        nodes: ctx.nodes?.() ?? [],
        history: url.searchParams.has("history") ? history.samples() : undefined,
      });
      // Node errors may quote dialed URLs: no credential is ever served (unauthenticated listener).
      return new Response(head ? null : redactSecrets(JSON.stringify(snapshot)), {
        status: 200,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    }
    if (path === "/metrics") {
      const body = renderRelayMetrics(metricsInput());
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
  return async (req) => {
    try {
      return await handle(req);
    } catch (e) {
      log.warn("internal request failed", { error: e instanceof Error ? e.message : String(e) });
      return errorResponse(500, "internal error");
    }
  };
}
