/**
 * Builds the normalised {@link RelayConfig} from the merged settings: every section builder in a
 * fixed order (the first problem found is the one reported), on top of the built-in defaults.
 * Nothing here touches the file system (see `file_checks.ts`).
 *
 * @module
 */

import { baseConfig } from "./defaults.ts";
import type { SettingsReader } from "./reader.ts";
import { buildAuth } from "./section_auth.ts";
import { buildClient } from "./section_client.ts";
import { buildCluster } from "./section_cluster.ts";
import { buildCache, buildLimits } from "./section_limits.ts";
import { buildLog } from "./section_log.ts";
import { buildServer, buildServerQuic, buildServerTls } from "./section_server.ts";
import { warnUnsupported } from "./section_unsupported.ts";
import { buildInternal, buildWeb, checkListeners } from "./section_web.ts";
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
  checkListeners(reader, config);
  buildAuth(reader, config, warnings);
  buildCluster(reader, config, warnings);
  buildClient(reader, config);
  buildCache(reader, config);
  buildLimits(reader, config);
  return config;
}
