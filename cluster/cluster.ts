/**
 * Cluster links: this relay dials its peers as an ordinary moq-lite client and runs a normal
 * session over each link. The link's grant is full (`put=[""] get=[""]`, internal): the relay
 * publishes its whole origin to the peer and ingests everything the peer offers. lite-04 hop ids
 * (each relay stamps its origin id; each relay's announce interest excludes its own id) stop loops
 * and echo; the origin merges routes to the same publisher and prefers the shortest.
 *
 * With `mesh = true` the relay advertises itself at `.internal/origins/<node URL>` and dials every
 * advertised node whose canonical URL sorts after its own (so each pair links once).
 *
 * Reconnects use capped exponential backoff (1 s doubling to 10 s, 50–100 % jitter, reset after a
 * session lasted ≥ 10 s); a departed gossip node is forgotten at once (relay.md §8 item 30).
 *
 * @module
 */

import type { SessionGrant } from "../auth/types.ts";
import type { RelayConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import type { BroadcastSource } from "../relay/broadcast.ts";
import type { RelayCore } from "../server/relay_server.ts";
import type { TransportSession } from "../transport/types.ts";
import { dialPeer } from "./dial.ts";
import { nodeFromPath, nodePath, ORIGINS_PREFIX, parsePeerUrl, type PeerUrl } from "./peer_url.ts";

/** First reconnect delay. */
export const BACKOFF_INITIAL_MS = 1_000;
/** Reconnect delay ceiling. */
export const BACKOFF_MAX_MS = 10_000;
/** A session that lasted this long resets the backoff. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

/** One peer as `/nodes` shows it. */
export interface NodeInfo {
  node: string;
  origin_id: string | null;
  source: "config" | "gossip";
  state: "connecting" | "connected" | "backoff" | "stopped";
  direction: "outbound";
  last_error: string | null;
  connected_since: string | null;
  attempts: number;
}

/** A running cluster. */
export interface Cluster {
  /** The peers and their state. */
  nodes(): NodeInfo[];
}

/** Options for {@link startCluster}. */
export interface ClusterOptions {
  config: RelayConfig;
  logger: Logger;
  core: RelayCore;
  signal: AbortSignal;
}

/** A link to one peer, redialed until stopped. */
class PeerLink {
  readonly peer: PeerUrl;
  readonly source: "config" | "gossip";
  state: NodeInfo["state"] = "connecting";
  lastError: string | null = null;
  connectedSince: number | null = null;
  attempts = 0;
  readonly #stop = new AbortController();
  readonly #options: ClusterOptions;
  readonly #log: Logger;
  readonly #token: string | undefined;
  #transport: TransportSession | null = null;

  constructor(peer: PeerUrl, source: "config" | "gossip", token: string | undefined, options: ClusterOptions) {
    this.peer = peer;
    this.source = source;
    this.#token = peer.token ?? token;
    this.#options = options;
    this.#log = options.logger.child("cluster", { peer: peer.canonical });
    options.signal.addEventListener("abort", () => this.stop(), { once: true });
  }

  stop(): void {
    this.state = "stopped";
    this.#stop.abort();
    this.#transport?.close(0, "peer removed");
  }

  info(): NodeInfo {
    return {
      node: this.peer.canonical,
      origin_id: null,
      source: this.source,
      state: this.state,
      direction: "outbound",
      last_error: this.lastError,
      connected_since: this.connectedSince === null ? null : new Date(this.connectedSince).toISOString(),
      attempts: this.attempts,
    };
  }

  async run(): Promise<void> {
    const { config, core } = this.#options;
    const signal = this.#stop.signal;
    let backoff = BACKOFF_INITIAL_MS;
    while (!signal.aborted) {
      this.attempts++;
      this.state = "connecting";
      this.#log.info("dialing cluster peer", { attempt: this.attempts });
      const started = Date.now();
      try {
        const url = new URL(this.peer.dial.href);
        if (this.#token) url.searchParams.set("jwt", this.#token);
        const transport = await dialPeer(url, {
          logger: this.#options.logger,
          client: config.client,
          signal,
        });
        this.#transport = transport;
        const grant: SessionGrant = {
          root: "",
          publish: [""],
          subscribe: [""],
          internal: true,
          anonymous: false,
        };
        const session = core.accept(transport, grant, "client");
        this.state = "connected";
        this.connectedSince = Date.now();
        this.lastError = null;
        this.#log.info("cluster peer connected");
        const info = await session.done;
        this.#transport = null;
        this.connectedSince = null;
        if (signal.aborted) break;
        this.lastError = `session closed: code ${info.code}${info.reason ? ` (${info.reason})` : ""}`;
        this.#log.warn("cluster peer disconnected", { code: info.code, reason: info.reason });
      } catch (err) {
        if (signal.aborted) break;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.#log.warn("cluster dial failed", { error: this.lastError });
      }
      if (Date.now() - started >= BACKOFF_RESET_AFTER_MS) backoff = BACKOFF_INITIAL_MS;
      const delay = backoff * (0.5 + Math.random() * 0.5);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      this.state = "backoff";
      await sleep(delay, signal);
    }
    this.state = "stopped";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** An announce-only broadcast: the gossip advertisement carries no tracks. */
function advertisement(label: string): BroadcastSource {
  return {
    label,
    hops: [],
    subscribe: (track) => {
      queueMicrotask(() => track.upstreamEnded(13));
      return { cancel: () => {} };
    },
  };
}

async function readClusterToken(config: RelayConfig): Promise<string | undefined> {
  if (!config.cluster.token) return undefined;
  const text = (await Deno.readTextFile(config.cluster.token)).trim();
  return text === "" ? undefined : text;
}

/** Start dialing the configured peers and, with `mesh`, gossip. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { config, core, signal } = options;
  const log = options.logger.child("cluster");
  const links = new Map<string, PeerLink>();
  const token = await readClusterToken(config);
  const self = config.cluster.node ? parsePeerUrl(config.cluster.node).canonical : undefined;

  const add = (peer: PeerUrl, source: "config" | "gossip") => {
    if (links.has(peer.canonical) || peer.canonical === self) return;
    const link = new PeerLink(peer, source, token, options);
    links.set(peer.canonical, link);
    link.run().catch((err) => log.error("cluster link failed", { peer: peer.canonical, error: String(err) }));
  };

  for (const url of config.cluster.connect) add(parsePeerUrl(url), "config");

  if (config.cluster.mesh && config.cluster.node && self) {
    log.info("advertising cluster node", { node: self });
    const pub = core.origin.publish(nodePath(self), advertisement("gossip"));
    signal.addEventListener("abort", () => pub.end(false), { once: true });
    // Only relays that dial anyway (or are told to mesh) follow the gossip; the smaller URL dials.
    const watch = core.origin.watch(ORIGINS_PREFIX, (e) => {
      const node = nodeFromPath(e.path);
      if (!node || node === self) return;
      if (e.active) {
        if (node > self) add(parsePeerUrl(node), "gossip");
      } else {
        const link = links.get(node);
        if (link && link.source === "gossip") {
          log.info("gossip node departed; forgetting it", { node });
          link.stop();
          links.delete(node);
        }
      }
    });
    for (const e of watch.initial) {
      const node = nodeFromPath(e.path);
      if (node && node !== self && node > self) add(parsePeerUrl(node), "gossip");
    }
    signal.addEventListener("abort", () => watch.stop(), { once: true });
  } else if (links.size === 0) {
    log.info("no cluster peers configured; running standalone");
  }
  return { nodes: () => [...links.values()].map((l) => l.info()) };
}
