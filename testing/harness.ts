/**
 * End-to-end test harness: starts a real relay process (`deno run -A main.ts <config>`) on free
 * loopback ports, waits until it serves, and stops it. Also loads the real `@moq/lite` 0.2.2
 * client forced onto WebSocket.
 *
 * @module
 */

import { readLines } from "./bytes.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 that is also free on UDP (best effort). */
export function freePort(): number {
  for (let i = 0; i < 50; i++) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    try {
      const u = Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" });
      u.close();
      return port;
    } catch {
      // taken on UDP: try another
    }
  }
  throw new Error("no free port found");
}

/** Options for {@link startRelay}. */
export interface RelayOptions {
  /** Extra TOML appended to the generated config (sections must not repeat generated ones). */
  toml?: string;
  /** `[auth]` section body; default `public = "anon"`. */
  auth?: string;
  /** Extra `[server]` keys. */
  server?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Extra CLI args. */
  args?: string[];
  /** Extra `deno run` flags (before main.ts), e.g. `--deny-read=…`. */
  denoFlags?: string[];
  /** Enable the internal listener. */
  internal?: boolean;
  /** Use this port (QUIC/UDP and HTTP/TCP). */
  port?: number;
  /** `RUST_LOG` log filter (default "info"). */
  log?: string;
  /** `[log] level` in the generated config (default "info"). */
  logLevel?: string;
  /** The entry point to run (default this checkout's main.ts), e.g. another checkout's. */
  entry?: string;
  /** The child's working directory (default this checkout). */
  cwd?: string;
}

/** A running relay process. */
export class RelayProcess {
  readonly port: number;
  readonly internalPort: number | undefined;
  readonly dir: string;
  readonly child: Deno.ChildProcess;
  readonly #stderr: string[] = [];
  readonly #stderrDone: Promise<void>;

  constructor(port: number, internalPort: number | undefined, dir: string, child: Deno.ChildProcess) {
    this.port = port;
    this.internalPort = internalPort;
    this.dir = dir;
    this.child = child;
    this.#stderrDone = (async () => {
      const echo = Boolean(Deno.env.get("RELAY_LOG"));
      for await (const line of readLines(child.stderr)) {
        this.#stderr.push(line);
        if (echo) console.error(`[relay:${port}] ${line}`);
      }
    })();
  }

  /** `http://127.0.0.1:<port>` (web listener). */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<internal port>`. */
  get internalUrl(): string {
    return `http://127.0.0.1:${this.internalPort}`;
  }

  /** Log lines so far. */
  get logs(): string[] {
    return this.#stderr;
  }

  /** Wait until a log line matches. */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.#stderr.find((l) => pattern.test(l));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `no log line matched ${pattern} within ${timeoutMs} ms; logs:\n${this.#stderr.join("\n")}`,
    );
  }

  /** Send a signal and wait for exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
    const status = await this.child.status;
    await this.#stderrDone;
    try {
      await Deno.remove(this.dir, { recursive: true });
    } catch {
      // ignore
    }
    return status;
  }
}

/**
 * The relay.toml {@link startRelay} writes: QUIC and the web listener on `127.0.0.1:<port>`, a
 * generated certificate, `[internal]` on `internalPort` when given, `[auth]` (default `public =
 * "anon"`), then `options.server` inside `[server]` and `options.toml` at the end.
 */
export function relayToml(
  port: number,
  options: Pick<RelayOptions, "server" | "auth" | "toml" | "logLevel"> & { internalPort?: number } = {},
): string {
  return [
    `[log]`,
    `level = "${options.logLevel ?? "info"}"`,
    `[server]`,
    `bind = "127.0.0.1:${port}"`,
    options.server ?? "",
    `[server.tls]`,
    `generate = ["localhost", "127.0.0.1"]`,
    `[web.http]`,
    `listen = "127.0.0.1:${port}"`,
    options.internalPort ? `[internal]\nlisten = "127.0.0.1:${options.internalPort}"` : "",
    `[auth]`,
    options.auth ?? `public = "anon"`,
    options.toml ?? "",
  ].join("\n");
}

/** Attempts {@link startRelay} makes when a port it picked was taken meanwhile by another process. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Start a relay with a generated config and wait until `/health` answers. A port picked by
 * {@link freePort} can be taken by another process before the relay binds it (parallel tests open
 * many connections, whose source ports come from the same range): the relay then exits with
 * "address already in use" and is started again on fresh ports.
 */
export async function startRelay(options: RelayOptions = {}): Promise<RelayProcess> {
  for (let attempt = 1;; attempt++) {
    const started = await startRelayOnce(options);
    if (started instanceof RelayProcess) return started;
    const raced = options.port === undefined &&
      started.some((l) => /address already in use|AddrInUse/i.test(l));
    if (!raced || attempt >= PORT_RACE_ATTEMPTS) {
      throw new Error(`relay did not start; logs:\n${started.join("\n")}`);
    }
  }
}

/** What main.ts logs (target `main`, level info) once every listener is bound. */
const READY_LINE = "main: relay ready";

/**
 * `spec` with the `main` target kept at info when the spec hides info lines, so {@link READY_LINE}
 * is always logged.
 */
function readyVisible(spec: string): string {
  return /^(warn|error|off)$/i.test(spec.trim()) ? `${spec},main=info` : spec;
}

/** One start: the running relay, or its log lines when it exited or did not answer within 30 s. */
async function startRelayOnce(options: RelayOptions): Promise<RelayProcess | string[]> {
  const port = options.port ?? freePort();
  const internalPort = options.internal ? freePort() : undefined;
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-test-" });
  const toml = relayToml(port, { ...options, internalPort });
  const configPath = `${dir}/relay.toml`;
  await Deno.writeTextFile(configPath, toml);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(options.denoFlags ?? []),
      options.entry ?? MAIN,
      configPath,
      ...(options.args ?? []),
    ],
    cwd: options.cwd ?? ROOT.pathname,
    env: { RUST_LOG: readyVisible(options.log ?? "info"), NO_COLOR: "1", ...(options.env ?? {}) },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const relay = new RelayProcess(port, internalPort, dir, child);
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !exited) {
    try {
      // Bounded: whatever holds a raced port may accept and never answer.
      const res = await fetch(`${relay.httpUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      // Another test's relay may hold the port this one failed to bind (it then exits): only this
      // child's own "relay ready" line says the answer came from it.
      if (res.ok && (options.entry !== undefined || relay.logs.some((l) => l.includes(READY_LINE)))) {
        return relay;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await relay.stop("SIGKILL");
  return exited ? relay.logs : [`(no /health answer within 30 s)`, ...relay.logs];
}

/** The `@moq/lite` 0.2.2 module, loaded with the WebTransport global removed (forces WebSocket). */
export type Moq = typeof import("./moq_lite.ts");

let moqModule: Promise<Moq> | undefined;

/** Load `@moq/lite` forced onto WebSocket (deletes Deno's client WebTransport global first). */
export function loadMoq(): Promise<Moq> {
  if (!moqModule) {
    Reflect.deleteProperty(globalThis, "WebTransport");
    moqModule = import("./moq_lite.ts");
  }
  return moqModule;
}

/**
 * Run `fn`; when it throws, print each section of `sections()` (a title and its lines, e.g. the relay
 * log or a page console) to stderr, then rethrow.
 */
export async function explainFailure<T>(
  fn: () => Promise<T>,
  sections: () => Record<string, readonly string[]>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    for (const [title, lines] of Object.entries(sections())) {
      console.error(`--- ${title} ---\n${lines.join("\n")}`);
    }
    throw error;
  }
}

/**
 * An end-to-end test with its own relay process (killed afterwards). Client libraries keep
 * timers alive between steps, so Deno's op/resource sanitizers are off.
 */
export function e2e(
  name: string,
  fn: (relay: RelayProcess) => Promise<void>,
  options: RelayOptions = {},
): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const relay = await startRelay(options);
    try {
      await fn(relay);
    } finally {
      await relay.stop("SIGKILL");
    }
  });
}
