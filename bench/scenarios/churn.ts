/**
 * Churn: sessions connecting, subscribing, receiving and leaving in a loop; does the relay's RSS stay flat?
 *
 * @module
 */

import type { BenchOptions } from "../options.ts";
import { WorkerProcess } from "../procs.ts";
import { BROADCAST, log, logRelayMemory, sleep, startServer, targetOf, TRACK } from "../rig.ts";
import { median, readRssBytes } from "../stats.ts";

/** RSS of the relay over a churn loop. */
export interface ChurnResult {
  durationMs: number;
  cycles: number;
  failures: number;
  rssSamples: Array<{ atMs: number; rssBytes: number }>;
  rssStartBytes: number;
  rssMiddleBytes: number;
  rssEndBytes: number;
  growthMiddleToEnd: number;
}

/** Figure 4: connect → subscribe → receive → disconnect loops; relay RSS start/middle/end. */
export async function churn(options: BenchOptions): Promise<ChurnResult> {
  log(`churn: ${options.churnMs / 1000} s of connect → subscribe → receive → disconnect`);
  const server = await startServer("relay", "quic", options);
  const target = targetOf(server, "quic", "relay");
  const publisher = new WorkerProcess("publisher", { role: "publisher", target, path: BROADCAST });
  const workers: WorkerProcess[] = [];
  try {
    await publisher.waitEvent("ready", 30_000);
    // Publish at a quarter of the nominal rate the whole time (groups keep coming for joiners).
    const publishing = publisher.ask(
      { cmd: "run", rate: 0.25, durationMs: options.churnMs + 5_000 },
      options.churnMs + 60_000,
    );
    for (let i = 0; i < 2; i++) {
      workers.push(
        new WorkerProcess(`churn-${i}`, {
          role: "churn",
          target,
          path: BROADCAST,
          track: TRACK,
          concurrency: 4,
        }),
      );
    }
    for (const w of workers) await w.waitEvent("ready", 30_000);
    await sleep(1_000);
    const samples: Array<{ atMs: number; rssBytes: number }> = [];
    const t0 = performance.now();
    samples.push({ atMs: 0, rssBytes: readRssBytes(server.pid) });
    const sampler = setInterval(() => {
      samples.push({ atMs: Math.round(performance.now() - t0), rssBytes: readRssBytes(server.pid) });
    }, 1_000);
    const results = await Promise.all(
      workers.map((w) => w.ask({ cmd: "run", durationMs: options.churnMs }, options.churnMs + 60_000)),
    );
    clearInterval(sampler);
    samples.push({ atMs: Math.round(performance.now() - t0), rssBytes: readRssBytes(server.pid) });
    await publishing.catch(() => {});
    const at = (fraction: number) => {
      const target = fraction * options.churnMs;
      // Median of the samples within ±3 s of the point (one sample is noisy with GC).
      const near = samples.filter((s) => Math.abs(s.atMs - target) <= 3_000).map((s) => s.rssBytes);
      return median(near.length > 0 ? near : [samples[samples.length - 1].rssBytes]);
    };
    const start = samples[0].rssBytes;
    const middle = at(0.5);
    const end = at(1);
    const result: ChurnResult = {
      durationMs: options.churnMs,
      cycles: results.reduce((n, r) => n + (r.cycles as number), 0),
      failures: results.reduce((n, r) => n + (r.failures as number), 0),
      rssSamples: samples,
      rssStartBytes: start,
      rssMiddleBytes: middle,
      rssEndBytes: end,
      growthMiddleToEnd: (end - middle) / middle,
    };
    logRelayMemory(server, "first-middle-last");
    log(
      `  ${result.cycles} cycles (${result.failures} failed); RSS ${(start / 1048576).toFixed(0)} → ${
        (middle / 1048576).toFixed(0)
      } → ${(end / 1048576).toFixed(0)} MiB (${(result.growthMiddleToEnd * 100).toFixed(1)}% middle→end)`,
    );
    return result;
  } finally {
    await Promise.all([publisher.stop(), ...workers.map((w) => w.stop())]);
    await server.stop();
  }
}
