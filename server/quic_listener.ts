/**
 * The QUIC listener (placeholder until the QUIC transport lands).
 *
 * @module
 */

import type { RelayConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import type { ServedCertificates } from "./certificates.ts";
import type { RelayCore } from "./relay_server.ts";

/** Options for {@link startQuic}. */
export interface QuicListenerOptions {
  config: RelayConfig;
  logger: Logger;
  core: RelayCore;
  certs: ServedCertificates;
  signal: AbortSignal;
}

/** Start the QUIC listener. */
export function startQuic(
  options: QuicListenerOptions,
): Promise<{ address: string; finished: Promise<void> }> {
  options.logger.warn("QUIC listener not available yet");
  return Promise.resolve({ address: options.config.server.bind ?? "", finished: Promise.resolve() });
}
