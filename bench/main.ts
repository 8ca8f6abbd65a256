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
 * Layout: options.ts (flags), rig.ts (server and worker processes, one measured phase),
 * scenarios/*.ts (one file per figure), report.ts (summary table and markdown).
 *
 * @module
 */

import {
  fanoutDetails,
  machineInfo,
  markdown,
  memoryDetails,
  sizeChartPoints,
  sizeDetails,
  sizeRows,
  summarize,
} from "./report.ts";
import { ratioChart } from "./chart.ts";
import { sizes, wide } from "./scenarios/sizes.ts";
import { log } from "./rig.ts";
import { churn } from "./scenarios/churn.ts";
import { fanout } from "./scenarios/fanout.ts";
import { memory } from "./scenarios/memory.ts";
import { slow } from "./scenarios/slow.ts";
import { parseOptions } from "./options.ts";

const BENCH_DIR = new URL("./", import.meta.url).pathname;
/** Everything after this line of bench/RESULTS.md is hand-written and survives a new run. */
export const NOTES_MARKER = "<!-- notes: kept across runs -->";

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
  const siz = want("sizes") ? await sizes(options) : [];
  const wid = want("wide") ? await wide(options) : [];
  const fan = want("fanout") ? await fanout(options) : [];
  const mem = want("memory") ? await memory(options) : [];
  const ch = want("churn") ? await churn(options) : null;
  const sl = want("slow") ? await slow(options) : [];
  const rows = [...sizeRows(siz, wid), ...summarize(options.subscribers, fan, mem, ch, sl)];
  const elapsedS = (performance.now() - started) / 1000;
  log(`done in ${elapsedS.toFixed(0)} s`);
  const details = [
    ...sizeDetails(siz, "Frame-size runs (closed loop; overload = open loop, relay only):"),
    ...sizeDetails(wid, "Wide runs (fixed rate):"),
    ...fanoutDetails(fan),
    ...memoryDetails(mem),
    `Total benchmark time: ${elapsedS.toFixed(0)} s.`,
  ];
  const chartPoints = sizeChartPoints(siz);
  const report = markdown(machine, options, rows, details, chartPoints.length > 0 ? "ratios.svg" : null);
  console.log(report);
  if (options.write) {
    const results = {
      machine,
      options: { ...options, only: options.only ? [...options.only] : null },
      rows,
      sizes: siz,
      wide: wid,
      fanout: fan,
      memory: mem,
      churn: ch,
      slow: sl,
    };
    await Deno.writeTextFile(`${BENCH_DIR}results.json`, JSON.stringify(results, null, 2) + "\n");
    // Hand-written notes below NOTES_MARKER in the previous RESULTS.md are kept.
    const previous = await Deno.readTextFile(`${BENCH_DIR}RESULTS.md`).catch(() => "");
    const at = previous.indexOf(NOTES_MARKER);
    await Deno.writeTextFile(`${BENCH_DIR}RESULTS.md`, at >= 0 ? `${report}\n${previous.slice(at)}` : report);
    if (chartPoints.length > 0) {
      const title =
        `relay ÷ raw baseline, 1 → ${options.subscribers}, closed loop (commit ${machine.commit})`;
      await Deno.writeTextFile(`${BENCH_DIR}ratios.svg`, ratioChart(chartPoints, title));
    }
    // Keep the generated table in the repository's format (`deno fmt --check` runs in CI).
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", `${BENCH_DIR}RESULTS.md`] }).output();
    log(`wrote bench/results.json and bench/RESULTS.md`);
  }
}

if (import.meta.main) await main();
