/**
 * moq-relay for Deno: the command line.
 *
 * - `deno run -A main.ts` — the embedded development default (self-signed certificate, anonymous
 *   publish and subscribe under `anon/`, loopback ports printed at start-up).
 * - `deno run -A main.ts relay.toml` (also `--config FILE` / `--file FILE`) — a config file.
 * - `deno run -A main.ts token generate|sign|verify …` — the token tool.
 * - `--help`, `--version`.
 *
 * SIGINT/SIGTERM drain gracefully (GOAWAY, `/health` 503, sessions closed with code 0) and exit 0;
 * a second signal exits at once.
 *
 * @module
 */

import { runTokenCommand } from "./auth/mod.ts";
import { ConfigError, loadConfig, parseCommand } from "./config/mod.ts";
import { createLogger, LogFilter, type Logger } from "./log/mod.ts";
import { startRelay, StartupError } from "./server/mod.ts";

/** How long past `[limits] drain_timeout` a shutdown may run before the process exits anyway. */
export const SHUTDOWN_OVERRUN_MS = 3_000;

function fatal(message: string): number {
  console.error(`Error: ${message}`);
  return 1;
}

/**
 * A last line of defence for a long-running server: an error that escaped every handler is logged
 * (it is a bug) instead of taking down every other session with the process.
 */
function installCrashGuard(logger: Logger): void {
  const log = logger.child("main");
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    const reason = event.reason instanceof Error
      ? event.reason.stack ?? event.reason.message
      : String(event.reason);
    log.error("unhandled promise rejection (please report this bug)", { error: reason });
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    log.error("uncaught exception (please report this bug)", { error: String(event.error ?? event.message) });
  });
}

/** Run the command line; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  const command = parseCommand(args);
  if (command.kind === "help" || command.kind === "version") {
    console.log(command.text);
    return 0;
  }
  if (command.kind === "token") return await runTokenCommand(command.args);

  let loaded;
  try {
    loaded = await loadConfig(command.args, Deno.env.toObject());
  } catch (err) {
    if (err instanceof ConfigError) return fatal(err.message);
    throw err;
  }
  const { config, warnings, development } = loaded;
  let filter: LogFilter;
  try {
    filter = config.log.filter
      ? LogFilter.parse(config.log.filter, config.log.level)
      : LogFilter.level(config.log.level);
  } catch (err) {
    return fatal(`RUST_LOG: ${(err as Error).message}`);
  }
  const logger = createLogger(filter);
  installCrashGuard(logger);
  for (const w of warnings) logger.child("config").warn(w);
  if (development) {
    logger.info("no configuration given: running the embedded development default", {
      public: "anon",
      hint: "pass a relay.toml for production",
    });
  }

  let relay;
  try {
    relay = await startRelay(config, logger);
  } catch (err) {
    if (err instanceof StartupError || err instanceof ConfigError) return fatal(err.message);
    // Anything else that stops the start (a listener's own error type) is still fatal, not a crash.
    logger.debug("start-up failed", { stack: err instanceof Error ? err.stack ?? "" : "" });
    return fatal(err instanceof Error ? err.message : String(err));
  }

  const stop = Promise.withResolvers<number>();
  let received = 0;
  let overdue: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (name: Deno.Signal) => {
    received++;
    if (received > 1) {
      logger.warn("second signal: exiting now without draining", { signal: name });
      relay.stopNow();
      stop.resolve(0);
      return;
    }
    const drainTimeoutMs = config.limits.drainTimeoutMs;
    logger.info("shutting down: draining (send the signal again to exit at once)", {
      signal: name,
      drain_timeout_ms: drainTimeoutMs,
    });
    relay.shutdown().then(() => stop.resolve(0), (err) => {
      logger.error("shutdown failed", { error: err instanceof Error ? err.message : String(err) });
      stop.resolve(1);
    });
    // Belt and braces: never outlive the drain timeout by more than the listener grace.
    overdue = setTimeout(() => {
      logger.error("drain did not finish in time: exiting", { drain_timeout_ms: drainTimeoutMs });
      relay.stopNow();
      stop.resolve(1);
    }, drainTimeoutMs + SHUTDOWN_OVERRUN_MS);
  };
  // SIGTERM does not exist on Windows (only SIGINT and SIGBREAK can be listened to there).
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((name) => [name, () => onSignal(name)] as const);
  for (const [name, handler] of handlers) Deno.addSignalListener(name, handler);
  relay.fatal.then((err) => {
    logger.error("fatal error", { error: err.message });
    stop.resolve(1);
  });
  const code = await stop.promise;
  clearTimeout(overdue);
  for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
  logger.info("exited", { code });
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
