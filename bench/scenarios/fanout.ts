/**
 * Fan-out throughput and latency: relay vs. a raw fan-out server over QUIC and WebSocket.
 *
 * @module
 */

import type { TransportName } from "../client.ts";
import type { BenchOptions, ServerKind } from "../options.ts";
import { log, type PhaseResult, Rig } from "../rig.ts";
import { mibPerSecond } from "../stats.ts";

/** One fan-out run of one server kind over one transport. */
export interface FanoutRun {
  transport: TransportName;
  kind: ServerKind;
  nominal: PhaseResult;
  saturated: PhaseResult;
}

/**
 * Figure 1 and 2: 1 publisher → N subscribers, at the nominal rate then saturated (closed loop),
 * relay and raw baseline alternating, `runs` times per transport.
 */
export async function fanout(options: BenchOptions): Promise<FanoutRun[]> {
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
