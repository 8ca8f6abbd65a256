/**
 * Liveness of a cluster link on the side that accepted it, so failover does not depend on which
 * side dialed. The dialer says in its dial URL how it can be watched:
 *
 * - `?tcp_port=`: the port of its own TCP listener. The acceptor keeps a death sensor on it (an
 *   idle TCP connection to the dialer's host, `_sensor.ts`): a dialer process that dies is noticed
 *   within milliseconds.
 * - `?ping_ms=`: it pings every this many ms (a PROBE stream, `_liveness.ts`). The acceptor sends
 *   no pings of its own: it counts the bidirectional streams the dialer opens, and a dialer silent
 *   for {@link ACCEPTED_SILENCE_MS} (hung, or its host gone without closing anything) is dead.
 *
 * Only sessions whose URL carries `ping_ms` are watched for silence (a cluster-credential client
 * that does not ping is never closed for it), and a stall of our own event loop is not blamed on
 * the peer. One timer per relay checks every watched link.
 *
 * @module
 */

import type { RelayConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { BidiStream, TransportSession } from "../transport/mod.ts";
import { parseHostPort } from "../util/mod.ts";
import { LIVENESS_PING_INTERVAL_MS } from "./_liveness.ts";
import { watchListener } from "./_sensor.ts";

/** Dial-URL query parameter by which a dialer says it pings every this many ms. */
export const PING_PARAM = "ping_ms";
/** Dial-URL query parameter naming the port of the dialer's own TCP listener. */
export const TCP_PORT_PARAM = "tcp_port";
/** An accepted link whose dialer opened no stream for this long is closed as dead. */
export const ACCEPTED_SILENCE_MS = 3 * LIVENESS_PING_INTERVAL_MS;
/** How often the accepted links are checked. */
const CHECK_INTERVAL_MS = 100;
/** A dialer announcing a slower ping than this is not watched for silence (it proves nothing). */
const MAX_WATCHED_PING_MS = ACCEPTED_SILENCE_MS / 3;
/** Session close code for a peer that stopped answering ("timeout", docs/protocol.md §9). */
const CODE_TIMEOUT = 3;

interface Watched {
  lastSeen: number;
  readonly transport: TransportSession;
}

/**
 * Watches the cluster links this relay accepted: a death sensor per link whose dialer named its
 * TCP port, and, for dialers that ping, one silence timer for all of them (running only while at
 * least one link is watched).
 */
export class AcceptedLinks {
  readonly #links = new Set<Watched>();
  readonly #log: Logger;
  readonly #silenceMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;

  constructor(logger: Logger, silenceMs = ACCEPTED_SILENCE_MS) {
    this.#log = logger.child("cluster");
    this.#silenceMs = silenceMs;
  }

  /** Links watched now. */
  get size(): number {
    return this.#links.size;
  }

  /**
   * Watch an accepted cluster link: a death sensor on the dialer's TCP listener when its dial URL
   * names one, and its silence when the URL says it pings. Returns `transport` as the session
   * should use it: wrapped, when watched for silence, so every stream the dialer opens counts as a
   * sign of life.
   */
  watch(transport: TransportSession): TransportSession {
    const params = transport.url.searchParams;
    const pingMs = Number(params.get(PING_PARAM));
    const pinging = pingMs > 0 && pingMs <= MAX_WATCHED_PING_MS;
    const link: Watched = { lastSeen: Date.now(), transport };
    const ended = new AbortController();
    transport.closed.then(() => {
      ended.abort();
      this.#links.delete(link);
      if (this.#links.size === 0) this.#stopTimer();
    });
    if (pinging) {
      this.#links.add(link);
      this.#startTimer();
    }
    const host = parseHostPort(transport.peer)?.host;
    const tcpPort = Number(params.get(TCP_PORT_PARAM));
    if (host !== undefined && Number.isInteger(tcpPort) && tcpPort > 0 && tcpPort < 65_536) {
      watchListener({ hostname: host, port: tcpPort }, {
        signal: ended.signal,
        onDead: () => {
          this.#links.delete(link);
          this.#log.warn(
            "cluster peer that dialed us is gone (its listener refuses connections); closing the link",
            {
              peer: transport.peer,
            },
          );
          transport.close(CODE_TIMEOUT, "peer gone");
        },
      }).catch(() => {});
    }
    return pinging ? new SeenTransport(transport, link) : transport;
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    this.#lastTick = Date.now();
    this.#timer = setInterval(() => this.#check(), CHECK_INTERVAL_MS);
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const now = Date.now();
    const stalled = now - this.#lastTick > CHECK_INTERVAL_MS + this.#silenceMs / 2;
    this.#lastTick = now;
    for (const link of this.#links) {
      // Our own loop stalled: the peer had no chance to be heard.
      if (stalled) link.lastSeen = now;
      const silentMs = now - link.lastSeen;
      if (silentMs <= this.#silenceMs) continue;
      this.#links.delete(link);
      this.#log.warn("cluster peer that dialed us stopped pinging; closing the link", {
        peer: link.transport.peer,
        silent_ms: silentMs,
      });
      link.transport.close(CODE_TIMEOUT, "peer unresponsive");
    }
    if (this.#links.size === 0) this.#stopTimer();
  }
}

/** A transport that records when the peer last opened a bidirectional stream. */
class SeenTransport implements TransportSession {
  readonly #inner: TransportSession;
  readonly #link: Watched;

  constructor(inner: TransportSession, link: Watched) {
    this.#inner = inner;
    this.#link = link;
  }

  get kind(): TransportSession["kind"] {
    return this.#inner.kind;
  }
  get protocol(): TransportSession["protocol"] {
    return this.#inner.protocol;
  }
  get url(): URL {
    return this.#inner.url;
  }
  get peer(): string {
    return this.#inner.peer;
  }
  get datagrams(): TransportSession["datagrams"] {
    return this.#inner.datagrams;
  }
  get closed(): TransportSession["closed"] {
    return this.#inner.closed;
  }
  openBidi(): ReturnType<TransportSession["openBidi"]> {
    return this.#inner.openBidi();
  }
  openUni(): ReturnType<TransportSession["openUni"]> {
    return this.#inner.openUni();
  }
  async acceptBidi(): Promise<BidiStream | null> {
    const stream = await this.#inner.acceptBidi();
    if (stream !== null) this.#link.lastSeen = Date.now();
    return stream;
  }
  acceptUni(): ReturnType<TransportSession["acceptUni"]> {
    return this.#inner.acceptUni();
  }
  close(code: number, reason: string): void {
    this.#inner.close(code, reason);
  }
}

/** The query parameters a dialer puts on its dial URL: `ping_ms`, and `tcp_port` when it has a TCP listener. */
export function linkParams(config: Pick<RelayConfig, "web">): [string, string][] {
  const out: [string, string][] = [[PING_PARAM, String(LIVENESS_PING_INTERVAL_MS)]];
  const listen = config.web.http?.listen ?? config.web.https?.listen;
  const port = listen === undefined ? undefined : parseHostPort(listen)?.port;
  if (port !== undefined && port > 0) out.push([TCP_PORT_PARAM, String(port)]);
  return out;
}
