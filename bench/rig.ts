/**
 * The benchmark rig: starting and stopping the server under test and the client worker processes,
 * and measuring one phase (throughput, latency, CPU and RSS of the server) between two marks.
 *
 * @module
 */

import type { ServerMode, Target, TransportName } from "./client.ts";
import type { BenchOptions, ServerKind } from "./options.ts";
import type { PublishLoad } from "./worker.ts";
import {
  type ServerProcess,
  startBenchRelay,
  startRawQuic,
  startRawTcp,
  startRawWs,
  WorkerProcess,
} from "./procs.ts";
import { freePort } from "../testing/mod.ts";
import { formatMiB, median, percentile, readCpuMs, readRssBytes } from "./stats.ts";
import { sleep } from "../util/mod.ts";
import { FRAMES_PER_GROUP } from "./media.ts";

export { sleep };

/** Broadcast path every benchmark publishes (inside the relay's anonymous `anon/` prefix). */
export const BROADCAST = "anon/bench";
/** Track name. */
export const TRACK = "video";
/** Groups the closed-loop publisher may run ahead of the slowest subscriber (media-like load). */
export const CLOSED_LOOP_WINDOW_GROUPS = 2;
/**
 * With small fixed-size frames the closed loop keeps about this many bytes per subscriber in
 * flight (at least {@link CLOSED_LOOP_WINDOW_GROUPS} groups, at most
 * {@link CLOSED_LOOP_MAX_WINDOW_GROUPS}): two 6 KiB groups would measure round trips, not the server.
 */
export const CLOSED_LOOP_WINDOW_BYTES = 512 * 1024;
/** Most groups the closed loop runs ahead (below the relay's 16 group streams per subscription). */
export const CLOSED_LOOP_MAX_WINDOW_GROUPS = 12;

/** Closed-loop window (groups) for frames of `frameBytes` (0: the media-like load). */
export function closedLoopWindow(frameBytes: number): number {
  if (frameBytes <= 0) return CLOSED_LOOP_WINDOW_GROUPS;
  const groups = Math.ceil(CLOSED_LOOP_WINDOW_BYTES / (frameBytes * FRAMES_PER_GROUP));
  return Math.min(CLOSED_LOOP_MAX_WINDOW_GROUPS, Math.max(CLOSED_LOOP_WINDOW_GROUPS, groups));
}
/** Warm-up before each measurement window. */
export const WARMUP_MS = 2_000;
/** Subscriber worker processes for fan-out runs. */
export const SUBSCRIBER_WORKERS = 2;

/** A timestamped progress line on stderr (stdout carries the report). */
export function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** How clients reach `server` over `transport`. */
export function targetOf(server: ServerProcess, transport: TransportName, mode: ServerMode): Target {
  return {
    transport,
    port: transport === "quic" ? server.quicPort : transport === "tcp" ? server.tcpPort : server.wsPort,
    pin: server.pin,
    mode,
  };
}

/** Start the server under test: the relay, a raw fan-out baseline, or a bare QUIC acceptor. */
export async function startServer(
  kind: ServerKind | "bare",
  transport: TransportName,
  options: BenchOptions,
  cpuProfDir?: string,
): Promise<ServerProcess> {
  if (kind === "relay" || kind === "base") {
    return await startBenchRelay({
      checkout: kind === "base" ? options.baseDir ?? undefined : undefined,
      cpuProfDir,
      toml: options.relayToml,
      diag: options.relayDiag ? { forceGc: options.relayGc } : undefined,
      v8Flags: options.relayV8Flags || undefined,
      tcpPort: transport === "tcp" ? freePort() : undefined,
    });
  }
  if (kind === "bare") return await startRawQuic(true);
  if (transport === "tcp") return await startRawTcp(cpuProfDir);
  return transport === "quic" ? await startRawQuic(false, cpuProfDir) : await startRawWs(cpuProfDir);
}

/** A publisher and subscriber workers connected to one server. */
export class Rig {
  readonly server: ServerProcess;
  readonly publisher: WorkerProcess;
  readonly subscribers: WorkerProcess[];
  readonly #mins = new Map<WorkerProcess, number>();
  #window = CLOSED_LOOP_WINDOW_GROUPS;

  constructor(server: ServerProcess, publisher: WorkerProcess, subscribers: WorkerProcess[]) {
    this.server = server;
    this.publisher = publisher;
    this.subscribers = subscribers;
    for (const w of subscribers) {
      this.#mins.set(w, -1);
      w.onEvent = (e) => {
        if (e.event !== "seq") return;
        this.#mins.set(w, e.min as number);
        const min = Math.min(...this.#mins.values());
        this.publisher.tell({ cmd: "credit", upTo: min + this.#window });
      };
    }
  }

  /** Start server + publisher + subscribers (`slow` extra slow sessions in their own worker). */
  static async start(
    kind: ServerKind,
    transport: TransportName,
    subscribers: number,
    bench: BenchOptions,
    options: { cpuProfDir?: string; slow?: number; slowBytesPerSecond?: number; workers?: number } = {},
  ): Promise<Rig> {
    const server = await startServer(kind, transport, bench, options.cpuProfDir);
    const mode: ServerMode = kind === "raw" ? "raw" : "relay";
    const target: Target = { ...targetOf(server, transport, mode), lite: bench.lite };
    const publisher = new WorkerProcess("publisher", { role: "publisher", target, path: BROADCAST });
    const workers: WorkerProcess[] = [];
    try {
      await publisher.waitEvent("ready", 30_000);
      const n = options.workers ?? SUBSCRIBER_WORKERS;
      for (let i = 0; i < n; i++) {
        const count = Math.floor(subscribers / n) + (i < subscribers % n ? 1 : 0);
        workers.push(
          new WorkerProcess(`subscribers-${i}`, {
            role: "subscribers",
            // Each worker from its own loopback address (per-address connection caps).
            target: transport === "quic" ? { ...target, localHostname: `127.0.0.${i + 2}` } : target,
            path: BROADCAST,
            track: TRACK,
            count,
            progress: true,
          }),
        );
      }
      if (options.slow) {
        workers.push(
          new WorkerProcess("slow-subscribers", {
            role: "subscribers",
            target,
            path: BROADCAST,
            track: TRACK,
            count: options.slow,
            slowCount: options.slow,
            slowBytesPerSecond: options.slowBytesPerSecond,
          }),
        );
      }
      for (const w of workers) {
        const ready = await w.waitEvent("ready", 60_000);
        if ((ready.failures as number) > 0) log(`${w.name}: ${ready.failures} sessions failed to subscribe`);
      }
      if (kind !== "raw") await publisher.ask({ cmd: "waitSubscribed" }, 30_000);
    } catch (error) {
      await Promise.all([publisher.stop(), ...workers.map((w) => w.stop())]);
      await server.stop();
      throw error;
    }
    const fastWorkers = options.slow ? workers.slice(0, -1) : workers;
    const rig = new Rig(server, publisher, fastWorkers);
    if (options.slow) rig.#slowWorker = workers[workers.length - 1];
    return rig;
  }

  #slowWorker: WorkerProcess | null = null;

  /** The fast subscriber workers plus the slow one, if any. */
  get allSubscriberWorkers(): WorkerProcess[] {
    return this.#slowWorker ? [...this.subscribers, this.#slowWorker] : this.subscribers;
  }

  /** One measured phase: publish (paced at `rate`, or closed loop with 0), warm up, measure. */
  async phase(
    rate: number,
    measureMs: number,
    rssSamples?: number[],
    load: PublishLoad = {},
  ): Promise<PhaseResult> {
    const workers = this.allSubscriberWorkers;
    this.#window = closedLoopWindow(load.frameBytes ?? 0);
    if (rate === 0) {
      const min = Math.min(...this.#mins.values());
      this.publisher.tell({ cmd: "credit", upTo: min + this.#window });
    }
    const run = this.publisher.ask({
      cmd: "run",
      rate,
      durationMs: WARMUP_MS + measureMs + 500,
      frameBytes: load.frameBytes ?? 0,
      openLoop: load.openLoop === true,
    });
    await sleep(WARMUP_MS);
    const first = await Promise.all(workers.map((w) => w.ask({ cmd: "mark", record: true })));
    const cpu0 = readCpuMs(this.server.pid);
    const clientPids = [this.publisher.child.pid, ...workers.map((w) => w.child.pid)];
    const clientCpu0 = clientPids.map((pid) => readCpuMs(pid));
    const wall0 = performance.now();
    let sampler: ReturnType<typeof setInterval> | undefined;
    if (rssSamples) {
      rssSamples.push(readRssBytes(this.server.pid));
      sampler = setInterval(() => rssSamples.push(readRssBytes(this.server.pid)), 500);
    }
    await sleep(measureMs);
    const second = await Promise.all(workers.map((w) => w.ask({ cmd: "mark", record: false })));
    clearInterval(sampler);
    if (rssSamples) rssSamples.push(readRssBytes(this.server.pid));
    const cpuMs = readCpuMs(this.server.pid) - cpu0;
    const wallMs = performance.now() - wall0;
    const clientCpuPercent = clientPids.map((pid, i) => ((readCpuMs(pid) - clientCpu0[i]) / wallMs) * 100);
    const rss = readRssBytes(this.server.pid);
    const published = await run;
    const perSubscriber: number[] = [];
    const slowPerSubscriber: number[] = [];
    const latencies: number[] = [];
    let errors = 0;
    let frames = 0, groupsEnded = 0, groupsWhole = 0, groupsClean = 0;
    const delta = (a: unknown, b: unknown): number => {
      const xs = (a as number[] | undefined) ?? [], ys = (b as number[] | undefined) ?? [];
      let sum = 0;
      for (let i = 0; i < ys.length; i++) sum += ys[i] - (xs[i] ?? 0);
      return sum;
    };
    for (let w = 0; w < workers.length; w++) {
      const a = first[w], b = second[w];
      const seconds = ((b.t as number) - (a.t as number)) / 1000;
      const bytesA = a.bytes as number[], bytesB = b.bytes as number[];
      const slow = (b.slow as boolean[] | undefined) ?? [];
      for (let i = 0; i < bytesB.length; i++) {
        const rateOf = ((bytesB[i] ?? 0) - (bytesA[i] ?? 0)) / seconds;
        (slow[i] ? slowPerSubscriber : perSubscriber).push(rateOf);
      }
      // A worker of slow subscribers only: its latencies measure its own throttling, not the relay.
      const slowOnly = slow.length > 0 && slow.every((isSlow) => isSlow);
      if (!slowOnly) { for (const l of b.latencies as number[]) latencies.push(l); }
      errors += b.errors as number;
      frames += delta(a.frames, b.frames);
      groupsEnded += delta(a.groupsEnded, b.groupsEnded);
      groupsWhole += delta(a.groupsWhole, b.groupsWhole);
      groupsClean += delta(a.groupsComplete, b.groupsComplete);
    }
    await sleep(500);
    return {
      deliveredBytesPerSecond: perSubscriber.reduce((s, v) => s + v, 0),
      deliveredFramesPerSecond: frames / (wallMs / 1000),
      groupsEnded,
      groupsWhole,
      groupsClean,
      perSubscriberMedian: median(perSubscriber),
      perSubscriberMin: Math.min(...perSubscriber),
      slowPerSubscriber,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      latencySamples: latencies.length,
      serverCpuPercent: (cpuMs / wallMs) * 100,
      clientCpuPercent,
      serverRssBytes: rss,
      publishedBytes: published.bytes as number,
      publishedGroups: published.groups as number,
      errors,
    };
  }

  /** Stop every worker, then the server. */
  async stop(): Promise<void> {
    await Promise.all([this.publisher.stop(), ...this.allSubscriberWorkers.map((w) => w.stop())]);
    await this.server.stop();
  }
}

/** What one measured phase produced. */
export interface PhaseResult {
  /** Sum over (fast) subscribers of received bytes/s. */
  deliveredBytesPerSecond: number;
  /** Sum over all subscribers of complete frames received per second. */
  deliveredFramesPerSecond: number;
  /** GROUP streams that ended during the window (all subscribers). */
  groupsEnded: number;
  /** Of those, the ones that carried every frame of their group. */
  groupsWhole: number;
  /** Of those, the ones that ended with a FIN at a frame boundary (Deno QUIC: resets look the same). */
  groupsClean: number;
  perSubscriberMedian: number;
  perSubscriberMin: number;
  /** Received bytes/s of each slow subscriber. */
  slowPerSubscriber: number[];
  /** Publish → receive latency of the (fast) subscribers. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencySamples: number;
  serverCpuPercent: number;
  /** CPU of the publisher and each subscriber worker (% of one core). */
  clientCpuPercent: number[];
  serverRssBytes: number;
  publishedBytes: number;
  publishedGroups: number;
  errors: number;
}

/** Log the relay's memory breakdown from the `diag` lines bench/relay_diag.ts writes (if any). */
export function logRelayMemory(server: ServerProcess, which: "last" | "first-middle-last"): void {
  const diag = (server.logs ?? []).filter((line) => line.startsWith("diag "));
  if (diag.length === 0) return;
  const lines = which === "last"
    ? [diag[diag.length - 1]]
    : [diag[0], diag[Math.floor(diag.length / 2)], diag[diag.length - 1]];
  for (const line of lines) {
    const m = JSON.parse(line.slice(5));
    log(
      `  relay memory: rss ${formatMiB(m.rss)}, JS heap ${formatMiB(m.heapUsed)}, external ${
        formatMiB(m.external)
      }`,
    );
  }
}
