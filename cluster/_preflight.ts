/**
 * Start-up checks of cluster settings that cannot work (docs/relay.md §6.1, §6.3): a fatal
 * {@link ClusterConfigError} when a setting can never do what it asks, a warning naming the key
 * when it works only partly.
 *
 * @module
 */

import type { RelayConfig } from "../config/mod.ts";
import { redactSecrets } from "../log/mod.ts";
import { parsePeerUrl } from "./_peer_url.ts";

/** A cluster setting that cannot work; the message names the key and what to set. */
export class ClusterConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClusterConfigError";
  }
}

/** What the cluster section would do, checked before any dial. */
export interface Preflight {
  /** One line each, naming the key. */
  warnings: string[];
}

const CREDENTIAL_HINT = `a JWT granting root="" put=[""] get=[""] (see "moq-relay token sign")`;

/**
 * Check `config` (with the shared credential already read from `cluster.token`, undefined when
 * none). Throws {@link ClusterConfigError} for a setting that can never work.
 */
export function preflight(
  config: Pick<RelayConfig, "cluster" | "client">,
  sharedToken: string | undefined,
): Preflight {
  const { cluster, client } = config;
  const warnings: string[] = [];
  const dials = cluster.connect.length > 0 || cluster.connectApi !== undefined;
  if (cluster.mesh && dials && sharedToken === undefined) {
    throw new ClusterConfigError(
      `cluster.mesh dials every node it discovers with the shared cluster credential, and there is none: ` +
        `set [cluster] token to a file holding ${CREDENTIAL_HINT}; without it peers ignore this relay's ` +
        `.internal/origins advertisements and no gossip link forms`,
    );
  }
  const verified = !client.tls.disableVerify || client.tls.fingerprint.length > 0;
  for (const text of cluster.connect) {
    const peer = parsePeerUrl(text);
    const scheme = peer.dial.protocol;
    if ((peer.token ?? sharedToken) === undefined) {
      warnings.push(
        `cluster.connect: ${peer.canonical} is dialed without a cluster credential (no ?jwt= on the URL, ` +
          `no [cluster] token): the peer treats this relay as an anonymous client, so only public paths ` +
          `cross the link and .internal gossip never does; set [cluster] token to a file holding ${CREDENTIAL_HINT}`,
      );
    } else if ((scheme === "https:" || scheme === "wss:") && !verified) {
      warnings.push(
        `cluster.connect: ${peer.canonical} gets the cluster credential without certificate verification ` +
          `([client.tls] disable_verify = true and no fingerprint): pin [client.tls] fingerprint or trust ` +
          `its CA with [client.tls] root`,
      );
    }
  }
  return { warnings: warnings.map(redactSecrets) };
}

/** Read the shared cluster credential (`cluster.token`), naming the key when it cannot be read. */
export async function readClusterToken(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  let text: string;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch (err) {
    throw new ClusterConfigError(
      `cluster.token: cannot read "${path}" (${err instanceof Error ? err.name : "error"}): ` +
        `point it at a readable file holding ${CREDENTIAL_HINT}`,
    );
  }
  return text === "" ? undefined : text;
}
