/**
 * The benchmark report: machine description, summary table (relay ÷ baseline per figure, against
 * its target) and per-run details, as markdown.
 *
 * @module
 */

import type { BenchOptions } from "./options.ts";
import type { ChurnResult } from "./scenarios/churn.ts";
import type { FanoutRun } from "./scenarios/fanout.ts";
import type { MemoryRun } from "./scenarios/memory.ts";
import type { SlowRun } from "./scenarios/slow.ts";
import {
  cpuSecondsPerGB,
  cpuSecondsPerMillionFrames,
  type SizeRun,
  wholeFraction,
} from "./scenarios/sizes.ts";
import type { ChartPoint } from "./chart.ts";
import type { PhaseResult } from "./rig.ts";
import { formatMiB, median, mibPerSecond } from "./stats.ts";

const BENCH_DIR = new URL("./", import.meta.url).pathname;

/** How a transport is named in the report. */
function transportLabel(transport: string): string {
  return transport === "quic" ? "QUIC" : transport === "tcp" ? "TCP" : "WebSocket";
}

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

/** Describe this machine and the commit under test. */
export async function machineInfo(): Promise<MachineInfo> {
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
const mb = formatMiB;

/** The summary table: every figure as relay vs. baseline, ratio and target. */
export function summarize(
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
  for (const transport of ["quic", "websocket"] as const) {
    const label = transport === "quic" ? "QUIC" : "WebSocket";
    const bareKind = transport === "quic" ? "bare-quic" : "bare-ws";
    const of = (kind: MemoryRun["kind"]) => mem.filter((r) => r.kind === kind && r.transport === transport);
    const bare = median(of(bareKind).map((r) => r.perSessionBytes));
    const idle = of("relay-idle"), subscribed = of("relay-subscribed");
    if (idle.length > 0 && !Number.isNaN(bare)) {
      const per = median(idle.map((r) => r.perSessionBytes));
      rows.push({
        figure: `Memory per idle session over ${label} (${idle[0].sessions}) vs. a bare connection`,
        relay: kib(per),
        baseline: kib(bare),
        ratio: per / bare,
        target: "≤ 1.3",
        met: per / bare <= 1.3,
      });
    }
    if (subscribed.length > 0 && idle.length > 0) {
      const added = median(subscribed.map((r) => r.perSessionBytes)) -
        median(idle.map((r) => r.perSessionBytes));
      rows.push({
        figure: `Memory added by one subscription per session over ${label} (${
          subscribed[0].sessions
        } on one track)`,
        relay: kib(added),
        baseline: "-",
        ratio: null,
        target: "≤ 16 KiB",
        met: added <= 16 * 1024,
      });
    }
    const relayRuns = [...idle, ...subscribed];
    if (relayRuns.length > 0) {
      const back = median(relayRuns.map((r) => r.rssAfterCloseBytes / r.rssBeforeBytes));
      const worst = relayRuns.reduce((a, b) =>
        a.rssAfterCloseBytes / a.rssBeforeBytes >= b.rssAfterCloseBytes / b.rssBeforeBytes ? a : b
      );
      rows.push({
        figure: `Relay RSS after every ${label} session closed vs. idle before (median; worst shown)`,
        relay: `${mb(worst.rssAfterCloseBytes)} (peak ${mb(worst.rssAfterBytes)})`,
        baseline: mb(worst.rssBeforeBytes),
        ratio: back,
        target: "≤ 1.10",
        met: back <= 1.1,
      });
    }
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

/** The markdown report (RESULTS.md). */
export function markdown(
  machine: MachineInfo,
  options: BenchOptions,
  rows: SummaryRow[],
  details: string[],
  chart: string | null = null,
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
    ...(chart ? ["## Chart", "", `![relay ÷ raw per frame size and transport](${chart})`, ""] : []),
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

/** Per-run fan-out table. */
export function fanoutDetails(fan: FanoutRun[]): string[] {
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

/** Per-run memory table. */
export function memoryDetails(mem: MemoryRun[]): string[] {
  if (mem.length === 0) return [];
  return [
    "Memory runs (RSS of the server process before and after the sessions connected):",
    "",
    "| Transport | Kind | Sessions | Before MiB | After MiB | KiB/session | After close MiB |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...mem.map((m) =>
      `| ${m.transport} | ${m.kind} | ${m.sessions} | ${(m.rssBeforeBytes / 1048576).toFixed(0)} | ${
        (m.rssAfterBytes / 1048576).toFixed(0)
      } | ${(m.perSessionBytes / 1024).toFixed(1)} | ${(m.rssAfterCloseBytes / 1048576).toFixed(0)} |`
    ),
    "",
  ];
}

const sizeLabel = (bytes: number) => bytes >= 1024 ? `${Math.round(bytes / 1024)}KiB` : `${bytes}B`;

interface SizePair {
  transport: string;
  frameBytes: number;
  relay: SizeRun[];
  raw: SizeRun[];
  base: SizeRun[];
}

/** Median relay and raw runs of each (transport, frame size) present in `runs`. */
function sizePairs(
  runs: SizeRun[],
): SizePair[] {
  const out: SizePair[] = [];
  for (const r of runs) {
    if (out.some((o) => o.transport === r.transport && o.frameBytes === r.frameBytes)) continue;
    const same = runs.filter((o) => o.transport === r.transport && o.frameBytes === r.frameBytes);
    out.push({
      transport: r.transport,
      frameBytes: r.frameBytes,
      relay: same.filter((o) => o.kind === "relay"),
      raw: same.filter((o) => o.kind === "raw"),
      base: same.filter((o) => o.kind === "base"),
    });
  }
  return out;
}

/** Chart points: relay ÷ raw per transport and frame size (closed loop). */
export function sizeChartPoints(runs: SizeRun[]): ChartPoint[] {
  return sizePairs(runs).filter((p) => p.relay.length > 0 && p.raw.length > 0).map((p) => {
    const m = (xs: SizeRun[], f: (r: SizeRun) => number) => median(xs.map(f));
    return {
      label: `${p.transport === "quic" ? "QUIC" : p.transport === "tcp" ? "TCP" : "WS"} ${
        sizeLabel(p.frameBytes)
      }`,
      throughputRatio: m(p.relay, (r) => r.loaded.deliveredBytesPerSecond) /
        m(p.raw, (r) => r.loaded.deliveredBytesPerSecond),
      efficiencyRatio: m(p.raw, (r) => cpuSecondsPerGB(r.loaded)) /
        m(p.relay, (r) => cpuSecondsPerGB(r.loaded)),
    };
  });
}

/** Summary rows of the frame-size and wide figures. */
export function sizeRows(runs: SizeRun[], wideRuns: SizeRun[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const m = (xs: SizeRun[], f: (r: SizeRun) => number) => median(xs.map(f));
  for (const p of sizePairs(runs)) {
    if (p.relay.length === 0 || p.raw.length === 0) continue;
    const label = `${transportLabel(p.transport)}, ${p.frameBytes} B frames, 1 → ${p.relay[0].subscribers}`;
    const tRelay = m(p.relay, (r) => r.loaded.deliveredBytesPerSecond);
    const tRaw = m(p.raw, (r) => r.loaded.deliveredBytesPerSecond);
    rows.push({
      figure: `Fan-out saturated, ${label}, delivered`,
      relay: mib(tRelay),
      baseline: mib(tRaw),
      ratio: tRelay / tRaw,
      target: "≥ 0.9",
      met: tRelay / tRaw >= 0.9,
    });
    const cRelay = m(p.relay, (r) => cpuSecondsPerGB(r.loaded));
    const cRaw = m(p.raw, (r) => cpuSecondsPerGB(r.loaded));
    rows.push({
      figure: `Fan-out saturated, ${label}, server CPU per delivered GB`,
      relay: `${cRelay.toFixed(1)} CPU-s/GB`,
      baseline: `${cRaw.toFixed(1)} CPU-s/GB`,
      ratio: cRelay / cRaw,
      target: "≤ 1.15",
      met: cRelay / cRaw <= 1.15,
    });
    if (p.base.length > 0) {
      const cBase = m(p.base, (r) => cpuSecondsPerGB(r.loaded));
      rows.push({
        figure: `A/B, ${label}: server CPU per delivered GB, this relay vs. --base-dir relay`,
        relay: `${cRelay.toFixed(1)} CPU-s/GB`,
        baseline: `${cBase.toFixed(1)} CPU-s/GB`,
        ratio: cRelay / cBase,
        target: "(report)",
        met: null,
      });
    }
    const over = p.relay.filter((r) => r.overload !== null);
    if (over.length > 0) {
      const cOver = m(over, (r) => cpuSecondsPerGB(r.overload!));
      // Over all runs' groups (a run in which no group ended has no fraction of its own).
      const whole = pooledWholeFraction(over.map((r) => r.overload!));
      rows.push({
        figure: `Overload (open loop), ${label}: relay CPU per GB vs. its closed-loop figure; whole groups`,
        relay: `${cOver.toFixed(1)} CPU-s/GB, ${formatWhole(whole)}`,
        baseline: `${cRelay.toFixed(1)} CPU-s/GB`,
        ratio: cOver / cRelay,
        target: "≤ 1.15",
        // Subscribers must get whole groups too: a window in which none ended does not show that.
        met: cOver / cRelay <= 1.15 && !Number.isNaN(whole),
      });
    }
  }
  for (const p of sizePairs(wideRuns)) {
    if (p.relay.length === 0 || p.raw.length === 0) continue;
    const label = `${transportLabel(p.transport)}, ${p.frameBytes} B frames, 1 → ${
      p.relay[0].subscribers
    } at a fixed rate`;
    const gRelay = m(p.relay, (r) => cpuSecondsPerGB(r.loaded)),
      gRaw = m(p.raw, (r) => cpuSecondsPerGB(r.loaded));
    rows.push({
      figure: `Wide fan-out, ${label}: server CPU per delivered GB`,
      relay: `${gRelay.toFixed(1)} CPU-s/GB`,
      baseline: `${gRaw.toFixed(1)} CPU-s/GB`,
      ratio: gRelay / gRaw,
      target: "≤ 1.15",
      met: gRelay / gRaw <= 1.15,
    });
    const fRelay = m(p.relay, (r) => cpuSecondsPerMillionFrames(r.loaded));
    const fRaw = m(p.raw, (r) => cpuSecondsPerMillionFrames(r.loaded));
    rows.push({
      figure: `Wide fan-out, ${label}: server CPU per million delivered frames`,
      relay: `${fRelay.toFixed(2)} CPU-s`,
      baseline: `${fRaw.toFixed(2)} CPU-s`,
      ratio: fRelay / fRaw,
      target: "(report)",
      met: null,
    });
  }
  return rows;
}

/**
 * Whole groups ÷ ended groups summed over `phases` (NaN when no group ended in any window: a window
 * shorter than one group's delivery, e.g. large groups trickling out under overload).
 */
export function pooledWholeFraction(phases: readonly PhaseResult[]): number {
  let ended = 0, whole = 0;
  for (const p of phases) {
    ended += p.groupsEnded;
    whole += p.groupsWhole;
  }
  return ended > 0 ? whole / ended : NaN;
}

/** `"97 % whole"`, or what a window without any ended group means (never `"NaN %"`). */
export function formatWhole(fraction: number): string {
  return Number.isNaN(fraction) ? "no group ended in the window" : `${(fraction * 100).toFixed(0)} % whole`;
}

/** Per-run frame-size table. */
export function sizeDetails(runs: SizeRun[], title: string): string[] {
  if (runs.length === 0) return [];
  const out = [
    title,
    "",
    "| Transport | Server | Frame B | Subs | MiB/s | k frames/s | CPU % | CPU-s/GB | CPU-s/M frames | whole groups | overload MiB/s | overload CPU-s/GB | overload whole |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const pct = (x: number) => Number.isNaN(x) ? "none ended" : `${(x * 100).toFixed(1)} %`;
  for (const r of runs) {
    const l = r.loaded, o = r.overload;
    out.push(
      `| ${r.transport} | ${r.kind} | ${r.frameBytes} | ${r.subscribers} | ${
        mibPerSecond(l.deliveredBytesPerSecond)
      } | ${(l.deliveredFramesPerSecond / 1000).toFixed(1)} | ${l.serverCpuPercent.toFixed(0)} | ${
        cpuSecondsPerGB(l).toFixed(1)
      } | ${cpuSecondsPerMillionFrames(l).toFixed(2)} | ${pct(wholeFraction(l))} | ${
        o ? mibPerSecond(o.deliveredBytesPerSecond) : "-"
      } | ${o ? cpuSecondsPerGB(o).toFixed(1) : "-"} | ${o ? pct(wholeFraction(o)) : "-"} |`,
    );
  }
  out.push("");
  return out;
}
