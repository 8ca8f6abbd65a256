/**
 * Diagnostic relay entry for the benchmarks: runs `main.ts` unchanged, and every
 * `BENCH_DIAG_INTERVAL_MS` (default 1000) prints `diag {rss, heapUsed, external}` to stderr;
 * with `BENCH_FORCE_GC=1` it first forces a full V8 garbage collection (through `node:v8`), which
 * tells memory held by unreachable JS objects (and the native state they own, like Deno QUIC
 * connections) apart from memory that is really retained.
 *
 * With `BENCH_HEAP_DIR=<dir>` set, SIGUSR2 writes a V8 heap snapshot there (`relay-<n>.heapsnapshot`,
 * open it in Chrome DevTools → Memory); the memory figure sends one once its sessions are connected.
 *
 * Used by `deno task bench --relay-diag` / `--relay-gc`; never in production.
 *
 * @module
 */

import v8 from "node:v8";
import { main } from "../main.ts";
import { exposeGarbageCollector } from "../transport/mod.ts";

const intervalMs = Number(Deno.env.get("BENCH_DIAG_INTERVAL_MS") ?? 1000);
const collect = Deno.env.get("BENCH_FORCE_GC") === "1" ? exposeGarbageCollector() : null;
const timer = setInterval(() => {
  collect?.();
  const m = Deno.memoryUsage();
  console.error(`diag ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external })}`);
}, intervalMs);
Deno.unrefTimer(timer);

const heapDir = Deno.env.get("BENCH_HEAP_DIR");
let snapshots = 0;
Deno.addSignalListener("SIGUSR2", () => {
  if (!heapDir) return;
  const path = `${heapDir}/relay-${Deno.pid}-${++snapshots}.heapsnapshot`;
  v8.writeHeapSnapshot(path);
  console.error(`diag-heap ${path}`);
});

Deno.exit(await main(Deno.args));
