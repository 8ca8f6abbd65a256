/**
 * Builds the normalised {@link RelayConfig} from the merged settings: every section builder in a
 * fixed order (the first problem found is the one reported), on top of the built-in defaults.
 * Nothing here touches the file system (see `file_checks.ts`).
 *
 * @module
 */

import { baseConfig } from "./defaults.ts";
import type { SettingsReader } from "./_reader.ts";
import { buildAuth } from "./_section_auth.ts";
import { buildClient } from "./_section_client.ts";
import { buildCluster } from "./_section_cluster.ts";
import { buildCache, buildLimits } from "./_section_limits.ts";
import { buildLog } from "./_section_log.ts";
import { buildServer, buildServerQuic, buildServerTls } from "./_section_server.ts";
import { warnUnsupported } from "./_section_unsupported.ts";
import { buildStats, buildStreamListeners } from "./_section_ops.ts";
import { buildInternal, buildWeb, checkListeners } from "./_section_web.ts";
import type { RelayConfig } from "./types.ts";

/**
 * Convert and validate everything that needs no I/O. Throws `ConfigError` for the first fatal
 * problem; deprecations and ignored settings are pushed to `warnings`.
 */
export function buildConfig(reader: SettingsReader, warnings: string[]): RelayConfig {
  const config = baseConfig();
  warnUnsupported(reader, warnings);
  buildLog(reader, config);
  buildServer(reader, config, warnings);
  buildServerTls(reader, config);
  buildServerQuic(reader, config);
  buildWeb(reader, config, warnings);
  buildInternal(reader, config);
  buildStreamListeners(reader, config, warnings);
  checkListeners(reader, config);
  buildAuth(reader, config, warnings);
  buildCluster(reader, config, warnings);
  buildClient(reader, config);
  buildCache(reader, config);
  buildLimits(reader, config);
  buildStats(reader, config);
  return config;
}
