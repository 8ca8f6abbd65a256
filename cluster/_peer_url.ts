/**
 * Cluster peer URLs: canonical identity (no query, lower-case host, default port dropped), the
 * credential carried by `?jwt=`, and the mapping between node URLs and gossip paths under
 * `.internal/origins/`.
 *
 * @module
 */

import { INTERNAL_PREFIX } from "../auth/mod.ts";
import { redactSecrets } from "../log/mod.ts";

/** Raised for a peer URL that cannot be dialed. */
export class PeerUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerUrlError";
  }
}

/** The gossip prefix: every mesh node publishes an empty broadcast below it. */
export const ORIGINS_PREFIX = `${INTERNAL_PREFIX}/origins`;

const DEFAULT_PORTS: Record<string, string> = { "https:": "443", "http:": "80", "wss:": "443", "ws:": "80" };

/** A parsed peer URL. */
export interface PeerUrl {
  /** Canonical identity (no query, no default port, trailing `/`). */
  canonical: string;
  /** The URL to dial (without `jwt`). */
  dial: URL;
  /** The inline token, if any (`?jwt=`, empty = none). */
  token?: string;
  /** The link price from `?cost=` (a whole number ≥ 0), if given. */
  cost?: number;
}

/**
 * What a link to `peer` is dialed with: a change of URL, credential or cost means a new link.
 * Holds the credential: compare it, never log or serve it.
 */
export function linkIdentity(peer: PeerUrl): string {
  return JSON.stringify([peer.dial.href, peer.token ?? null, peer.cost ?? null]);
}

/** Parse and canonicalise a peer URL (a bare `host[:port]` means `https://host[:port]/`). */
export function parsePeerUrl(text: string): PeerUrl {
  let raw = text.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) raw = `https://${raw}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PeerUrlError(`invalid cluster peer URL "${redactSecrets(text)}": expected https://host:port/`);
  }
  if (!(url.protocol in DEFAULT_PORTS)) {
    throw new PeerUrlError(
      `unsupported scheme in cluster peer URL "${
        redactSecrets(text)
      }": use https://, http://, wss:// or ws://`,
    );
  }
  const token = url.searchParams.getAll("jwt").filter((t) => t !== "").pop();
  const costText = url.searchParams.get("cost");
  let cost: number | undefined;
  if (costText !== null && costText !== "") {
    cost = Number(costText);
    if (!Number.isSafeInteger(cost) || cost < 0) {
      throw new PeerUrlError(
        `invalid ?cost= in cluster peer URL "${redactSecrets(text)}": expected a whole number ≥ 0`,
      );
    }
  }
  url.searchParams.delete("jwt");
  url.searchParams.delete("cost");
  const dial = new URL(url.href);
  const port = url.port && url.port !== DEFAULT_PORTS[url.protocol] ? `:${url.port}` : "";
  const path = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  const canonical = `${url.protocol}//${url.hostname.toLowerCase()}${port}${path}`;
  return { canonical, dial, token, cost };
}

/** The gossip path that advertises `nodeUrl`. */
export function nodePath(nodeUrl: string): string {
  const canonical = parsePeerUrl(nodeUrl).canonical;
  return `${ORIGINS_PREFIX}/${canonical.replace(/\/+$/, "")}`;
}

/** The node URL advertised by a gossip path (restores `scheme:/host` → `scheme://host`). */
export function nodeFromPath(path: string): string | undefined {
  if (!path.startsWith(ORIGINS_PREFIX + "/")) return undefined;
  const rest = path.slice(ORIGINS_PREFIX.length + 1).replace(/^([a-z][a-z0-9+.-]*):\/?(?!\/)/i, "$1://");
  try {
    return parsePeerUrl(rest).canonical;
  } catch {
    return undefined;
  }
}
