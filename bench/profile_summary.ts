/**
 * Summarise a V8 `.cpuprofile` (as written by `deno run --cpu-prof`): the functions with the most
 * self time, and the project files with the most inclusive time.
 *
 * Usage: `deno run -A bench/profile_summary.ts <file.cpuprofile> [top=30]`
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One line of a summary. */
export interface ProfileLine {
  name: string;
  ms: number;
  percent: number;
}

function label(frame: CallFrame): string {
  const file = frame.url.replace(/^file:\/\/.*?\/main\//, "").replace(/^ext:/, "ext:");
  return `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
}

/** Self time per function and inclusive time per function, sorted descending. */
export function summarize(
  profile: CpuProfile,
): { self: ProfileLine[]; inclusive: ProfileLine[]; totalMs: number } {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = profile.endTime - profile.startTime;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = label(byId.get(cur)!.callFrame);
      if (seen.has(n)) continue;
      seen.add(n);
      inclusive.set(n, (inclusive.get(n) ?? 0) + us);
    }
  }
  const lines = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({
      name,
      ms: us / 1000,
      percent: (us / totalUs) * 100,
    }));
  return { self: lines(self), inclusive: lines(inclusive), totalMs: totalUs / 1000 };
}

if (import.meta.main) {
  const [file, topText] = Deno.args;
  if (!file) {
    console.error("usage: deno run -A bench/profile_summary.ts <file.cpuprofile> [top]");
    Deno.exit(2);
  }
  const top = Number(topText ?? 30);
  const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
  const { self, inclusive, totalMs } = summarize(profile);
  console.log(`profile: ${(totalMs / 1000).toFixed(1)} s`);
  console.log(`\nself time:`);
  for (const l of self.slice(0, top)) console.log(`${l.percent.toFixed(1).padStart(6)}%  ${l.name}`);
  console.log(`\ninclusive time (project code):`);
  for (
    const l of inclusive.filter((l) => !l.name.includes("ext:") && !l.name.startsWith("(")).slice(0, top)
  ) {
    console.log(`${l.percent.toFixed(1).padStart(6)}%  ${l.name}`);
  }
}
