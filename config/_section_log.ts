/**
 * Builder of `[log]`.
 *
 * @module
 */

import { LogFilterError, parseLogLevel } from "../log/mod.ts";
import type { SettingsReader } from "./_reader.ts";
import type { RelayConfig } from "./types.ts";

/** `[log] level` (default `info`). `RUST_LOG` is applied by the loader afterwards. */
export function readLogLevel(reader: SettingsReader): RelayConfig["log"]["level"] {
  const level = reader.string("log.level");
  if (level === undefined) return "info";
  try {
    return parseLogLevel(level);
  } catch (error) {
    if (error instanceof LogFilterError) reader.fail("log.level", error.message);
    throw error;
  }
}

/** Fill `config.log` from `[log]`. */
export function buildLog(reader: SettingsReader, config: RelayConfig): void {
  config.log.level = readLogLevel(reader);
}
