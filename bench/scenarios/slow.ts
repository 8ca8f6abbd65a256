/**
 * Slow subscriber: does one reader at a tenth of the rate hold back the fast ones or grow the relay?
 *
 * @module
 */

import { nominalBytesPerSecond } from "../media.ts";
import type { BenchOptions } from "../options.ts";
import { log, type PhaseResult, Rig } from "../rig.ts";
import { mibPerSecond } from "../stats.ts";

/** One slow-subscriber run, with or without the slow reader. */
export interface SlowRun {
  withSlow: boolean;
  phase: PhaseResult;
  rssSamples: number[];
}

/** Figure 5: fast subscribers' throughput and relay RSS with one reader at 1/10 of the rate. */
export async function slow(options: BenchOptions): Promise<SlowRun[]> {
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
