/**
 * This relay's origin id: the hop id it stamps on announcements to cluster peers. `[cluster] id`
 * when set; otherwise derived from the node identity (`[cluster] node`, else host name and listen
 * addresses), so it is stable across restarts (docs/relay.md §8 item 29). Always 1 ≤ id < 2^53.
 *
 * @module
 */

import type { RelayConfig } from "../config/mod.ts";
import { fnv1a64 } from "../util/mod.ts";

/** The stable identity string of this relay. */
export function nodeIdentity(config: RelayConfig): string {
  if (config.cluster.node) return config.cluster.node;
  let host = "localhost";
  try {
    host = Deno.hostname();
  } catch {
    // no permission: fall back
  }
  return [host, config.server.bind ?? "", config.web.http?.listen ?? "", config.web.https?.listen ?? ""].join(
    "|",
  );
}

/** Resolve the origin id for this configuration. */
export function resolveOriginId(config: RelayConfig): Promise<number> {
  if (config.cluster.id !== undefined) return Promise.resolve(config.cluster.id);
  const id = Number(fnv1a64(nodeIdentity(config)) % ((1n << 53n) - 1n)) + 1;
  return Promise.resolve(id);
}
