/**
 * Fan-out per frame size: fixed-size frames (groups of 30) from one publisher to N subscribers,
 * relay vs. the raw baseline over QUIC and WebSocket, closed loop (saturated, nothing dropped);
 * then, for the relay, the same load in open loop (the publisher outruns the relay: overload).
 * Reports delivered bytes and frames per second, server CPU per delivered GB and per million
 * frames, and the fraction of groups delivered whole.
 *
 * Also the wide case: many subscribers (default 1 000) at a fixed, unsaturated frame rate.
 *
 * @module
 */

import type { TransportName } from "../client.ts";
import type { BenchOptions, ServerKind } from "../options.ts";
import { log, type PhaseResult, Rig } from "../rig.ts";
import { mibPerSecond } from "../stats.ts";

/** One run of one server kind, one transport, one frame size. */
export interface SizeRun {
  transport: TransportName;
  kind: ServerKind;
  frameBytes: number;
  subscribers: number;
  /** Closed loop (saturated), or a fixed rate for the wide case. */
  loaded: PhaseResult;
  /** Open loop (overload), relay only. */
  overload: PhaseResult | null;
}

/** Server CPU-seconds per delivered GB (10^9 bytes). */
export function cpuSecondsPerGB(p: PhaseResult): number {
  return (p.serverCpuPercent / 100) / (p.deliveredBytesPerSecond / 1e9);
}

/** Server CPU-seconds per million delivered frames. */
export function cpuSecondsPerMillionFrames(p: PhaseResult): number {
  return (p.serverCpuPercent / 100) / (p.deliveredFramesPerSecond / 1e6);
}

/** Fraction of the groups that ended in the window with every frame (NaN when none ended). */
export function wholeFraction(p: PhaseResult): number {
  return p.groupsEnded > 0 ? p.groupsWhole / p.groupsEnded : NaN;
}

function describe(p: PhaseResult): string {
  return `${mibPerSecond(p.deliveredBytesPerSecond)} MiB/s, ${
    (p.deliveredFramesPerSecond / 1000).toFixed(1)
  }k frames/s, ` +
    `cpu ${p.serverCpuPercent.toFixed(0)}% = ${cpuSecondsPerGB(p).toFixed(1)} CPU-s/GB, ` +
    `whole groups ${
      p.groupsEnded > 0 ? `${(wholeFraction(p) * 100).toFixed(1)}%` : "-"
    } of ${p.groupsEnded} (${p.groupsClean} clean; published ${
      (p.publishedBytes / 1048576).toFixed(0)
    } MiB, clients ${p.clientCpuPercent.map((c) => c.toFixed(0)).join("/")}% CPU)`;
}

async function sizeRun(
  kind: ServerKind,
  transport: TransportName,
  frameBytes: number,
  subscribers: number,
  rate: number,
  options: BenchOptions,
  cpuProfDir: string | undefined,
): Promise<SizeRun> {
  const rig = await Rig.start(kind, transport, subscribers, options, { cpuProfDir });
  try {
    if (kind !== "raw" && rate === 0 && options.overloadOnly) {
      // Profiling aid: open loop only (the closed-loop columns repeat it).
      const overload = await rig.phase(0, options.measureMs, undefined, { frameBytes, openLoop: true });
      log(`  ${kind} overload only: ${describe(overload)}`);
      return { transport, kind, frameBytes, subscribers, loaded: overload, overload };
    }
    const loaded = await rig.phase(rate, options.measureMs, undefined, { frameBytes });
    log(`  ${kind} ${rate === 0 ? "closed loop" : `${rate}× rate`}: ${describe(loaded)}`);
    let overload: PhaseResult | null = null;
    if (kind !== "raw" && rate === 0 && options.overload) {
      overload = await rig.phase(0, options.measureMs, undefined, { frameBytes, openLoop: true });
      log(`  ${kind} overload: ${describe(overload)}`);
    }
    return { transport, kind, frameBytes, subscribers, loaded, overload };
  } finally {
    await rig.stop();
  }
}

/** Frame sizes over both transports, saturated (and overloaded for the relay). */
export async function sizes(options: BenchOptions): Promise<SizeRun[]> {
  const runs: SizeRun[] = [];
  for (let r = 0; r < options.runs; r++) {
    for (const transport of options.transports) {
      for (const frameBytes of options.frameSizes) {
        const kinds = r % 2 === 0 ? options.kinds : [...options.kinds].reverse();
        for (const kind of kinds) {
          const profile = options.cpuProfDir && r === 0 && options.profileFrameBytes === frameBytes
            ? `${options.cpuProfDir}/${kind}-${transport}-${frameBytes}`
            : undefined;
          if (profile) await Deno.mkdir(profile, { recursive: true });
          log(`sizes run ${r + 1}/${options.runs}: ${kind} over ${transport}, ${frameBytes} B frames`);
          runs.push(await sizeRun(kind, transport, frameBytes, options.subscribers, 0, options, profile));
        }
      }
    }
  }
  return runs;
}

/** The wide case: `options.wideSubscribers` subscribers at a fixed rate, small frames. */
export async function wide(options: BenchOptions): Promise<SizeRun[]> {
  const runs: SizeRun[] = [];
  for (const transport of options.transports) {
    for (const frameBytes of options.wideFrameSizes) {
      for (const kind of options.kinds) {
        log(
          `wide run: ${kind} over ${transport}, ${options.wideSubscribers} subscribers, ${frameBytes} B × ${
            30 * options.wideRate
          }/s`,
        );
        runs.push(
          await sizeRun(
            kind,
            transport,
            frameBytes,
            options.wideSubscribers,
            options.wideRate,
            options,
            undefined,
          ),
        );
      }
    }
  }
  return runs;
}
