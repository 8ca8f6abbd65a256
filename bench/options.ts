/**
 * The `deno task bench` command line: flags → {@link BenchOptions}.
 *
 * @module
 */

import type { LiteVersion, TransportName } from "./client.ts";

/** A server under test: this relay, the raw baseline, or the relay of another checkout. */
export type ServerKind = "relay" | "raw" | "base";

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
  /** Servers compared: the relay, the raw baseline, and `base` (the relay of `--base-dir`). */
  kinds: ServerKind[];
  /** Checkout whose main.ts the `base` kind runs (A/B against an earlier commit). */
  baseDir: string | null;
  /** Extra relay TOML (experiments: e.g. `[server.quic]\nmax_streams = 1000`). */
  relayToml: string;
  /** Payload bytes per frame of the frame-size figure (`--frame-sizes=200,1024,16384,102400`). */
  frameSizes: number[];
  /** With `--cpu-prof`: the frame size whose runs are profiled (default the first). */
  profileFrameBytes: number;
  /** Also run each relay frame-size case in open loop (overload). */
  overload: boolean;
  /**
   * Profiling aid (`--overload-only`): the relay runs only the open-loop phase, so a `--cpu-prof`
   * profile shows overload alone. Its closed-loop columns then repeat the open-loop figure.
   */
  overloadOnly: boolean;
  /** Subscribers of the wide case. */
  wideSubscribers: number;
  /** Frame sizes of the wide case. */
  wideFrameSizes: number[];
  /** Rate of the wide case, × 30 frames/s. */
  wideRate: number;
  /** Run the relay through bench/relay_diag.ts (heap lines in its log). */
  relayDiag: boolean;
  /** With `relayDiag`: force a full GC every second (diagnosis of native memory held by garbage). */
  relayGc: boolean;
  /** V8 flags for the relay process (`--relay-v8-flags=--max-semi-space-size=1`; empty: none). */
  relayV8Flags: string;
  /** Memory figure: frames/s (1 KiB each) the subscribed track's publisher sends; 0 = idle. */
  memoryFps: number;
  /** moq-lite wire version of the publisher and subscriber clients (`--lite=05`; default 04). */
  lite: LiteVersion;
}

/** Frame sizes of the frame-size figure: audio-like, small, video-delta-like, key-frame-like. */
export const DEFAULT_FRAME_SIZES = [200, 1024, 16384, 102400];

/** `--lite=04|05` (also `4`, `5`); absent: 04. */
function parseLite(value: string | undefined): LiteVersion {
  if (value === undefined || value === "" || value === "04" || value === "4") return "04";
  if (value === "05" || value === "5") return "05";
  throw new Error(`--lite=${value}: expected 04 or 05`);
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
  const list = (name: string, fallback: number[]): number[] => {
    const v = get(name);
    if (!v) return fallback;
    return v.split(",").map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 8) throw new Error(`--${name}=${v}: expected byte counts ≥ 8`);
      return n;
    });
  };
  // --quick: one run, short windows, fewer sessions: the whole bench in a few minutes.
  const quick = get("quick") !== undefined;
  const only = get("only") ?? (quick ? "sizes,wide,fanout,memory" : undefined);
  const prof = get("cpu-prof");
  const frameSizes = list("frame-sizes", DEFAULT_FRAME_SIZES);
  return {
    runs: Math.round(num("runs", quick ? 1 : 3)),
    measureMs: num("seconds", quick ? 3 : 5) * 1000,
    subscribers: Math.round(num("subscribers", 50)),
    sessions: Math.round(num("sessions", quick ? 300 : 1000)),
    churnMs: num("churn-seconds", 60) * 1000,
    only: only ? new Set(only.split(",").map((s) => s.trim())) : null,
    frameSizes,
    profileFrameBytes: Math.round(num("profile-frame-bytes", frameSizes[0])),
    overload: get("no-overload") === undefined,
    overloadOnly: get("overload-only") !== undefined,
    wideSubscribers: Math.round(num("wide-subscribers", 1000)),
    wideFrameSizes: list("wide-frame-sizes", [200, 1024]),
    wideRate: num("wide-rate", 1),
    cpuProfDir: prof === undefined
      ? null
      : prof || Deno.makeTempDirSync({ prefix: "moq-relay-bench-profiles-" }),
    write: get("no-write") === undefined,
    slowRate: num("slow-rate", 1),
    relayDiag: get("relay-diag") !== undefined || get("relay-gc") !== undefined,
    relayGc: get("relay-gc") !== undefined,
    relayV8Flags: get("relay-v8-flags") ?? "",
    memoryFps: get("memory-fps") === undefined ? 0 : num("memory-fps", 0),
    baseDir: get("base-dir") || null,
    lite: parseLite(get("lite")),
    relayToml: (get("relay-toml") ?? "").replaceAll("\\n", "\n"),
    kinds: (get("kinds") || "relay,raw").split(",").map((k) => {
      if (k !== "relay" && k !== "raw" && k !== "base") {
        throw new Error(`--kinds: unknown server kind "${k}" (relay, raw, base)`);
      }
      if (k === "base" && !get("base-dir")) throw new Error("--kinds=base needs --base-dir=<checkout>");
      return k;
    }),
    transports: (get("transports") || "quic,websocket").split(",").map((t) => {
      if (t !== "quic" && t !== "websocket" && t !== "tcp") {
        throw new Error(`--transports: unknown transport "${t}"`);
      }
      return t;
    }),
  };
}
