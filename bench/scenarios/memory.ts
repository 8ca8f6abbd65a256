/**
 * Memory per session: idle relay sessions and subscribers on one track vs. bare QUIC connections.
 *
 * @module
 */

import type { ServerMode } from "../client.ts";
import type { BenchOptions } from "../options.ts";
import { WorkerProcess } from "../procs.ts";
import { BROADCAST, log, logRelayMemory, sleep, startServer, targetOf, TRACK } from "../rig.ts";
import { median, readRssBytes } from "../stats.ts";

/** Memory per session for one kind of session. */
export interface MemoryRun {
  kind: "relay-idle" | "relay-subscribed" | "bare-quic";
  sessions: number;
  failures: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  perSessionBytes: number;
}

async function memoryRun(
  kind: MemoryRun["kind"],
  sessions: number,
  options: BenchOptions,
): Promise<MemoryRun> {
  const server = await startServer(kind === "bare-quic" ? "bare" : "relay", "quic", options);
  const mode: ServerMode = kind === "bare-quic" ? "raw" : "relay";
  const target = targetOf(server, "quic", mode);
  const workers: WorkerProcess[] = [];
  let publisher: WorkerProcess | null = null;
  try {
    if (kind === "relay-subscribed") {
      publisher = new WorkerProcess("publisher", { role: "publisher", target, path: BROADCAST });
      await publisher.waitEvent("ready", 30_000);
    }
    await sleep(1_500);
    const before = readRssBytes(server.pid);
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
    return {
      kind,
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
    for (const kind of ["bare-quic", "relay-idle", "relay-subscribed"] as const) {
      log(`memory run ${r + 1}/${repeats}: ${options.sessions} sessions, ${kind}`);
      const result = await memoryRun(kind, options.sessions, options);
      log(
        `  ${(result.perSessionBytes / 1024).toFixed(1)} KiB/session (${result.sessions} sessions, ${
          (result.rssBeforeBytes / 1048576).toFixed(0)
        } → ${(result.rssAfterBytes / 1048576).toFixed(0)} MiB)`,
      );
      runs.push(result);
    }
  }
  return runs;
}
