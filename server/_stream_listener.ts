/**
 * `[server.tcp]` and `[server.unix]` (docs/relay.md §1.3): plaintext qmux listeners for local
 * workers. Every accepted connection runs the qmux-01 handshake with in-band protocol negotiation
 * (transport/stream/), is authenticated like any other session, and joins the relay core.
 *
 * Authentication: a stream connection has no URL, so the credential must ride in the moq-lite-05
 * SETUP Path (`/path?jwt=…`). Until the session layer hands that path over, a stream session is
 * authenticated as a tokenless connection to the root `/` (the configured public access, or the
 * auth API's answer for `root=`), through {@link StreamAuthorizer}; the lite-05 SETUP path plugs
 * in by calling the same authorizer with `moq+tcp://local/<path>?jwt=…`.
 *
 * The Unix socket file is created with mode 0660 (restrict access further with the directory's
 * permissions); a stale socket file at the path is replaced, one a process still listens on is not.
 *
 * @module
 */

import { AuthError, type SessionGrant } from "../auth/mod.ts";
import type { RelayConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  acceptQmuxStream,
  type NegotiatedProtocol,
  type TransportSession,
  versionOffer,
} from "../transport/mod.ts";
import type { AcceptFailureClass } from "../relay/mod.ts";
import { parseHostPort, sleep } from "../util/mod.ts";
import { MAX_CONNECTIONS_PER_IP, PeerCounter } from "../http/mod.ts";
import { CODE_BOUNDS_EXCEEDED } from "./admission.ts";
import { authorisesAtSetup, type RelayCore, SETUP_PENDING_GRANT } from "./_relay_server.ts";

/** Mode of the Unix socket file. */
export const UNIX_SOCKET_MODE = 0o660;
/**
 * Handshakes in progress at once per listener. A connection beyond it evicts the oldest pending
 * handshake instead of being refused, so idle connections cannot lock well-behaved workers out.
 */
export const MAX_PENDING_STREAM_HANDSHAKES = 64;
/**
 * Handshakes in progress at once from one TCP peer address; a new one from that address evicts
 * its oldest. (Unix-socket peers are indistinguishable here: the listener-wide cap applies.)
 */
export const MAX_PENDING_HANDSHAKES_PER_PEER = 8;
/**
 * How long an accepted connection has to send its qmux transport parameters (local workers send
 * them at once; the byte-stream default is longer).
 */
export const STREAM_LISTENER_HANDSHAKE_TIMEOUT_MS = 3_000;
/** Pause before accepting again after an accept failure that is not a dead connection. */
export const ACCEPT_EXHAUSTED_BACKOFF_MS = 100;

/**
 * Least time between two "out of resources" warnings of one listener: a process hovering at its
 * descriptor limit (sessions closing one by one, each freed descriptor taken at once) starts many
 * short episodes; each is counted on /metrics, one warning stands for them all.
 */
export const ACCEPT_EXHAUSTED_WARN_INTERVAL_MS = 30_000;

/** Classify an accept error the way `moq_relay_accept_failures_total{class}` counts it. */
export function classifyAcceptError(err: unknown): AcceptFailureClass {
  if (
    err instanceof Deno.errors.ConnectionAborted || err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionRefused || err instanceof Deno.errors.TimedOut ||
    err instanceof Deno.errors.Interrupted
  ) return "connection";
  const text = err instanceof Error ? err.message : String(err);
  if (/too many open files|os error (23|24|12|105)\b|no buffer space|cannot allocate memory/i.test(text)) {
    return "exhausted";
  }
  if (/connection (aborted|reset)|os error (103|104|71|110)\b/i.test(text)) return "connection";
  return "unknown";
}

/** Raised when a stream listener cannot start. */
export class StreamListenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamListenError";
  }
}

/** Resolves the grant of a stream session from its URL (`moq+<kind>://local/<path>?jwt=…`). */
export type StreamAuthorizer = (url: URL, kind: "tcp" | "unix", peer: string) => Promise<SessionGrant>;

/** A running stream listener. */
export interface StreamListener {
  /** `host:port` or the socket path. */
  address: string;
  /** Resolves when the listener stopped. */
  finished: Promise<void>;
}

/** The moq-lite versions `[server] version` enables, most preferred first (no IETF over byte streams). */
function protocols(config: RelayConfig): NegotiatedProtocol[] {
  return versionOffer(config.server.versions).protocols.filter((p) => p.startsWith("moq-lite-"));
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isSocket) {
      throw new StreamListenError(
        `server.unix.bind: ${path} exists and is not a socket; remove it or choose another path`,
      );
    }
    // A socket somebody still answers on belongs to a running process: do not steal it.
    const live = await Deno.connect({ path, transport: "unix" }).then((c) => {
      c.close();
      return true;
    }, () => false);
    if (live) {
      throw new StreamListenError(
        `server.unix.bind: ${path} is in use by another process; stop it or choose another path`,
      );
    }
    await Deno.remove(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
}

/** Bind one stream listener and start accepting; throws {@link StreamListenError}. */
export async function startStreamListener(
  kind: "tcp" | "unix",
  bind: string,
  config: RelayConfig,
  core: RelayCore,
  logger: Logger,
  signal: AbortSignal,
): Promise<StreamListener> {
  const log = logger.child(kind);
  let listener: Deno.Listener;
  try {
    if (kind === "tcp") {
      const parsed = parseHostPort(bind);
      if (parsed === undefined) throw new StreamListenError(`server.tcp.bind: invalid address ${bind}`);
      listener = Deno.listen({ hostname: parsed.host, port: parsed.port, transport: "tcp" });
    } else {
      await removeStaleSocket(bind);
      listener = Deno.listen({ path: bind, transport: "unix" });
      await Deno.chmod(bind, UNIX_SOCKET_MODE);
    }
  } catch (e) {
    if (e instanceof StreamListenError) throw e;
    throw new StreamListenError(
      `server.${kind}.bind: cannot listen on ${bind}: ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
  const address = kind === "tcp"
    ? `${(listener.addr as Deno.NetAddr).hostname}:${(listener.addr as Deno.NetAddr).port}`
    : bind;
  signal.addEventListener("abort", () => {
    try {
      listener.close();
    } catch {
      // closed
    }
  }, { once: true });
  const authorize: StreamAuthorizer = (url, k, peer) => core.auth.authenticate(url, k, peer);
  /** Handshakes in progress, oldest first, with their peer's address. */
  const pending = new Map<Deno.Conn, string>();
  const perPeer = new Map<string, number>();
  let accepted = 0;
  // Live sessions per TCP address, as on the QUIC and WebSocket listeners (Unix-socket clients are
  // local and indistinguishable here).
  const livePerIp = new PeerCounter(MAX_CONNECTIONS_PER_IP);
  let refusedPerIp = 0;
  const evict = (host: string | undefined) => {
    for (const [conn, h] of pending) {
      if (host !== undefined && h !== host) continue;
      pending.delete(conn);
      perPeer.set(h, (perPeer.get(h) ?? 1) - 1);
      if (perPeer.get(h)! <= 0) perPeer.delete(h);
      try {
        conn.close();
      } catch {
        // closed
      }
      return;
    }
  };
  const handle = async (conn: Deno.Conn) => {
    const host = kind === "tcp" ? (conn.remoteAddr as Deno.NetAddr).hostname : "unix";
    const peer = kind === "tcp"
      ? `${host}:${(conn.remoteAddr as Deno.NetAddr).port}`
      : `${bind}#${++accepted}`;
    if (core.draining) {
      conn.close();
      core.stats.connectionErrors++;
      return;
    }
    // Make room: the peer's own oldest handshake first, else the listener's oldest.
    if ((perPeer.get(host) ?? 0) >= MAX_PENDING_HANDSHAKES_PER_PEER) evict(host);
    else if (pending.size >= MAX_PENDING_STREAM_HANDSHAKES) evict(undefined);
    pending.set(conn, host);
    perPeer.set(host, (perPeer.get(host) ?? 0) + 1);
    let session: TransportSession;
    try {
      session = await acceptQmuxStream(conn, {
        kind,
        protocols: protocols(config),
        peer,
        logger,
        maxOpenStreams: config.limits.maxStreamsPerSession,
        timeoutMs: STREAM_LISTENER_HANDSHAKE_TIMEOUT_MS,
      });
    } catch (e) {
      core.stats.connectionErrors++;
      // An evicted handshake is no longer in `pending`; a flood of them is not logged one by one.
      if (pending.has(conn)) {
        log.info("qmux handshake failed", { peer, err: e instanceof Error ? e.message : String(e) });
      }
      return;
    } finally {
      if (pending.delete(conn)) {
        const n = (perPeer.get(host) ?? 1) - 1;
        if (n <= 0) perPeer.delete(host);
        else perPeer.set(host, n);
      }
    }
    if (kind === "tcp") {
      if (!livePerIp.acquire(host)) {
        core.stats.connectionErrors++;
        // One line per 100 refusals: a flood must not flood the log too.
        if (refusedPerIp++ % 100 === 0) {
          log.warn("too many qmux sessions from one address; closing the new one", {
            peer,
            max: MAX_CONNECTIONS_PER_IP,
          });
        }
        session.close(CODE_BOUNDS_EXCEEDED, "too many sessions from this address");
        return;
      }
      session.closed.finally(() => livePerIp.release(host));
    }
    try {
      if (authorisesAtSetup(session.protocol)) {
        // The SETUP Path carries the root and `?jwt=`: authorise once it is read.
        core.accept(session, SETUP_PENDING_GRANT, "server", (url) => authorize(url, kind, host));
        return;
      }
      core.accept(session, await authorize(session.url, kind, host));
    } catch (e) {
      core.stats.connectionErrors++;
      session.close(e instanceof AuthError ? e.closeCode : 6, "unauthorized");
    }
  };
  const health = core.stats.acceptHealth(kind);
  let warnedAtMs = -Infinity;
  const finished = (async () => {
    try {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (e) {
          if (signal.aborted || e instanceof Deno.errors.BadResource) break;
          const cls = classifyAcceptError(e);
          const first = health.stalledSinceMs === undefined;
          health.failed(cls);
          if (cls === "exhausted") {
            // One line per episode (not one per retry), and at most one per interval.
            const now = Date.now();
            if (first && now - warnedAtMs >= ACCEPT_EXHAUSTED_WARN_INTERVAL_MS) {
              warnedAtMs = now;
              log.warn("cannot accept connections: the process is out of resources; retrying", {
                err: e instanceof Error ? e.message : String(e),
              });
            } else if (first) {
              log.debug("out of resources again", { err: e instanceof Error ? e.message : String(e) });
            }
          }
          // A dead connection retries at once; anything else backs off instead of spinning.
          if (cls !== "connection") await sleep(ACCEPT_EXHAUSTED_BACKOFF_MS, signal);
          continue;
        }
        if (health.stalledSinceMs !== undefined) {
          log.info("accepting connections again", { stalled_s: health.stalledSeconds() });
        }
        health.accepted();
        handle(conn).catch(() => {});
      }
    } finally {
      if (kind === "unix") await Deno.remove(bind).catch(() => {});
    }
  })();
  log.info("listening", { addr: address, transport: kind, serves: "qmux (plaintext)" });
  return { address, finished };
}
