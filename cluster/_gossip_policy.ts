/**
 * Which gossip-advertised nodes this relay may dial with its cluster credential. A node advertised
 * under `.internal/origins/…` is only a claim made by some cluster member; dialing it hands it the
 * credential, so a gossip target must pass every rule:
 *
 * 1. **Allow-listed**: its scheme and host name equal those of this relay's own `[cluster] node`
 *    URL or of a configured `[cluster] connect` URL (any port). Gossip can add ports on hosts the
 *    operator already trusts, never new hosts, and never a weaker scheme.
 * 2. **Not clear text**: `ws://` targets are never dialed (the `?jwt=` credential would travel in
 *    the clear).
 * 3. **Verified**: `https://` / `wss://` only with certificate verification on (`[client.tls]
 *    disable_verify = false`) or a `[client.tls] fingerprint` pin. `http://` (the development form,
 *    pinned to whatever the peer serves at `/certificate.sha256`) only when the operator configured
 *    that very scheme and host by hand (rule 1 with scheme `http:`), i.e. a development cluster.
 *
 * Configured `connect` peers are the operator's own choice and are dialed as configured.
 *
 * @module
 */

import type { RelayConfig } from "../config/mod.ts";
import { fnv1a64 } from "../util/mod.ts";
import { parsePeerUrl, type PeerUrl } from "./_peer_url.ts";

/**
 * A gossip node that should be dialed by the other side but is still not linked to us after this
 * long is dialed by us (the other side may be passive, or an upstream relay whose rule is "the
 * smaller URL dials").
 */
export const GOSSIP_DIAL_GRACE_MS = 3_000;

/**
 * Which of two canonical node URLs dials the other. One bit of FNV-1a over the ordered pair picks
 * the side, so every pair is dialed by exactly one side whatever each node knows of the rest of
 * the cluster, and each node dials about half of its peers (rather than the lowest-sorting URL
 * dialing everyone and the highest no one).
 */
export function gossipDialer(a: string, b: string): string {
  const [low, high] = a < b ? [a, b] : [b, a];
  return (fnv1a64(`${low} ${high}`) & 1n) === 0n ? low : high;
}

/** Why a gossip target is not dialed (undefined = it may be dialed). */
export type GossipRefusal =
  | "not allow-listed"
  | "clear-text ws:// target"
  | "unverified TLS (disable_verify without a fingerprint pin)";

/** The gossip dial policy built from a configuration. */
export class GossipPolicy {
  /** `scheme//host` pairs the operator configured. */
  readonly #allowed = new Set<string>();
  readonly #verified: boolean;

  constructor(config: Pick<RelayConfig, "cluster" | "client">) {
    const sources = [...config.cluster.connect, ...(config.cluster.node ? [config.cluster.node] : [])];
    for (const text of sources) {
      try {
        this.#allowed.add(GossipPolicy.#key(parsePeerUrl(text)));
      } catch {
        // An unparsable entry allows nothing (the config loader reports it).
      }
    }
    const tls = config.client.tls;
    this.#verified = !tls.disableVerify || tls.fingerprint.length > 0;
  }

  static #key(peer: PeerUrl): string {
    return `${peer.dial.protocol}//${peer.dial.hostname.toLowerCase()}`;
  }

  /** Why `peer` (a gossip target) must not be dialed, or undefined when it may. */
  refusal(peer: PeerUrl): GossipRefusal | undefined {
    const scheme = peer.dial.protocol;
    if (scheme === "ws:") return "clear-text ws:// target";
    if (!this.#allowed.has(GossipPolicy.#key(peer))) return "not allow-listed";
    if ((scheme === "https:" || scheme === "wss:") && !this.#verified) {
      return "unverified TLS (disable_verify without a fingerprint pin)";
    }
    return undefined;
  }
}
