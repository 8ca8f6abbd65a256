/**
 * Memory per session: idle relay sessions and subscribers on one track vs. bare QUIC connections.
 * The track's publisher is idle, or with `--memory-fps=N` publishes N frames/s of 1 KiB.
 *
 * @module
 */

import type { ServerMode, TransportName } from "../client.ts";
import type { BenchOptions } from "../options.ts";
import { WorkerProcess } from "../procs.ts";
import { BROADCAST, log, logRelayMemory, sleep, startServer, targetOf, TRACK } from "../rig.ts";
import { median, readRssBytes } from "../stats.ts";
import { FRAMES_PER_SECOND } from "../media.ts";

/** Memory per session for one kind of session. */
export interface MemoryRun {
  kind: "relay-idle" | "relay-subscribed" | "bare-quic" | "bare-ws";
  transport: TransportName;
  sessions: number;
  failures: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  perSessionBytes: number;
  /** RSS after every session closed and the relay settled (its reclaimer collects ~1 s after closes). */
  rssAfterCloseBytes: number;
}

/** How long after the sessions closed RSS is read. */
export const SETTLE_AFTER_CLOSE_MS = 5_000;

async function memoryRun(
  kind: MemoryRun["kind"],
  transport: TransportName,
  sessions: number,
  options: BenchOptions,
): Promise<MemoryRun> {
  // The bare WebSocket baseline is the raw fan-out server with nobody publishing: it only holds sockets.
  const serverKind = kind === "bare-quic" ? "bare" : kind === "bare-ws" ? "raw" : "relay";
  const server = await startServer(serverKind, transport, options);
  const mode: ServerMode = kind.startsWith("bare") ? "raw" : "relay";
  const target = targetOf(server, transport, mode);
  const workers: WorkerProcess[] = [];
  let publisher: WorkerProcess | null = null;
  try {
    if (kind === "relay-subscribed") {
      publisher = new WorkerProcess("publisher", { role: "publisher", target, path: BROADCAST });
      await publisher.waitEvent("ready", 30_000);
      if (options.memoryFps > 0) {
        // Live groups while the sessions subscribe and are sampled (a new group every 30 frames).
        publisher.tell({
          cmd: "run",
          rate: options.memoryFps / FRAMES_PER_SECOND,
          durationMs: 600_000,
          frameBytes: 1024,
        });
      }
    }
    await sleep(1_500);
    const before = readRssBytes(server.pid);
    if (options.relayDiag && serverKind === "relay") Deno.kill(server.pid, "SIGUSR2");
    const perWorker = Math.ceil(sessions / 2);
    for (let i = 0; i < 2; i++) {
      workers.push(
        new WorkerProcess(`idle-${i}`, {
          role: "idle",
          target,
          path: BROADCAST,
          track: TRACK,
          count: Math.min(perWorker, sessions - i * perWorker),
          subscribe: kind === "relay-subscribed",
        }),
      );
    }
    let failures = 0;
    for (const w of workers) failures += (await w.waitEvent("ready", 180_000)).failures as number;
    // Let timers (setup grace, announce streams) settle, then take the median of a few samples.
    await sleep(3_000);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(readRssBytes(server.pid));
      await sleep(300);
    }
    const after = median(samples);
    const connected = sessions - failures;
    logRelayMemory(server, "last");
    // bench/relay_diag.ts writes a heap snapshot on SIGUSR2 when BENCH_HEAP_DIR is set.
    if (options.relayDiag && serverKind === "relay") Deno.kill(server.pid, "SIGUSR2");
    await Promise.all(workers.map((w) => w.stop()));
    workers.length = 0;
    await sleep(SETTLE_AFTER_CLOSE_MS);
    const closedSamples: number[] = [];
    for (let i = 0; i < 3; i++) {
      closedSamples.push(readRssBytes(server.pid));
      await sleep(300);
    }
    logRelayMemory(server, "last");
    return {
      kind,
      transport,
      rssAfterCloseBytes: median(closedSamples),
      sessions: connected,
      failures,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      perSessionBytes: (after - before) / Math.max(1, connected),
    };
  } finally {
    await Promise.all([...workers.map((w) => w.stop()), publisher?.stop()]);
    await server.stop();
  }
}

/** Figure 3: RSS per idle session and per subscriber vs. per bare QUIC connection. */
export async function memory(options: BenchOptions): Promise<MemoryRun[]> {
  const runs: MemoryRun[] = [];
  const repeats = Math.max(1, Math.min(options.runs, 2));
  for (let r = 0; r < repeats; r++) {
    for (const transport of options.transports) {
      const bare = transport === "quic" ? "bare-quic" : "bare-ws";
      for (const kind of [bare, "relay-idle", "relay-subscribed"] as const) {
        log(`memory run ${r + 1}/${repeats}: ${options.sessions} sessions over ${transport}, ${kind}`);
        const result = await memoryRun(kind, transport, options.sessions, options);
        log(
          `  ${(result.perSessionBytes / 1024).toFixed(1)} KiB/session (${result.sessions} sessions, ${
            (result.rssBeforeBytes / 1048576).toFixed(0)
          } → ${(result.rssAfterBytes / 1048576).toFixed(0)} MiB, after close ${
            (result.rssAfterCloseBytes / 1048576).toFixed(0)
          } MiB)`,
        );
        runs.push(result);
      }
    }
  }
  return runs;
}
