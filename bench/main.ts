/**
 * `deno task bench`: the relay's benchmarks, each figure a ratio against a baseline measured in
 * the same run. Writes `bench/results.json` and `bench/RESULTS.md` (machine description + table).
 *
 * Figures (see bench/README.md for the method):
 * 1. fan-out throughput, 1 publisher → N subscribers, over QUIC and WebSocket, relay vs. a raw
 *    fan-out server: at the nominal media rate (~1 MiB/s per subscriber) and saturated (closed
 *    loop: the publisher runs at most a few groups ahead of the slowest subscriber);
 * 2. publish → receive latency p50/p99 at the nominal rate, relay vs. raw;
 * 3. memory per session: idle sessions and subscribers on one track vs. bare QUIC connections;
 * 4. churn: connect → subscribe → receive → disconnect loops, relay RSS at start/middle/end;
 * 5. slow subscriber: fast subscribers' throughput and relay RSS with one reader at 1/10 rate.
 *
 * Flags: `--runs=N` (repeats, medians reported; default 3), `--seconds=S` (measure window,
 * default 5), `--subscribers=N` (default 50), `--sessions=N` (memory, default 1000),
 * `--churn-seconds=S` (default 60), `--only=fanout,memory,churn,slow`, `--cpu-prof[=DIR]`
 * (profile the relay under the saturated QUIC fan-out), `--no-write` (print only).
 *
 * @module
 */

import { type ServerMode, type Target, type TransportName } from "./client.ts";
import { nominalBytesPerSecond } from "./media.ts";
import { type ServerProcess, startBenchRelay, startRawQuic, startRawWs, WorkerProcess } from "./procs.ts";
import { median, mibPerSecond, percentile, readCpuMs, readRssBytes } from "./stats.ts";
import { sleep } from "../util/sleep.ts";

/** Broadcast path every benchmark publishes (inside the relay's anonymous `anon/` prefix). */
export const BROADCAST = "anon/bench";
/** Track name. */
export const TRACK = "video";
/** Groups the closed-loop publisher may run ahead of the slowest subscriber. */
export const CLOSED_LOOP_WINDOW_GROUPS = 2;
/** Warm-up before each measurement window. */
export const WARMUP_MS = 2_000;
/** Subscriber worker processes for fan-out runs. */
export const SUBSCRIBER_WORKERS = 2;

const BENCH_DIR = new URL("./", import.meta.url).pathname;

/** Parsed command line. */
export interface BenchOptions {
  runs: number;
  measureMs: number;
  subscribers: number;
  sessions: number;
  churnMs: number;
  only: Set<string> | null;
  cpuProfDir: string | null;
  write: boolean;
  slowRate: number;
  transports: TransportName[];
  kinds: Array<"relay" | "raw">;
  /** Extra relay TOML (experiments: e.g. `[server.quic]\nmax_streams = 1000`). */
  relayToml: string;
  /** Run the relay through bench/relay_diag.ts (heap lines in its log). */
  relayDiag: boolean;
  /** With `relayDiag`: force a full GC every second (diagnosis of native memory held by garbage). */
  relayGc: boolean;
}

/** Parse `deno task bench` flags. */
export function parseOptions(args: string[]): BenchOptions {
  const get = (name: string): string | undefined => {
    const hit = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (hit === undefined) return undefined;
    const eq = hit.indexOf("=");
    return eq < 0 ? "" : hit.slice(eq + 1);
  };
  const num = (name: string, fallback: number): number => {
    const v = get(name);
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}=${v}: expected a positive number`);
    return n;
  };
  const only = get("only");
  const prof = get("cpu-prof");
  return {
    runs: Math.round(num("runs", 3)),
    measureMs: num("seconds", 5) * 1000,
    subscribers: Math.round(num("subscribers", 50)),
    sessions: Math.round(num("sessions", 1000)),
    churnMs: num("churn-seconds", 60) * 1000,
    only: only ? new Set(only.split(",").map((s) => s.trim())) : null,
    cpuProfDir: prof === undefined
      ? null
      : prof || Deno.makeTempDirSync({ prefix: "moq-relay-bench-profiles-" }),
    write: get("no-write") === undefined,
    slowRate: num("slow-rate", 1),
    relayDiag: get("relay-diag") !== undefined || get("relay-gc") !== undefined,
    relayGc: get("relay-gc") !== undefined,
    relayToml: (get("relay-toml") ?? "").replaceAll("\\n", "\n"),
    kinds: (get("kinds") || "relay,raw").split(",").map((k) => {
      if (k !== "relay" && k !== "raw") throw new Error(`--kinds: unknown server kind "${k}"`);
      return k;
    }),
    transports: (get("transports") || "quic,websocket").split(",").map((t) => {
      if (t !== "quic" && t !== "websocket") throw new Error(`--transports: unknown transport "${t}"`);
      return t;
    }),
  };
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function targetOf(server: ServerProcess, transport: TransportName, mode: ServerMode): Target {
  return {
    transport,
    port: transport === "quic" ? server.quicPort : server.wsPort,
    pin: server.pin,
    mode,
  };
}

async function startServer(
  kind: "relay" | "raw" | "bare",
  transport: TransportName,
  options: BenchOptions,
  cpuProfDir?: string,
): Promise<ServerProcess> {
  if (kind === "relay") {
    return await startBenchRelay({
      cpuProfDir,
      toml: options.relayToml,
      diag: options.relayDiag ? { forceGc: options.relayGc } : undefined,
    });
  }
  if (kind === "bare") return await startRawQuic(true);
  return transport === "quic" ? await startRawQuic(false, cpuProfDir) : await startRawWs(cpuProfDir);
}

/** A publisher and subscriber workers connected to one server. */
class Rig {
  readonly server: ServerProcess;
  readonly publisher: WorkerProcess;
  readonly subscribers: WorkerProcess[];
  readonly #mins = new Map<WorkerProcess, number>();

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
        this.publisher.tell({ cmd: "credit", upTo: min + CLOSED_LOOP_WINDOW_GROUPS });
      };
    }
  }

  /** Start server + publisher + subscribers (`slow` extra slow sessions in their own worker). */
  static async start(
    kind: "relay" | "raw",
    transport: TransportName,
    subscribers: number,
    bench: BenchOptions,
    options: { cpuProfDir?: string; slow?: number; slowBytesPerSecond?: number; workers?: number } = {},
  ): Promise<Rig> {
    const server = await startServer(kind, transport, bench, options.cpuProfDir);
    const mode: ServerMode = kind === "relay" ? "relay" : "raw";
    const target = targetOf(server, transport, mode);
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
            target,
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
      if (kind === "relay") await publisher.ask({ cmd: "waitSubscribed" }, 30_000);
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

  get allSubscriberWorkers(): WorkerProcess[] {
    return this.#slowWorker ? [...this.subscribers, this.#slowWorker] : this.subscribers;
  }

  /** One measured phase: publish (paced at `rate`, or closed loop with 0), warm up, measure. */
  async phase(rate: number, measureMs: number, rssSamples?: number[]): Promise<PhaseResult> {
    const workers = this.allSubscriberWorkers;
    if (rate === 0) {
      const min = Math.min(...this.#mins.values());
      this.publisher.tell({ cmd: "credit", upTo: min + CLOSED_LOOP_WINDOW_GROUPS });
    }
    const run = this.publisher.ask({ cmd: "run", rate, durationMs: WARMUP_MS + measureMs + 500 });
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
    for (let w = 0; w < workers.length; w++) {
      const a = first[w], b = second[w];
      const seconds = ((b.t as number) - (a.t as number)) / 1000;
      const bytesA = a.bytes as number[], bytesB = b.bytes as number[];
      const slow = (b.slow as boolean[] | undefined) ?? [];
      for (let i = 0; i < bytesB.length; i++) {
        const rateOf = ((bytesB[i] ?? 0) - (bytesA[i] ?? 0)) / seconds;
        (slow[i] ? slowPerSubscriber : perSubscriber).push(rateOf);
      }
      for (const l of b.latencies as number[]) latencies.push(l);
      errors += b.errors as number;
    }
    await sleep(500);
    return {
      deliveredBytesPerSecond: perSubscriber.reduce((s, v) => s + v, 0),
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

  async stop(): Promise<void> {
    await Promise.all([this.publisher.stop(), ...this.allSubscriberWorkers.map((w) => w.stop())]);
    await this.server.stop();
  }
}

/** What one measured phase produced. */
export interface PhaseResult {
  /** Sum over (fast) subscribers of received bytes/s. */
  deliveredBytesPerSecond: number;
  perSubscriberMedian: number;
  perSubscriberMin: number;
  /** Received bytes/s of each slow subscriber. */
  slowPerSubscriber: number[];
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

// ---------------------------------------------------------------------------------------------
// Figures

interface FanoutRun {
  transport: TransportName;
  kind: "relay" | "raw";
  nominal: PhaseResult;
  saturated: PhaseResult;
}

async function fanout(options: BenchOptions): Promise<FanoutRun[]> {
  const runs: FanoutRun[] = [];
  for (let r = 0; r < options.runs; r++) {
    for (const transport of options.transports) {
      // Alternate the order so drift on a shared machine does not favour one side.
      const kinds = r % 2 === 0 ? options.kinds : [...options.kinds].reverse();
      for (const kind of kinds) {
        const profile = options.cpuProfDir && transport === options.transports[0] && r === 0
          ? `${options.cpuProfDir}/${kind}-${transport}`
          : undefined;
        log(
          `fan-out run ${r + 1}/${options.runs}: ${kind} over ${transport}${profile ? " (profiling)" : ""}`,
        );
        const rig = await Rig.start(kind, transport, options.subscribers, options, { cpuProfDir: profile });
        try {
          const nominal = await rig.phase(1, options.measureMs);
          const saturated = await rig.phase(0, options.measureMs);
          log(
            `  nominal ${mibPerSecond(nominal.deliveredBytesPerSecond)} MiB/s, p50 ${
              nominal.latencyP50Ms.toFixed(1)
            } ms, p99 ${nominal.latencyP99Ms.toFixed(1)} ms, cpu ${nominal.serverCpuPercent.toFixed(0)}%; ` +
              `saturated ${mibPerSecond(saturated.deliveredBytesPerSecond)} MiB/s, cpu ${
                saturated.serverCpuPercent.toFixed(0)
              }% = ${
                mibPerSecond(saturated.deliveredBytesPerSecond / (saturated.serverCpuPercent / 100))
              } MiB/cpu-s (clients ${saturated.clientCpuPercent.map((c) => c.toFixed(0)).join("/")}%)`,
          );
          runs.push({ transport, kind, nominal, saturated });
        } finally {
          await rig.stop();
        }
      }
    }
  }
  return runs;
}

interface MemoryRun {
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
    const diag = (server.logs ?? []).filter((l) => l.startsWith("diag "));
    if (diag.length > 0) {
      const m = JSON.parse(diag[diag.length - 1].slice(5));
      log(`  relay memory: rss ${mb(m.rss)}, JS heap ${mb(m.heapUsed)}, external ${mb(m.external)}`);
    }
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

async function memory(options: BenchOptions): Promise<MemoryRun[]> {
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

interface ChurnResult {
  durationMs: number;
  cycles: number;
  failures: number;
  rssSamples: Array<{ atMs: number; rssBytes: number }>;
  rssStartBytes: number;
  rssMiddleBytes: number;
  rssEndBytes: number;
  growthMiddleToEnd: number;
}

async function churn(options: BenchOptions): Promise<ChurnResult> {
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
    const diag = (server.logs ?? []).filter((l) => l.startsWith("diag "));
    if (diag.length > 0) {
      for (const line of [diag[0], diag[Math.floor(diag.length / 2)], diag[diag.length - 1]]) {
        const m = JSON.parse(line.slice(5));
        log(`  relay memory: rss ${mb(m.rss)}, JS heap ${mb(m.heapUsed)}, external ${mb(m.external)}`);
      }
    }
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

interface SlowRun {
  withSlow: boolean;
  phase: PhaseResult;
  rssSamples: number[];
}

async function slow(options: BenchOptions): Promise<SlowRun[]> {
  const runs: SlowRun[] = [];
  const fast = Math.max(1, options.subscribers - 1);
  const slowRate = (nominalBytesPerSecond() * options.slowRate) / 10;
  for (let r = 0; r < options.runs; r++) {
    const order = r % 2 === 0 ? [false, true] : [true, false];
    for (const withSlow of order) {
      log(`slow subscriber run ${r + 1}/${options.runs}: ${fast} fast${withSlow ? " + 1 slow" : ""}`);
      const rig = await Rig.start(
        "relay",
        "quic",
        fast,
        options,
        withSlow ? { slow: 1, slowBytesPerSecond: slowRate } : {},
      );
      try {
        const rssSamples: number[] = [];
        const phase = await rig.phase(options.slowRate, options.measureMs * 2, rssSamples);
        log(
          `  fast ${mibPerSecond(phase.perSubscriberMedian)} MiB/s each (min ${
            mibPerSecond(phase.perSubscriberMin)
          }), p99 ${phase.latencyP99Ms.toFixed(1)} ms; slow ${
            phase.slowPerSubscriber.map((v) => mibPerSecond(v)).join(",") || "-"
          } MiB/s; RSS ${(rssSamples[0] / 1048576).toFixed(0)} → ${
            (rssSamples[rssSamples.length - 1] / 1048576).toFixed(0)
          } MiB`,
        );
        runs.push({ withSlow, phase, rssSamples });
      } finally {
        await rig.stop();
      }
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Report

/** Description of the machine the numbers come from. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  deno: string;
  v8: string;
  os: string;
  commit: string;
  date: string;
}

async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  let commit = "unknown";
  try {
    const out = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: BENCH_DIR })
      .output();
    const status = await new Deno.Command("git", { args: ["status", "--porcelain"], cwd: BENCH_DIR })
      .output();
    commit = new TextDecoder().decode(out.stdout).trim() +
      (new TextDecoder().decode(status.stdout).trim() ? " (with uncommitted changes)" : "");
  } catch {
    // no git
  }
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memoryBytes: Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? 0) * 1024,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    commit,
    date: new Date().toISOString(),
  };
}

/** One row of the summary table. */
export interface SummaryRow {
  figure: string;
  relay: string;
  baseline: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

const mib = (b: number) => `${mibPerSecond(b)} MiB/s`;
const ms = (v: number) => `${v.toFixed(1)} ms`;
const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;

function summarize(
  subscribers: number,
  fan: FanoutRun[],
  mem: MemoryRun[],
  ch: ChurnResult | null,
  sl: SlowRun[],
): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const transport of ["quic", "websocket"] as const) {
    const relay = fan.filter((r) => r.transport === transport && r.kind === "relay");
    const raw = fan.filter((r) => r.transport === transport && r.kind === "raw");
    if (relay.length === 0 || raw.length === 0) continue;
    const label = transport === "quic" ? "QUIC" : "WebSocket";
    const m = (runs: FanoutRun[], f: (r: FanoutRun) => number) => median(runs.map(f));
    const satRelay = m(relay, (r) => r.saturated.deliveredBytesPerSecond);
    const satRaw = m(raw, (r) => r.saturated.deliveredBytesPerSecond);
    rows.push({
      figure: `Fan-out saturated, ${label}: 1 → ${subscribers} subscribers, closed loop, delivered`,
      relay: mib(satRelay),
      baseline: mib(satRaw),
      ratio: satRelay / satRaw,
      target: "≥ 0.8",
      met: satRelay / satRaw >= 0.8,
    });
    const efficiency = (r: FanoutRun) =>
      r.saturated.deliveredBytesPerSecond / (r.saturated.serverCpuPercent / 100);
    const effRelay = m(relay, efficiency), effRaw = m(raw, efficiency);
    rows.push({
      figure: `Fan-out saturated, ${label}: delivered per CPU-second of the server`,
      relay: `${mibPerSecond(effRelay)} MiB`,
      baseline: `${mibPerSecond(effRaw)} MiB`,
      ratio: effRelay / effRaw,
      target: "(report)",
      met: null,
    });
    const nomRelay = m(relay, (r) => r.nominal.deliveredBytesPerSecond);
    const nomRaw = m(raw, (r) => r.nominal.deliveredBytesPerSecond);
    rows.push({
      figure: `Fan-out at the nominal rate (~1 MiB/s per subscriber), ${label}, delivered`,
      relay: mib(nomRelay),
      baseline: mib(nomRaw),
      ratio: nomRelay / nomRaw,
      target: "≥ 0.8",
      met: nomRelay / nomRaw >= 0.8,
    });
    const p50Relay = m(relay, (r) => r.nominal.latencyP50Ms), p50Raw = m(raw, (r) => r.nominal.latencyP50Ms);
    const p99Relay = m(relay, (r) => r.nominal.latencyP99Ms), p99Raw = m(raw, (r) => r.nominal.latencyP99Ms);
    rows.push({
      figure: `Latency p50, ${label} (nominal rate)`,
      relay: ms(p50Relay),
      baseline: ms(p50Raw),
      ratio: p50Relay / p50Raw,
      target: "(report)",
      met: null,
    });
    rows.push({
      figure: `Latency p99, ${label} (nominal rate)`,
      relay: ms(p99Relay),
      baseline: ms(p99Raw),
      ratio: p99Relay / p99Raw,
      target: "(report)",
      met: null,
    });
  }
  const bare = median(mem.filter((r) => r.kind === "bare-quic").map((r) => r.perSessionBytes));
  for (const kind of ["relay-idle", "relay-subscribed"] as const) {
    const runs = mem.filter((r) => r.kind === kind);
    if (runs.length === 0 || Number.isNaN(bare)) continue;
    const per = median(runs.map((r) => r.perSessionBytes));
    rows.push({
      figure: kind === "relay-idle"
        ? `Memory per idle session (${runs[0].sessions} sessions) vs. bare QUIC connection`
        : `Memory per subscriber, ${runs[0].sessions} on one track, vs. bare QUIC connection`,
      relay: kib(per),
      baseline: kib(bare),
      ratio: per / bare,
      target: kind === "relay-idle" ? "≤ 2" : "(report)",
      met: kind === "relay-idle" ? per / bare <= 2 : null,
    });
  }
  if (ch) {
    rows.push({
      figure: `Churn ${(ch.durationMs / 1000).toFixed(0)} s (${ch.cycles} cycles): RSS start → middle → end`,
      relay: `${mb(ch.rssStartBytes)} → ${mb(ch.rssMiddleBytes)} → ${mb(ch.rssEndBytes)}`,
      baseline: "-",
      ratio: 1 + ch.growthMiddleToEnd,
      target: "< 1.10 (middle→end)",
      met: ch.growthMiddleToEnd < 0.1,
    });
  }
  const without = sl.filter((r) => !r.withSlow), withSlow = sl.filter((r) => r.withSlow);
  if (without.length > 0 && withSlow.length > 0) {
    const a = median(withSlow.map((r) => r.phase.perSubscriberMedian));
    const b = median(without.map((r) => r.phase.perSubscriberMedian));
    rows.push({
      figure: "Slow subscriber: fast subscribers' throughput, with vs. without one 1/10-rate reader",
      relay: `${mib(a)} each`,
      baseline: `${mib(b)} each`,
      ratio: a / b,
      target: "≥ 0.9",
      met: a / b >= 0.9,
    });
    const first = median(withSlow.map((r) => r.rssSamples[0]));
    const mid = median(withSlow.map((r) => r.rssSamples[Math.floor(r.rssSamples.length / 2)]));
    const last = median(withSlow.map((r) => r.rssSamples[r.rssSamples.length - 1]));
    const ref = median(without.map((r) => r.rssSamples[r.rssSamples.length - 1]));
    rows.push({
      figure: "Slow subscriber: relay RSS start → middle → end (with) vs. end (without)",
      relay: `${mb(first)} → ${mb(mid)} → ${mb(last)}`,
      baseline: mb(ref),
      ratio: last / ref,
      target: "flat",
      met: null,
    });
  }
  return rows;
}

function markdown(
  machine: MachineInfo,
  options: BenchOptions,
  rows: SummaryRow[],
  details: string[],
): string {
  const lines = [
    "# Benchmark results",
    "",
    "Generated by `deno task bench` (bench/main.ts); method in bench/README.md. Each figure is a median",
    `over ${options.runs} runs; every ratio is relay ÷ a baseline measured in the same run.`,
    "",
    "## Machine",
    "",
    `- CPU: ${machine.cpuModel}, ${machine.cpus} cores (nproc)`,
    `- Memory: ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB`,
    `- OS: ${machine.os}`,
    `- Deno ${machine.deno} (V8 ${machine.v8})`,
    `- Commit: ${machine.commit}; run at ${machine.date}`,
    `- Load: ${options.subscribers} subscribers, ${options.measureMs / 1000} s windows, ` +
    `${options.sessions} sessions for memory, churn ${options.churnMs / 1000} s. The machine is shared; ` +
    "clients, relay and baselines all run on it.",
    "",
    "## Summary",
    "",
    "| Figure | Relay | Baseline | Ratio | Target | Met |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.figure} | ${r.relay} | ${r.baseline} | ${
        r.ratio === null ? "-" : r.ratio.toFixed(2)
      } | ${r.target} | ${r.met === null ? "-" : r.met ? "yes" : "no"} |`
    ),
    "",
    "## Details",
    "",
    ...details,
    "",
  ];
  return lines.join("\n");
}

function fanoutDetails(fan: FanoutRun[]): string[] {
  if (fan.length === 0) return [];
  const out = [
    "Fan-out runs (delivered = sum over subscribers; CPU = server process, % of one core):",
    "",
    "| Transport | Server | Nominal MiB/s | p50 ms | p99 ms | CPU % | Saturated MiB/s | CPU % | RSS MiB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of fan) {
    out.push(
      `| ${r.transport} | ${r.kind} | ${mibPerSecond(r.nominal.deliveredBytesPerSecond)} | ${
        r.nominal.latencyP50Ms.toFixed(1)
      } | ${r.nominal.latencyP99Ms.toFixed(1)} | ${r.nominal.serverCpuPercent.toFixed(0)} | ${
        mibPerSecond(r.saturated.deliveredBytesPerSecond)
      } | ${r.saturated.serverCpuPercent.toFixed(0)} | ${
        (r.saturated.serverRssBytes / 1048576).toFixed(0)
      } |`,
    );
  }
  out.push("");
  return out;
}

async function main(): Promise<void> {
  const options = parseOptions(Deno.args);
  const want = (name: string) => options.only === null || options.only.has(name);
  const machine = await machineInfo();
  log(`machine: ${machine.cpus} × ${machine.cpuModel}, Deno ${machine.deno}`);
  if (options.cpuProfDir) {
    for (const kind of options.kinds) {
      await Deno.mkdir(`${options.cpuProfDir}/${kind}-${options.transports[0]}`, { recursive: true });
    }
    log(`CPU profiles go to ${options.cpuProfDir}/<kind>-<transport>/ (bench/profile_summary.ts reads them)`);
  }
  const started = performance.now();
  const fan = want("fanout") ? await fanout(options) : [];
  const mem = want("memory") ? await memory(options) : [];
  const ch = want("churn") ? await churn(options) : null;
  const sl = want("slow") ? await slow(options) : [];
  const rows = summarize(options.subscribers, fan, mem, ch, sl);
  const elapsedS = (performance.now() - started) / 1000;
  log(`done in ${elapsedS.toFixed(0)} s`);
  const details = [
    ...fanoutDetails(fan),
    ...(mem.length > 0
      ? [
        "Memory runs (RSS of the server process before and after the sessions connected):",
        "",
        "| Kind | Sessions | Before MiB | After MiB | KiB/session |",
        "| --- | --- | --- | --- | --- |",
        ...mem.map((m) =>
          `| ${m.kind} | ${m.sessions} | ${(m.rssBeforeBytes / 1048576).toFixed(0)} | ${
            (m.rssAfterBytes / 1048576).toFixed(0)
          } | ${(m.perSessionBytes / 1024).toFixed(1)} |`
        ),
        "",
      ]
      : []),
    `Total benchmark time: ${elapsedS.toFixed(0)} s.`,
  ];
  const report = markdown(machine, options, rows, details);
  console.log(report);
  if (options.write) {
    const results = {
      machine,
      options: { ...options, only: options.only ? [...options.only] : null },
      rows,
      fanout: fan,
      memory: mem,
      churn: ch,
      slow: sl,
    };
    await Deno.writeTextFile(`${BENCH_DIR}results.json`, JSON.stringify(results, null, 2) + "\n");
    await Deno.writeTextFile(`${BENCH_DIR}RESULTS.md`, report);
    // Keep the generated table in the repository's format (`deno fmt --check` runs in CI).
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", `${BENCH_DIR}RESULTS.md`] }).output();
    log(`wrote bench/results.json and bench/RESULTS.md`);
  }
}

if (import.meta.main) await main();
