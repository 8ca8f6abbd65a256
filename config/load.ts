/**
 * Loads the relay configuration: command-line flags, `MOQ_*` environment variables and the TOML
 * file (current or legacy layout), merged with precedence flag > env > file > default
 * (`merge.ts`), read through the typed reader (`reader.ts`), converted section by section into
 * the normalised {@link RelayConfig} (`build.ts`, `section_*.ts`) and checked against the file
 * system (`file_checks.ts`) (docs/relay.md §1.5). Every problem is a one-line
 * {@link ConfigError}; non-fatal oddities (deprecated spellings, upstream options this relay
 * ignores, unknown `[auth]` keys) are returned as warnings for the caller to log.
 *
 * Unlike upstream, values from the TOML file are never overwritten by a flag's default
 * (docs/relay.md §1.2 / §8 item 3): `[log] level`, `[web] ws`, … are honoured.
 *
 * @module
 */

import { LogFilter, LogFilterError } from "../log/mod.ts";
import { buildConfig } from "./_build.ts";
import { parseFlags, readEnv } from "./cli.ts";
import { defaultDevConfig } from "./defaults.ts";
import { ConfigError } from "./_errors.ts";
import { checkFiles, defaultStat, type FileInfo, fsReason } from "./_file_checks.ts";
import { mergeLayers, onlyLogSettings } from "./_merge.ts";
import { SettingsReader } from "./_reader.ts";
import { readLogLevel } from "./_section_log.ts";
import type { Layer } from "./_settings.ts";
import { parseTomlText, tomlLayer } from "./_toml.ts";
import type { RelayConfig } from "./types.ts";

export { ConfigError } from "./_errors.ts";
export { defaultDevConfig } from "./defaults.ts";
export type { FileInfo } from "./_file_checks.ts";

/** Injection points for tests (defaults use the real file system). */
export interface LoadOptions {
  /** Read a text file (the config file and `cluster.token`). Default `Deno.readTextFile`. */
  readFile?: (path: string) => Promise<string>;
  /** Inspect a path (`auth.key`, `auth.key_dir`). Default `Deno.stat`. */
  stat?: (path: string) => Promise<FileInfo>;
  /** Memory that `NN%` sizes refer to (default: physical memory or the cgroup limit). */
  memoryBytes?: number | (() => number);
}

/** The result of {@link loadConfig}. */
export interface LoadResult {
  config: RelayConfig;
  /** Deprecations and ignored settings, one line each, for the caller to log as warnings. */
  warnings: string[];
  /** True when the embedded development configuration was used ({@link defaultDevConfig}). */
  development: boolean;
}

/**
 * Load and validate the configuration.
 *
 * - `args`: command-line arguments after the program name (without a `token` subcommand; see
 *   `parseCommand`).
 * - `env`: the environment (`Deno.env.toObject()`); `MOQ_*` variables and `RUST_LOG` are read.
 *
 * With no config file, no flags and no `MOQ_*` variables (log level settings excepted) the
 * embedded development configuration is returned ({@link defaultDevConfig}). With flags or
 * variables but no file, the configuration is built from defaults + flags + env, like upstream.
 *
 * Throws {@link ConfigError} for anything fatal.
 */
export async function loadConfig(
  args: string[],
  env: Record<string, string>,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const readFile = options.readFile ?? ((path: string) => Deno.readTextFile(path));
  const stat = options.stat ?? defaultStat;
  const warnings: string[] = [];

  const flags = parseFlags(args);
  const envLayer = readEnv(env, warnings);
  const file = flags.file;
  const fileLayer: Layer = file === undefined ? new Map() : await readFileLayer(file, readFile, warnings);

  const reader = new SettingsReader(
    mergeLayers([flags.values, envLayer, fileLayer]),
    file,
    options.memoryBytes,
  );
  const development = file === undefined && onlyLogSettings(flags.values) && onlyLogSettings(envLayer);
  let config: RelayConfig;
  if (development) {
    config = defaultDevConfig();
    config.log.level = readLogLevel(reader);
  } else {
    config = buildConfig(reader, warnings);
    await checkFiles(config, reader, { readFile, stat });
  }
  if (file !== undefined) config.file = file;

  const rustLog = env["RUST_LOG"]?.trim();
  if (rustLog) {
    try {
      LogFilter.parse(rustLog, config.log.level);
    } catch (error) {
      if (!(error instanceof LogFilterError)) throw error;
      throw new ConfigError(`RUST_LOG: ${error.message} (e.g. RUST_LOG=debug or RUST_LOG=relay=trace,info)`, {
        key: "RUST_LOG",
      });
    }
    config.log.filter = rustLog;
  }
  return { config, warnings, development };
}

/** Read and parse the TOML file into a layer. */
async function readFileLayer(
  file: string,
  readFile: (path: string) => Promise<string>,
  warnings: string[],
): Promise<Layer> {
  let text: string;
  try {
    text = await readFile(file);
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${fsReason(error)}`, {
      key: "file",
      file,
      cause: error,
    });
  }
  return tomlLayer(parseTomlText(text, file), file, warnings);
}
