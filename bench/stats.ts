/**
 * Small statistics helpers for the benchmarks: medians, percentiles and process memory.
 *
 * @module
 */

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * The `p`-th percentile (0–100) of `values`, nearest-rank on a sorted copy (NaN when empty).
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Raised when a process's memory cannot be read. */
export class ProcReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProcReadError";
  }
}

/** Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`). */
export function readRssBytes(pid: number): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch (error) {
    throw new ProcReadError(
      `cannot read /proc/${pid}/status (is the process still running? Linux only): ${error}`,
    );
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  if (!match) throw new ProcReadError(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) of process `pid` in milliseconds, from `/proc/<pid>/stat`. */
export function readCpuMs(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name may contain spaces: fields start after the closing parenthesis.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Format bytes/s as MiB/s with one decimal. */
export function mibPerSecond(bytesPerSecond: number): string {
  return (bytesPerSecond / (1024 * 1024)).toFixed(1);
}

/** Format bytes as whole MiB (`"42 MiB"`). */
export function formatMiB(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MiB`;
}
