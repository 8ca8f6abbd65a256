/**
 * A bounded soak of the relay (`deno task soak`, default 30 minutes; `--minutes 3` for a short run,
 * `--seconds N` for a test-sized one).
 *
 * It starts relay A (the one measured, with an internal listener) and relay B, a cluster peer that A
 * dials; B is restarted every `--flap-seconds` so A's cluster link goes down and comes back. At a
 * steady rate it churns sessions against A over WebSocket and raw QUIC: a publisher announces a
 * broadcast, a subscriber subscribes, one group of frames flows, both disconnect; every few cycles
 * a publisher on B is watched from A through the cluster link, and a raw WebSocket client opens a
 * stream and drops its TCP connection without a close.
 *
 * Every `--sample-seconds` (10 s) it records A's RSS, its open fds (`/proc/<pid>/fd`) and the
 * round-trip times of `/health` on A's internal listener, probed every 100 ms from a separate worker
 * thread (so the soak's own client load does not inflate them): a stalled relay event loop shows up
 * as slow answers. Samples and the summary go to `bench/soak.json` (`--out`). At the end it prints
 * the RSS slope per hour (least squares over the samples after the warm-up) and exits 1 when a
 * bound is exceeded: relay A died, RSS slope, `/health` p99 or max, fds not back near the baseline
 * after the churn stops, or too many failed local cycles.
 *
 * Traffic goes to 127.0.0.1 only, and every loop ends with the run's deadline.
 *
 * @module
 */

import { encodeKey, parseKeyText } from "../auth/mod.ts";
import { generateKey, signToken } from "../auth/mod.ts";
import { LEGACY_CLIENT_SETUP, RawWebSocket, streamFrame } from "../testing/mod.ts";
import { relayPin, type RelayProcess, sleep, startRelay, within } from "../testing/mod.ts";
import { BenchPublisher, BenchSubscriber, connect, type Target, type TransportName } from "./client.ts";
import { percentile, readRssBytes } from "./stats.ts";

/** Raised for bad command-line arguments. */
export class SoakUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SoakUsageError";
  }
}

/** Settings of one soak run. */
export interface SoakOptions {
  /** Total churn time in seconds. */
  durationSeconds: number;
  /** Seconds at the start excluded from the RSS slope. */
  warmupSeconds: number;
  /** Seconds between samples. */
  sampleSeconds: number;
  /** Seconds between restarts of cluster peer B. */
  flapSeconds: number;
  /** Concurrent churn loops (each runs one cycle at a time). */
  loops: number;
  /** Pause between two cycles of one loop, in milliseconds. */
  cyclePauseMs: number;
  /** Where the JSON report goes. */
  out: string;
  /** Bounds. */
  maxRssSlopeMiBPerHour: number;
  maxHealthP99Ms: number;
  maxHealthMaxMs: number;
  maxFdGrowth: number;
  maxLocalFailureRatio: number;
}

/** One sample of relay A. */
export interface SoakSample {
  /** Seconds since the churn started. */
  t: number;
  rssBytes: number;
  fds: number;
  /** `/health` round trips in the sample window: count, p99 and max in ms, failed probes. */
  healthCount: number;
  healthP99Ms: number;
  healthMaxMs: number;
  healthFailures: number;
  cyclesOk: number;
  cyclesFailed: number;
  clusterOk: number;
  clusterFailed: number;
  peerRestarts: number;
}

/** What a run measured and whether it stayed within its bounds. */
export interface SoakSummary {
  durationSeconds: number;
  relayAlive: boolean;
  baselineFds: number;
  finalFds: number;
  rssStartBytes: number;
  rssEndBytes: number;
  rssSlopeMiBPerHour: number;
  rssSlopeBoundMiBPerHour: number;
  healthP99Ms: number;
  healthMaxMs: number;
  cyclesOk: number;
  cyclesFailed: number;
  clusterOk: number;
  clusterFailed: number;
  rawDrops: number;
  peerRestarts: number;
  violations: string[];
  pass: boolean;
}

const MIB = 1024 * 1024;
/** Longest wait for one step of a cycle. */
const STEP_TIMEOUT_MS = 10_000;
/** Time for sessions to be torn down after the churn stops, before the final fd count. */
const SETTLE_MS = 8_000;
/** Interval of the `/health` probe. */
const PROBE_INTERVAL_MS = 100;
/** RSS noise tolerated over any window: short runs get a slope bound of at least this much per window. */
const RSS_NOISE_MIB = 24;

/** Least-squares slope of `y` over `x`. */
export function leastSquaresSlope(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i] - mx) * (y[i] - my);
    den += (x[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Number of open file descriptors of `pid` (Linux). */
export function countFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Parse `--minutes`, `--seconds`, `--out`, … into options (defaults: 30 minutes, bench/soak.json). */
export function parseSoakArgs(args: string[]): SoakOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new SoakUsageError(`unexpected argument ${arg}: flags are --name value`);
    const eq = arg.indexOf("=");
    if (eq > 0) values.set(arg.slice(2, eq), arg.slice(eq + 1));
    else {
      const value = args[++i];
      if (value === undefined) throw new SoakUsageError(`${arg} needs a value`);
      values.set(arg.slice(2), value);
    }
  }
  const num = (name: string, fallback: number): number => {
    const text = values.get(name);
    values.delete(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) {
      throw new SoakUsageError(`--${name} ${text}: expected a number ≥ 0`);
    }
    return value;
  };
  const minutes = num("minutes", 30);
  const durationSeconds = num("seconds", minutes * 60);
  if (durationSeconds < 10) throw new SoakUsageError("a soak needs at least 10 seconds");
  const options: SoakOptions = {
    durationSeconds,
    warmupSeconds: num("warmup-seconds", Math.min(300, Math.round(durationSeconds / 3))),
    sampleSeconds: num("sample-seconds", durationSeconds < 120 ? 5 : 10),
    flapSeconds: num("flap-seconds", Math.min(60, Math.max(10, Math.round(durationSeconds / 6)))),
    loops: num("loops", 4),
    cyclePauseMs: num("pause-ms", 200),
    out: values.get("out") ?? new URL("./soak.json", import.meta.url).pathname,
    maxRssSlopeMiBPerHour: num("max-rss-slope", 64),
    maxHealthP99Ms: num("max-health-p99-ms", 500),
    maxHealthMaxMs: num("max-health-max-ms", 5_000),
    maxFdGrowth: num("max-fd-growth", 16),
    maxLocalFailureRatio: num("max-failure-ratio", 0.1),
  };
  values.delete("out");
  if (values.size > 0) throw new SoakUsageError(`unknown flag --${[...values.keys()][0]}`);
  return options;
}

/** The `/health` prober: a module worker that fetches the URL every interval and posts round trips. */
const PROBE_SOURCE = `
let url = "";
let stop = false;
self.onmessage = (e) => {
  if (e.data.url) { url = e.data.url; run(); }
  if (e.data.stop) stop = true;
};
async function run() {
  let batch = [];
  let failures = 0;
  let last = performance.now();
  while (!stop) {
    const start = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
      await res.arrayBuffer();
      if (res.ok) batch.push(performance.now() - start); else failures++;
    } catch {
      failures++;
    }
    if (performance.now() - last >= 1000) {
      self.postMessage({ rtts: batch, failures });
      batch = [];
      failures = 0;
      last = performance.now();
    }
    const wait = ${PROBE_INTERVAL_MS} - (performance.now() - start);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  self.postMessage({ rtts: batch, failures, done: true });
}
`;

/** The cluster: relay A (measured) and peer B on a fixed port so that A can redial it. */
class Cluster {
  a!: RelayProcess;
  b: RelayProcess | null = null;
  readonly portB: number;
  restarts = 0;
  #auth = "";
  #tokenFile = "";
  #dir = "";
  #pin = "";

  constructor() {
    this.portB = lowPort();
  }

  async start(): Promise<void> {
    this.#dir = await Deno.makeTempDir({ prefix: "moq-soak-" });
    const key = await generateKey("HS256", "soak");
    const keyPath = `${this.#dir}/cluster.jwk`;
    await Deno.writeTextFile(keyPath, encodeKey(key));
    this.#tokenFile = `${this.#dir}/cluster.jwt`;
    const parsed = parseKeyText(await Deno.readTextFile(keyPath), keyPath);
    await Deno.writeTextFile(this.#tokenFile, await signToken(parsed, { root: "", put: [""], get: [""] }));
    this.#auth = `key = "${keyPath}"\npublic = ""`;
    await this.startB();
    this.a = await startRelay({
      auth: this.#auth,
      internal: true,
      log: "warn",
      server: `quic.idle_timeout = "3s"\nquic.keep_alive = "1s"`,
      toml: [
        `[cluster]`,
        `connect = ["http://127.0.0.1:${this.portB}/"]`,
        `token = "${this.#tokenFile}"`,
      ].join("\n"),
    });
    this.#pin = await relayPin(this.a);
  }

  async startB(): Promise<void> {
    this.b = await startRelay({
      port: this.portB,
      auth: this.#auth,
      log: "warn",
      server: `quic.idle_timeout = "3s"\nquic.keep_alive = "1s"`,
      toml: [`[cluster]`, `token = "${this.#tokenFile}"`].join("\n"),
    });
  }

  /** Kill B (alternately SIGKILL and SIGTERM) and start it again on the same port. */
  async flap(): Promise<void> {
    const b = this.b;
    this.b = null;
    if (b) await b.stop(this.restarts % 2 === 0 ? "SIGKILL" : "SIGTERM");
    await sleep(1_000);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.startB();
        break;
      } catch {
        await sleep(1_000); // the port may linger for a moment
      }
    }
    this.restarts++;
  }

  target(relay: RelayProcess, transport: TransportName): Target {
    return { transport, port: relay.port, pin: relay === this.a ? this.#pin : undefined, mode: "relay" };
  }

  async stop(): Promise<void> {
    await Promise.all([this.a?.stop("SIGTERM"), this.b?.stop("SIGKILL")]);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** A TCP+UDP port below the ephemeral range (outbound sockets cannot take it while B restarts). */
function lowPort(): number {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" }).close();
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new SoakUsageError("no free port below 32000 for the cluster peer");
}

/** One publish → subscribe → one group → disconnect cycle between `pubTarget` and `subTarget`. */
async function cycle(pubTarget: Target, subTarget: Target, path: string): Promise<void> {
  const sessions: Array<{ close(): void }> = [];
  try {
    const publisher = new BenchPublisher(
      await within(STEP_TIMEOUT_MS, "publisher connect", connect(pubTarget)),
      "relay",
      path,
    );
    sessions.push(publisher);
    await within(STEP_TIMEOUT_MS, "announce", publisher.announced);
    const subscriber = new BenchSubscriber(
      await within(STEP_TIMEOUT_MS, "subscriber connect", connect(subTarget)),
      { mode: "relay", path, track: "video" },
    );
    sessions.push(subscriber);
    // Through the cluster the announcement needs a moment to reach A: retry the subscribe.
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      try {
        await within(STEP_TIMEOUT_MS, "subscribe", subscriber.subscribe());
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(250);
      }
    }
    await within(STEP_TIMEOUT_MS, "upstream subscription", publisher.subscribed());
    const frame = subscriber.nextFrame();
    const group = await publisher.openGroup(0);
    if (group) {
      for (let i = 0; i < 3; i++) await publisher.writeFrame(group, 1_000);
      await group.close();
    }
    await within(STEP_TIMEOUT_MS, "first frame", frame);
  } finally {
    for (const s of sessions) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

/** A raw WebSocket client that opens a session stream and drops TCP without a close frame. */
async function rawDrop(port: number): Promise<void> {
  const ws = await RawWebSocket.connect(port, "/", ["webtransport"]);
  if (!(ws instanceof RawWebSocket)) throw new Error(`upgrade refused with ${ws.status}`);
  await ws.send(streamFrame(0, LEGACY_CLIENT_SETUP));
  await sleep(50);
  ws.drop();
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

/** Run a soak; returns the summary (also written with the samples to `options.out`). */
export async function runSoak(
  options: SoakOptions,
  log: (line: string) => void = console.log,
): Promise<SoakSummary> {
  const cluster = new Cluster();
  await cluster.start();
  const pid = cluster.a.child.pid;
  const samples: SoakSample[] = [];
  const counters = { cyclesOk: 0, cyclesFailed: 0, clusterOk: 0, clusterFailed: 0, rawDrops: 0 };
  const failureReasons = new Map<string, number>();
  const allRtts: number[] = [];
  let windowRtts: number[] = [];
  let windowFailures = 0;
  let alive = true;
  cluster.a.child.status.then(() => alive = false);

  const probe = new Worker(`data:application/javascript,${encodeURIComponent(PROBE_SOURCE)}`, {
    type: "module",
  });
  const probeDone = Promise.withResolvers<void>();
  probe.onmessage = (e: MessageEvent<{ rtts: number[]; failures: number; done?: boolean }>) => {
    windowRtts.push(...e.data.rtts);
    allRtts.push(...e.data.rtts);
    windowFailures += e.data.failures;
    if (e.data.done) probeDone.resolve();
  };

  try {
    // Baseline once A has dialed B and settled.
    await sleep(3_000);
    const baselineFds = countFds(pid);
    const rssStart = readRssBytes(pid);
    log(
      `soak: relay A pid ${pid} on :${cluster.a.port}, peer B on :${cluster.portB}; ` +
        `${options.durationSeconds} s, baseline ${baselineFds} fds, RSS ${mib(rssStart)} MiB`,
    );
    probe.postMessage({ url: `${cluster.a.internalUrl}/health` });

    const startMs = Date.now();
    const endMs = startMs + options.durationSeconds * 1000;
    let seq = 0;
    const fail = (what: string, error: unknown) => {
      const reason = `${what}: ${
        error instanceof Error ? error.message.split("\n")[0].slice(0, 120) : error
      }`;
      failureReasons.set(reason, (failureReasons.get(reason) ?? 0) + 1);
    };

    const loop = async (index: number) => {
      while (Date.now() < endMs && alive) {
        const n = seq++;
        const transport: TransportName = n % 2 === 0 ? "websocket" : "quic";
        try {
          await cycle(
            cluster.target(cluster.a, transport),
            cluster.target(cluster.a, transport),
            `soak/${index}/${n}`,
          );
          counters.cyclesOk++;
        } catch (error) {
          counters.cyclesFailed++;
          fail("local", error);
        }
        if (n % 5 === 0 && cluster.b) {
          // Publisher on B, subscriber on A: the broadcast crosses the (flapping) cluster link.
          try {
            await cycle(
              cluster.target(cluster.b, "websocket"),
              cluster.target(cluster.a, "websocket"),
              `soak/b/${n}`,
            );
            counters.clusterOk++;
          } catch (error) {
            counters.clusterFailed++;
            fail("cluster", error);
          }
        }
        if (n % 3 === 0) {
          try {
            await rawDrop(cluster.a.port);
            counters.rawDrops++;
          } catch (error) {
            fail("raw", error);
          }
        }
        await sleep(options.cyclePauseMs);
      }
    };

    const flapper = (async () => {
      while (Date.now() + options.flapSeconds * 1000 < endMs && alive) {
        await sleep(options.flapSeconds * 1000);
        if (Date.now() >= endMs) break;
        await cluster.flap();
        log(`soak: peer B restarted (${cluster.restarts})`);
      }
    })();

    const sampler = (async () => {
      let next = startMs + options.sampleSeconds * 1000;
      while (next <= endMs + 1 && alive) {
        await sleep(Math.max(0, next - Date.now()));
        next += options.sampleSeconds * 1000;
        if (!alive) break;
        const rtts = windowRtts;
        windowRtts = [];
        const sample: SoakSample = {
          t: Math.round((Date.now() - startMs) / 100) / 10,
          rssBytes: readRssBytes(pid),
          fds: countFds(pid),
          healthCount: rtts.length,
          healthP99Ms: rtts.length ? Math.round(percentile(rtts, 99) * 10) / 10 : 0,
          healthMaxMs: rtts.length ? Math.round(Math.max(...rtts) * 10) / 10 : 0,
          healthFailures: windowFailures,
          ...counters,
          peerRestarts: cluster.restarts,
        };
        windowFailures = 0;
        samples.push(sample);
        log(
          `soak: t=${sample.t}s rss=${mib(sample.rssBytes)}MiB fds=${sample.fds} ` +
            `health p99=${sample.healthP99Ms}ms max=${sample.healthMaxMs}ms ` +
            `cycles ok=${counters.cyclesOk} failed=${counters.cyclesFailed} ` +
            `cluster ok=${counters.clusterOk} failed=${counters.clusterFailed}`,
        );
      }
    })();

    await Promise.all([...Array.from({ length: options.loops }, (_, i) => loop(i)), flapper, sampler]);
    probe.postMessage({ stop: true });
    await Promise.race([probeDone.promise, sleep(12_000)]);

    // Let the relay tear every session down, then compare fds with the baseline.
    await sleep(SETTLE_MS);
    const finalFds = alive ? countFds(pid) : -1;
    const rssEnd = alive ? readRssBytes(pid) : 0;

    const measured = samples.filter((s) => s.t >= options.warmupSeconds);
    const slopeBytesPerSecond = leastSquaresSlope(measured.map((s) => s.t), measured.map((s) => s.rssBytes));
    const rssSlopeMiBPerHour = (slopeBytesPerSecond * 3600) / MIB;
    const windowHours = measured.length > 1 ? (measured.at(-1)!.t - measured[0].t) / 3600 : 0;
    const slopeBound = Math.max(
      options.maxRssSlopeMiBPerHour,
      windowHours > 0 ? RSS_NOISE_MIB / windowHours : Infinity,
    );
    const healthP99Ms = allRtts.length ? percentile(allRtts, 99) : 0;
    const healthMaxMs = allRtts.length ? Math.max(...allRtts) : 0;

    const violations: string[] = [];
    if (!alive) violations.push("relay A exited during the soak");
    if (measured.length < 2) violations.push(`only ${measured.length} samples after the warm-up: run longer`);
    if (rssSlopeMiBPerHour > slopeBound) {
      violations.push(`RSS grows ${rssSlopeMiBPerHour.toFixed(1)} MiB/h (bound ${slopeBound.toFixed(1)})`);
    }
    if (healthP99Ms > options.maxHealthP99Ms) {
      violations.push(`/health p99 ${healthP99Ms.toFixed(1)} ms (bound ${options.maxHealthP99Ms})`);
    }
    if (healthMaxMs > options.maxHealthMaxMs) {
      violations.push(`/health max ${healthMaxMs.toFixed(1)} ms (bound ${options.maxHealthMaxMs})`);
    }
    if (alive && finalFds > baselineFds + options.maxFdGrowth) {
      violations.push(
        `${finalFds} fds after the churn, baseline ${baselineFds} (bound +${options.maxFdGrowth})`,
      );
    }
    const localCycles = counters.cyclesOk + counters.cyclesFailed;
    if (localCycles === 0) violations.push("no local cycle ran");
    else if (counters.cyclesFailed / localCycles > options.maxLocalFailureRatio) {
      violations.push(`${counters.cyclesFailed} of ${localCycles} local cycles failed`);
    }

    const summary: SoakSummary = {
      durationSeconds: options.durationSeconds,
      relayAlive: alive,
      baselineFds,
      finalFds,
      rssStartBytes: rssStart,
      rssEndBytes: rssEnd,
      rssSlopeMiBPerHour: Math.round(rssSlopeMiBPerHour * 10) / 10,
      rssSlopeBoundMiBPerHour: Math.round(slopeBound * 10) / 10,
      healthP99Ms: Math.round(healthP99Ms * 10) / 10,
      healthMaxMs: Math.round(healthMaxMs * 10) / 10,
      ...counters,
      peerRestarts: cluster.restarts,
      violations,
      pass: violations.length === 0,
    };
    const report = {
      date: new Date().toISOString(),
      options,
      summary,
      failureReasons: Object.fromEntries([...failureReasons].sort((a, b) => b[1] - a[1]).slice(0, 20)),
      samples,
    };
    await Deno.writeTextFile(options.out, JSON.stringify(report, null, 2) + "\n");
    log(
      `soak: RSS ${mib(rssStart)} → ${mib(rssEnd)} MiB, slope ${summary.rssSlopeMiBPerHour} MiB/h ` +
        `(bound ${summary.rssSlopeBoundMiBPerHour}); /health p99 ${summary.healthP99Ms} ms, ` +
        `max ${summary.healthMaxMs} ms; fds ${baselineFds} → ${finalFds}; cycles ok ${counters.cyclesOk}, ` +
        `failed ${counters.cyclesFailed}; cluster ok ${counters.clusterOk}, failed ${counters.clusterFailed}; ` +
        `raw drops ${counters.rawDrops}; peer restarts ${cluster.restarts}`,
    );
    log(summary.pass ? "soak: PASS" : `soak: FAIL\n  ${violations.join("\n  ")}`);
    return summary;
  } finally {
    probe.postMessage({ stop: true });
    probe.terminate();
    await cluster.stop();
  }
}

if (import.meta.main) {
  let options: SoakOptions;
  try {
    options = parseSoakArgs(Deno.args);
  } catch (error) {
    if (!(error instanceof SoakUsageError)) throw error;
    console.error(`soak: ${error.message}`);
    console.error("usage: deno task soak [--minutes 30 | --seconds N] [--out bench/soak.json] [--loops 4]");
    Deno.exit(2);
  }
  const summary = await runSoak(options);
  Deno.exit(summary.pass ? 0 : 1);
}
