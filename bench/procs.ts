/**
 * Child processes of a benchmark run: the relay (`main.ts`, through the test harness's
 * `startRelay`, optionally under `--cpu-prof`), the raw baselines and the client workers,
 * with JSON-lines IPC to the workers.
 *
 * @module
 */

import { readLines, relayPin, startRelay } from "../testing/mod.ts";
import type { WorkerCommand, WorkerSpec } from "./worker.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WORKER = new URL("./worker.ts", import.meta.url).pathname;
const DIAG = new URL("./relay_diag.ts", import.meta.url).pathname;

/** Raised when a child process misbehaves (exits early, reports an error, times out). */
export class ChildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChildError";
  }
}

async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  for await (const line of readLines(stream)) {
    if (!line.trim()) continue;
    try {
      yield JSON.parse(line);
    } catch {
      console.error(`[bench] unparsable child output: ${line}`);
    }
  }
}

/** A client worker process (bench/worker.ts) with request/reply over stdin/stdout. */
export class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pending = new Map<number, (reply: Record<string, unknown>) => void>();
  readonly #events: Array<Record<string, unknown>> = [];
  readonly #eventWaiters: Array<() => void> = [];
  #nextId = 1;
  #exited = false;
  /** Called for every unsolicited event. */
  onEvent: ((event: Record<string, unknown>) => void) | null = null;

  constructor(name: string, spec: WorkerSpec) {
    this.name = name;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WORKER],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.child = child;
    this.#writer = child.stdin.getWriter();
    this.#send(spec as unknown as Record<string, unknown>);
    (async () => {
      for await (const message of jsonLines(child.stdout)) {
        const id = message.id as number | undefined;
        if (id !== undefined && this.#pending.has(id)) {
          const resolve = this.#pending.get(id)!;
          this.#pending.delete(id);
          resolve(message);
        } else {
          this.#events.push(message);
          this.onEvent?.(message);
          for (const w of this.#eventWaiters.splice(0)) w();
        }
      }
    })().finally(() => {
      this.#exited = true;
      for (const w of this.#eventWaiters.splice(0)) w();
    });
  }

  #send(message: Record<string, unknown>): void {
    this.#writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n")).catch(() => {});
  }

  /** Send a command without waiting for a reply. */
  tell(command: WorkerCommand): void {
    this.#send(command);
  }

  /** Send a command and wait for its reply (at most `timeoutMs`). */
  ask(command: WorkerCommand, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ChildError(`${this.name}: no reply to ${command.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.#send({ ...command, id });
    });
  }

  /** Wait for an event named `name` (e.g. "ready"); fails on an "error" event or exit. */
  async waitEvent(name: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#events.findIndex((e) => e.event === name || e.event === "error");
      if (i >= 0) {
        const [event] = this.#events.splice(i, 1);
        if (event.event === "error") throw new ChildError(`${this.name}: ${event.message}`);
        return event;
      }
      if (this.#exited) throw new ChildError(`${this.name} exited before "${name}"`);
      if (Date.now() > deadline) throw new ChildError(`${this.name}: no "${name}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.#eventWaiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** Ask the worker to stop and wait for it (killed after 5 s). */
  async stop(): Promise<void> {
    this.#send({ cmd: "stop" });
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 5_000);
    await this.child.status;
    clearTimeout(timer);
    await this.#writer.close().catch(() => {});
  }
}

/** A server under test: the relay or a raw baseline. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** QUIC/UDP port (relay and raw QUIC). */
  readonly quicPort: number;
  /** WebSocket/TCP port (relay and raw WS). */
  readonly wsPort: number;
  /** qmux-over-TCP port (relay with `tcpPort`, raw TCP); 0 = none. */
  readonly tcpPort: number;
  /** Certificate pin for QUIC. */
  readonly pin?: string;
  /** Captured stderr lines (relay only). */
  readonly logs?: string[];
  stop(): Promise<void>;
}

/** Options of {@link startBenchRelay}. */
export interface BenchRelayOptions {
  /** Write a V8 CPU profile into this directory (`--cpu-prof --cpu-prof-dir`). */
  cpuProfDir?: string;
  /** Extra TOML. */
  toml?: string;
  /** Run the main.ts of this checkout instead of this one (A/B runs). */
  checkout?: string;
  /** Run bench/relay_diag.ts (memory lines on stderr; `forceGc`: full GC before each). */
  diag?: { forceGc: boolean };
  /** V8 flags for the relay (`--relay-v8-flags=--max-semi-space-size=1`). */
  v8Flags?: string;
  /** Also listen for qmux over TCP (`[server.tcp]`) on this loopback port. */
  tcpPort?: number;
}

/** Start the relay (`deno run -A [--cpu-prof] main.ts <config>`, log level warn). */
export async function startBenchRelay(options: BenchRelayOptions = {}): Promise<ServerProcess> {
  const relay = await startRelay({
    logLevel: "warn",
    log: "warn",
    toml: [
      options.toml,
      options.tcpPort ? `[server.tcp]\nbind = "127.0.0.1:${options.tcpPort}"` : undefined,
    ].filter(Boolean).join("\n") || undefined,
    denoFlags: [
      ...(options.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`] : []),
      ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    ],
    entry: options.checkout ? `${options.checkout}/main.ts` : options.diag ? DIAG : undefined,
    cwd: options.checkout,
    env: { BENCH_FORCE_GC: options.diag?.forceGc ? "1" : "0" },
  }).catch((error: unknown) => {
    throw new ChildError(error instanceof Error ? error.message : String(error));
  });
  const pin = await relayPin(relay);
  return {
    name: "relay",
    pid: relay.child.pid,
    logs: relay.logs,
    quicPort: relay.port,
    wsPort: relay.port,
    tcpPort: options.tcpPort ?? 0,
    pin,
    stop: async () => {
      const status = await relay.stop("SIGTERM");
      const warnings = relay.logs.filter((l) => /ERROR|panic/i.test(l));
      if (warnings.length > 0) console.error(`[bench] relay logged:\n${warnings.slice(0, 10).join("\n")}`);
      if (!status.success && status.signal !== "SIGTERM") {
        console.error(`[bench] relay exited with ${status.code}`);
      }
    },
  };
}

async function startScript(
  name: string,
  script: string,
  args: string[],
  cpuProfDir?: string,
): Promise<{ child: Deno.ChildProcess; info: Record<string, unknown> }> {
  const denoArgs = ["run", "-A"];
  if (cpuProfDir) denoArgs.push("--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [...denoArgs, new URL(script, import.meta.url).pathname, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = jsonLines(child.stdout);
  const first = await lines.next();
  if (first.done) throw new ChildError(`${name} exited before printing its address`);
  (async () => {
    for await (const _ of lines) { /* drain */ }
  })();
  return { child, info: first.value };
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // gone
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }, 5_000);
  await child.status;
  clearTimeout(timer);
}

/** Start the raw QUIC fan-out baseline (`bare`: accept and hold connections only). */
export async function startRawQuic(bare = false, cpuProfDir?: string): Promise<ServerProcess> {
  const { child, info } = await startScript(
    "raw QUIC server",
    "./raw_quic_server.ts",
    bare ? ["--bare"] : [],
    cpuProfDir,
  );
  return {
    name: bare ? "bare-quic" : "raw-quic",
    pid: child.pid,
    quicPort: info.port as number,
    wsPort: 0,
    tcpPort: 0,
    pin: info.pin as string,
    stop: () => stopChild(child),
  };
}

/** Start the raw WebSocket fan-out baseline. */
export async function startRawWs(cpuProfDir?: string): Promise<ServerProcess> {
  const { child, info } = await startScript("raw WebSocket server", "./raw_ws_server.ts", [], cpuProfDir);
  return {
    name: "raw-ws",
    pid: child.pid,
    quicPort: 0,
    wsPort: info.port as number,
    tcpPort: 0,
    stop: () => stopChild(child),
  };
}

/** Start the raw TCP (qmux-01 records) fan-out baseline. */
export async function startRawTcp(cpuProfDir?: string): Promise<ServerProcess> {
  const { child, info } = await startScript("raw TCP server", "./raw_tcp_server.ts", [], cpuProfDir);
  return {
    name: "raw-tcp",
    pid: child.pid,
    quicPort: 0,
    wsPort: 0,
    tcpPort: info.port as number,
    stop: () => stopChild(child),
  };
}
