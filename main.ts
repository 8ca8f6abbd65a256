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

import { runTokenCommand } from "./auth/token_cli.ts";
import { parseCommand } from "./config/cli.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { createLogger, LogFilter } from "./log/logger.ts";
import { startRelay, StartupError } from "./server/start.ts";

function fatal(message: string): number {
  console.error(`Error: ${message}`);
  return 1;
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
    throw err;
  }

  const stop = Promise.withResolvers<number>();
  let signals = 0;
  const onSignal = (name: Deno.Signal) => {
    signals++;
    if (signals > 1) {
      logger.warn("second signal: exiting now", { signal: name });
      relay.stopNow();
      stop.resolve(0);
      return;
    }
    logger.info("shutting down", { signal: name, drain_timeout_ms: config.limits.drainTimeoutMs });
    relay.shutdown().then(() => stop.resolve(0), () => stop.resolve(1));
  };
  const sigint = () => onSignal("SIGINT");
  const sigterm = () => onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  relay.fatal.then((err) => {
    logger.error("fatal error", { error: err.message });
    stop.resolve(1);
  });
  const code = await stop.promise;
  Deno.removeSignalListener("SIGINT", sigint);
  Deno.removeSignalListener("SIGTERM", sigterm);
  logger.info("exited", { code });
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
