/**
 * Byte sizes for cache and queue budgets: `8GiB`, `512MB`, `4 MiB`, `1048576`, or `NN%` of the
 * memory available to the process (cgroup limit when lower than physical memory).
 * Units are case-insensitive; `K`/`KB` = 1000, `Ki`/`KiB` = 1024 (and so on up to `P`).
 *
 * @module
 */

/** Raised when a size cannot be parsed; the message shows the accepted forms. */
export class SizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SizeError";
  }
}

const UNIT_BYTES: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  ki: 2 ** 10,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mi: 2 ** 20,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gi: 2 ** 30,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  ti: 2 ** 40,
  tib: 2 ** 40,
  p: 1e15,
  pb: 1e15,
  pi: 2 ** 50,
  pib: 2 ** 50,
};

/** Options for {@link parseSize}. */
export interface SizeOptions {
  /** Whether `NN%` is accepted (default true). */
  allowPercent?: boolean;
  /** Total memory the percentage refers to, or a function computing it (default {@link systemMemoryBytes}). */
  memoryBytes?: number | (() => number);
}

const EXAMPLES = `e.g. "8GiB", "512MB", "4 MiB", "1048576" or "25%"`;

/**
 * Parse a size and return whole bytes. Throws {@link SizeError} naming the input and the accepted
 * forms. A percentage must be greater than 0 and at most 100.
 */
export function parseSize(text: string, options: SizeOptions = {}): number {
  const input = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(input);
  if (percent !== null) {
    if (options.allowPercent === false) {
      throw new SizeError(`invalid size "${text}": a percentage is not accepted here, use e.g. "4MiB"`);
    }
    const share = Number(percent[1]);
    if (!(share > 0 && share <= 100)) {
      throw new SizeError(`invalid size "${text}": a percentage must be greater than 0% and at most 100%`);
    }
    const source = options.memoryBytes ?? systemMemoryBytes;
    const total = typeof source === "function" ? source() : source;
    if (!(total > 0)) {
      throw new SizeError(`invalid size "${text}": the amount of memory is unknown, use bytes`);
    }
    return Math.floor((total * share) / 100);
  }
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(input);
  if (match === null) {
    throw new SizeError(`invalid size "${text}": expected a number with an optional unit, ${EXAMPLES}`);
  }
  const unit = UNIT_BYTES[match[2].toLowerCase()];
  if (unit === undefined) {
    throw new SizeError(
      `invalid size "${text}": unknown unit "${match[2]}" (use B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`invalid size "${text}": too large`);
  return bytes;
}

/** Format bytes compactly with a binary unit when exact (`4MiB`), else plain bytes. */
export function formatSize(bytes: number): string {
  for (
    const [unit, size] of [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const
  ) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

function readLimit(path: string): number | undefined {
  try {
    const text = Deno.readTextFileSync(path).trim();
    if (!/^\d+$/.test(text)) return undefined; // "max" = unlimited
    const value = Number(text);
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Memory available to this process in bytes: physical memory, lowered to the cgroup (v2 or v1)
 * limit when one is set. Returns 0 when nothing can be determined.
 */
export function systemMemoryBytes(): number {
  let total = 0;
  try {
    total = Deno.systemMemoryInfo().total;
  } catch {
    total = 0;
  }
  for (const path of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    const limit = readLimit(path);
    if (limit !== undefined && (total === 0 || limit < total)) total = limit;
  }
  return total;
}
