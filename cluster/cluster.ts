/**
 * Cluster links: this relay dials its peers as an ordinary moq-lite client and runs a normal
 * session over each link. The link's grant is full (`put=[""] get=[""]`, internal): the relay
 * publishes its whole origin to the peer and ingests everything the peer offers. lite-04 hop ids
 * (each relay stamps its origin id; each relay's announce interest excludes its own id) stop loops
 * and echo; the origin merges routes to the same publisher and prefers the shortest.
 *
 * With `mesh = true` the relay advertises itself at `.internal/origins/<node URL>`; of each pair of
 * nodes one side, picked by a hash of the pair, dials the other (so each pair links once and the
 * links spread evenly); a node the other side should dial but has not within a grace period is
 * dialed anyway.
 *
 * Both ends of a link watch the other: a death sensor (an idle TCP connection to the peer's
 * listener, `_sensor.ts`) finds a dead peer process within milliseconds; the dialer's pings (a PROBE
 * stream every second, counted by the acceptor too, `_accepted.ts`) and the 2 s QUIC idle timeout
 * catch a hung peer or a vanished host. The dead peer's routes are then withdrawn and a redundant
 * route to the same publisher takes over, whichever side dialed and whatever the QUIC idle timeout.
 *
 * Reconnects use capped exponential backoff (1 s doubling to 10 s, 50–100 % jitter, reset after a
 * session lasted ≥ 10 s). A peer that refuses our credential (HTTP 401/403, or close code 6) keeps
 * doubling up to a one-minute ceiling instead of being hammered every 10 s, and a departed gossip
 * node is forgotten as soon as its advertisement ends (docs/relay.md §8 item 30). A gossip node already
 * linked to us directly (it dialed us) is not dialed back.
 *
 * Gossip targets are dialed with the cluster credential only when {@link GossipPolicy} allows it
 * (allow-listed scheme and host, never `ws://`, verified TLS); refused ones are listed in `/nodes`
 * as `advertised` with the reason in `last_error`. Every stored error is redacted (no `?jwt=`).
 *
 * @module
 */

import type { SessionGrant } from "../auth/mod.ts";
import type { RelayConfig } from "../config/mod.ts";
import { type Logger, redactedError, redactSecrets } from "../log/mod.ts";
import type { AnnounceEvent, BroadcastSource, Origin } from "../relay/mod.ts";
import { type CloseInfo, type TransportSession, WebTransportRefusedError } from "../transport/mod.ts";
import { linkParams } from "./_accepted.ts";
import { Backoff } from "./_backoff.ts";
import { dialPeer } from "./_dial.ts";
import { GOSSIP_DIAL_GRACE_MS, gossipDialer, GossipPolicy } from "./_gossip_policy.ts";
import { watchLiveness } from "./_liveness.ts";
import { preflight, readClusterToken } from "./_preflight.ts";
import { listenerNotRefused, listenerOf, unreachableReason } from "./_reach.ts";
import { watchListener } from "./_sensor.ts";
import {
  linkIdentity,
  nodeFromPath,
  nodePath,
  ORIGINS_PREFIX,
  parsePeerUrl,
  type PeerUrl,
} from "./_peer_url.ts";
import { watchPeerList } from "./_connect_api.ts";
import { sleep } from "../util/mod.ts";

/** Refused gossip targets remembered for `/nodes` (oldest forgotten first). */
export const MAX_REFUSED_TRACKED = 256;

/** Session close code for "unauthorized" (docs/protocol.md §9). */
const CODE_UNAUTHORIZED = 6;
/** Session close code for a peer that stopped answering pings ("timeout", docs/protocol.md §9). */
const CODE_TIMEOUT = 3;

/**
 * One peer as `/nodes` shows it. `state`: `connecting` (dialing), `connected`, `backoff` (waiting
 * to redial after a failure or disconnect), `rejected` (the peer refused our credential; waiting
 * on the longer ceiling), `stopped`, or `advertised` (a gossip node we do not dial: it dials us).
 */
export interface NodeInfo {
  node: string;
  /** The peer's origin id (decimal), when its gossip advertisement is known. */
  origin_id: string | null;
  source: "config" | "gossip" | "api";
  state: "connecting" | "connected" | "backoff" | "rejected" | "stopped" | "advertised";
  /** `outbound` for links we dial; null for advertised nodes we leave to dial us. */
  direction: "outbound" | null;
  last_error: string | null;
  connected_since: string | null;
  /** Dial attempts so far. */
  attempts: number;
  /** When the next dial is due (backoff / rejected), else null. */
  retry_at: string | null;
}

/** A running cluster. */
export interface Cluster {
  /** The peers and their state. */
  nodes(): NodeInfo[];
}

/** A session the host runs on a cluster link; the cluster only waits for its end. */
export interface ClusterSession {
  /** Settles when the session ends. */
  readonly done: Promise<CloseInfo>;
}

/**
 * What the cluster needs from the relay that hosts it: the origin tree (gossip advertisements,
 * the `/nodes` view) and a way to run a moq-lite session on a dialed link. The server passes its
 * relay core in; the cluster never depends on the server.
 */
export interface ClusterHost {
  /** The relay's origin tree. */
  readonly origin: Origin;
  /** Run a moq-lite session, as the client side, on a dialed and authenticated link. */
  accept(transport: TransportSession, grant: SessionGrant, role: "client"): ClusterSession;
}

/** Options for {@link startCluster}. */
export interface ClusterOptions {
  config: RelayConfig;
  logger: Logger;
  host: ClusterHost;
  signal: AbortSignal;
}

/** A link to one peer, redialed until stopped. */
class PeerLink {
  readonly peer: PeerUrl;
  readonly source: NodeInfo["source"];
  state: NodeInfo["state"] = "connecting";
  lastError: string | null = null;
  connectedSince: number | null = null;
  retryAt: number | null = null;
  attempts = 0;
  readonly #stop = new AbortController();
  readonly #options: ClusterOptions;
  readonly #log: Logger;
  readonly #token: string | undefined;
  #transport: TransportSession | null = null;

  constructor(
    peer: PeerUrl,
    source: NodeInfo["source"],
    token: string | undefined,
    options: ClusterOptions,
  ) {
    this.peer = peer;
    this.source = source;
    this.#token = peer.token ?? token;
    this.#options = options;
    this.#log = options.logger.child("cluster", { peer: peer.canonical });
    // Removed with the link (a forgotten gossip peer leaves no listener behind).
    options.signal.addEventListener("abort", () => this.stop(), { once: true, signal: this.#stop.signal });
  }

  stop(): void {
    this.state = "stopped";
    this.#stop.abort();
    this.#transport?.close(0, "peer removed");
  }

  info(originId: number | undefined): NodeInfo {
    return {
      node: this.peer.canonical,
      origin_id: originId === undefined ? null : String(originId),
      source: this.source,
      state: this.state,
      direction: "outbound",
      last_error: this.lastError,
      connected_since: this.connectedSince === null ? null : new Date(this.connectedSince).toISOString(),
      attempts: this.attempts,
      retry_at: this.retryAt === null ? null : new Date(this.retryAt).toISOString(),
    };
  }

  async run(): Promise<void> {
    const { config, host } = this.#options;
    const signal = this.#stop.signal;
    const backoff = new Backoff();
    while (!signal.aborted) {
      this.attempts++;
      this.state = "connecting";
      this.retryAt = null;
      this.#log.info("dialing cluster peer", { attempt: this.attempts });
      let lasted = 0;
      let rejected = false;
      try {
        const url = new URL(this.peer.dial.href);
        if (this.#token) url.searchParams.set("jwt", this.#token);
        // How the peer watches us: we ping, and our TCP listener's port for its death sensor
        // (cluster/_accepted.ts).
        for (const [key, value] of linkParams(config)) url.searchParams.set(key, value);
        const transport = await dialPeer(url, {
          logger: this.#options.logger,
          client: config.client,
          quic: config.server.quic,
          signal,
        });
        if (signal.aborted) {
          // Removed while the dial was finishing: do not start a session nobody will stop.
          transport.close(0, "peer removed");
          break;
        }
        this.#transport = transport;
        const grant: SessionGrant = {
          root: "",
          publish: [""],
          subscribe: [""],
          internal: true,
          anonymous: false,
          linkCost: this.peer.cost,
          dialed: true,
        };
        const session = host.accept(transport, grant, "client");
        const linkDone = new AbortController();
        watchLiveness(transport, {
          signal: AbortSignal.any([linkDone.signal, signal]),
          stillThere: () => listenerNotRefused(this.peer.dial),
          onDead: (silentMs) => {
            this.#log.warn("cluster peer unresponsive; closing the link", { silent_ms: silentMs });
            transport.close(CODE_TIMEOUT, "peer unresponsive");
          },
        });
        // Instant death detection: the peer's kernel closes our idle TCP connection when it dies.
        watchListener(listenerOf(this.peer.dial), {
          signal: AbortSignal.any([linkDone.signal, signal]),
          onDead: () => {
            this.#log.warn(
              "cluster peer gone (its listener closed and refuses connections); closing the link",
            );
            transport.close(CODE_TIMEOUT, "peer gone");
          },
        }).catch(() => {});
        const connectedAt = Date.now();
        this.state = "connected";
        this.connectedSince = connectedAt;
        this.lastError = null;
        this.#log.info("cluster peer connected");
        const info = await session.done.finally(() => linkDone.abort());
        lasted = Date.now() - connectedAt;
        this.#transport = null;
        this.connectedSince = null;
        if (signal.aborted) break;
        rejected = info.code === CODE_UNAUTHORIZED && info.remote === true;
        this.lastError = redactSecrets(
          `session closed: code ${info.code}${info.reason ? ` (${info.reason})` : ""}`,
        );
        this.#log.warn("cluster peer disconnected", { code: info.code, reason: this.lastError });
      } catch (err) {
        if (signal.aborted) break;
        rejected = err instanceof WebTransportRefusedError && (err.status === 401 || err.status === 403);
        // A dead peer makes the http:// certificate fetch fail: say so, not "enable its listener".
        const unreachable = rejected ? undefined : await unreachableReason(this.peer.dial, err);
        // Dial errors may carry the dialed URL, `?jwt=` included: stored and served redacted.
        this.lastError = unreachable ?? redactedError(err);
        const what = rejected
          ? "cluster peer refused our credential"
          : unreachable
          ? "cluster peer unreachable"
          : "cluster dial failed";
        this.#log.warn(what, { error: this.lastError, attempt: this.attempts });
      }
      const delay = backoff.next({ lastedMs: lasted, rejected });
      this.state = rejected ? "rejected" : "backoff";
      this.retryAt = Date.now() + delay;
      await sleep(delay, signal);
    }
    this.state = "stopped";
    this.retryAt = null;
  }
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

/** Start dialing the configured peers and, with `mesh`, gossip. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { config, host, signal } = options;
  const log = options.logger.child("cluster");
  const links = new Map<string, PeerLink>();
  const token = await readClusterToken(config.cluster.token);
  for (const warning of preflight(config, token).warnings) log.warn(warning);
  const self = config.cluster.node ? parsePeerUrl(config.cluster.node).canonical : undefined;

  const policy = new GossipPolicy(config);
  /** Gossip targets refused by the policy (canonical URL → why), for `/nodes` and one log line each. */
  const refused = new Map<string, string>();
  const add = (peer: PeerUrl, source: NodeInfo["source"]) => {
    if (links.has(peer.canonical) || peer.canonical === self) return;
    if (source === "gossip") {
      const why = policy.refusal(peer);
      if (why !== undefined) {
        if (!refused.has(peer.canonical)) {
          if (refused.size >= MAX_REFUSED_TRACKED) refused.delete(refused.keys().next().value!);
          refused.set(peer.canonical, why);
          log.warn(
            "not dialing gossip node: the cluster credential goes only to allow-listed, verified peers",
            {
              node: peer.canonical,
              reason: why,
            },
          );
        }
        return;
      }
    }
    const link = new PeerLink(peer, source, token, options);
    links.set(peer.canonical, link);
    link.run().catch((err) => log.error("cluster link failed", { peer: peer.canonical, error: String(err) }));
  };

  for (const url of config.cluster.connect) {
    const peer = parsePeerUrl(url);
    const scheme = peer.dial.protocol;
    if ((peer.token ?? token) && (scheme === "ws:" || scheme === "http:")) {
      log.warn("this cluster peer gets the cluster credential without a verified certificate", {
        peer: peer.canonical,
        hint: scheme === "ws:"
          ? "ws:// is clear text: use wss:// outside development"
          : "http:// pins whatever certificate the peer serves: use https:// outside development",
      });
    }
    add(peer, "config");
  }

  if (config.cluster.mesh && config.cluster.node && self) {
    log.info("advertising cluster node", { node: self });
    const pub = host.origin.publish(nodePath(self), advertisement("gossip"));
    signal.addEventListener("abort", () => pub.end(false), { once: true });
    // One side of each pair dials (see gossipDialer). An advertisement that reached us in one hop
    // came straight from the node, over a link it dialed: dialing back would only duplicate it.
    /** Nodes the other side should dial: checked once after the grace period. */
    const awaiting = new Map<string, ReturnType<typeof setTimeout>>();
    const directlyLinked = (node: string) => host.origin.get(nodePath(node))?.hops.length === 1;
    const discovered = (e: AnnounceEvent) => {
      const node = nodeFromPath(e.path);
      if (!node || node === self || e.hops.length === 1 || links.has(node)) return;
      const peer = parsePeerUrl(node);
      // A target the policy refuses is listed (and logged) as such whichever side should dial.
      if (gossipDialer(self, node) === self || policy.refusal(peer) !== undefined) return add(peer, "gossip");
      if (awaiting.has(node) || awaiting.size >= MAX_REFUSED_TRACKED) return;
      awaiting.set(
        node,
        setTimeout(() => {
          awaiting.delete(node);
          if (signal.aborted || links.has(node) || directlyLinked(node)) return;
          if (host.origin.get(nodePath(node)) === undefined) return; // departed meanwhile
          log.info("gossip node did not dial us; dialing it", { node });
          add(parsePeerUrl(node), "gossip");
        }, GOSSIP_DIAL_GRACE_MS),
      );
    };
    signal.addEventListener("abort", () => {
      for (const timer of awaiting.values()) clearTimeout(timer);
      awaiting.clear();
    }, { once: true });
    const watch = host.origin.watch(ORIGINS_PREFIX, (e) => {
      if (e.active) return discovered(e);
      const node = nodeFromPath(e.path);
      const link = node === undefined ? undefined : links.get(node);
      if (node !== undefined) {
        refused.delete(node);
        clearTimeout(awaiting.get(node));
        awaiting.delete(node);
      }
      if (node !== undefined && link && link.source === "gossip") {
        log.info("gossip node departed; forgetting it", { node });
        link.stop();
        links.delete(node);
      }
    });
    for (const e of watch.initial) discovered(e);
    signal.addEventListener("abort", () => watch.stop(), { once: true });
  } else if (links.size === 0 && config.cluster.connectApi === undefined) {
    log.info("no cluster peers configured; running standalone");
  }

  if (config.cluster.connectApi !== undefined) {
    /** Identity (URL, credential, cost) of each link dialed from the list. */
    const listed = new Map<string, string>();
    const apply = (list: string[]) => {
      const wanted = new Map<string, PeerUrl>();
      for (const text of list) {
        const peer = parsePeerUrl(text);
        if (peer.canonical !== self) wanted.set(peer.canonical, peer);
      }
      for (const [canonical, identity] of listed) {
        const want = wanted.get(canonical);
        if (want && linkIdentity(want) === identity) continue;
        listed.delete(canonical);
        const link = links.get(canonical);
        if (link?.source !== "api") continue;
        log.info(
          want
            ? "peer list changed this peer's URL, cost or credential; redialing"
            : "peer removed by the peer list",
          {
            peer: canonical,
          },
        );
        link.stop();
        links.delete(canonical);
      }
      for (const [canonical, peer] of wanted) {
        if (listed.has(canonical) || links.has(canonical)) continue;
        listed.set(canonical, linkIdentity(peer));
        add(peer, "api");
      }
      log.info("peer list applied", { peers: wanted.size });
    };
    watchPeerList({
      source: config.cluster.connectApi,
      node: self,
      logger: options.logger,
      signal,
      onList: apply,
    }).catch((err) => log.error("peer list watcher failed", { error: String(err) }));
  }

  /** Advertised nodes (canonical URL → origin id), from the gossip broadcasts we know. */
  const advertised = () => {
    const out = new Map<string, number | undefined>();
    for (const path of host.origin.list(ORIGINS_PREFIX)) {
      const node = nodeFromPath(path);
      if (node === undefined || node === self) continue;
      const hops = host.origin.get(path)?.hops ?? [];
      out.set(node, hops[0] ? Number(hops[0]) : undefined); // our nodes' ids are below 2^53
    }
    return out;
  };
  return {
    nodes: () => {
      const ads = advertised();
      const out = [...links.values()].map((l) => l.info(ads.get(l.peer.canonical)));
      for (const [node, id] of ads) {
        if (links.has(node)) continue;
        out.push({
          node,
          origin_id: id === undefined ? null : String(id),
          source: "gossip",
          state: "advertised",
          direction: null,
          last_error: refused.has(node) ? `not dialed: ${refused.get(node)}` : null,
          connected_since: null,
          attempts: 0,
          retry_at: null,
        });
      }
      return out;
    },
  };
}
