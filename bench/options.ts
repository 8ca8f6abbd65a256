/**
 * The `deno task bench` command line: flags → {@link BenchOptions}.
 *
 * @module
 */

import type { TransportName } from "./client.ts";

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
