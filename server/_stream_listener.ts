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
import { MAX_CONNECTIONS_PER_IP, PeerCounter } from "../http/mod.ts";
import { CODE_BOUNDS_EXCEEDED } from "./admission.ts";
import { parseHostPort } from "../util/mod.ts";
import { type RelayCore, SETUP_PENDING_GRANT } from "./_relay_server.ts";

/** Mode of the Unix socket file. */
export const UNIX_SOCKET_MODE = 0o660;
/** Handshakes in progress at once per listener (a flood of idle connections waits behind them). */
export const MAX_PENDING_STREAM_HANDSHAKES = 64;
/**
 * Handshakes in progress at once from one IP address: idle connections from one address cannot
 * take every slot of {@link MAX_PENDING_STREAM_HANDSHAKES} and lock other clients out.
 */
export const MAX_PENDING_STREAM_HANDSHAKES_PER_IP = 8;

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
  let pending = 0;
  let accepted = 0;
  // Unix-socket clients are local and share one key: only TCP is capped per address.
  const pendingPerIp = new PeerCounter(MAX_PENDING_STREAM_HANDSHAKES_PER_IP);
  // Live sessions per address, as on the QUIC and WebSocket listeners.
  const livePerIp = new PeerCounter(MAX_CONNECTIONS_PER_IP);
  let refusedPerIp = 0;
  const handle = async (conn: Deno.Conn) => {
    const peer = kind === "tcp"
      ? `${(conn.remoteAddr as Deno.NetAddr).hostname}:${(conn.remoteAddr as Deno.NetAddr).port}`
      : `${bind}#${++accepted}`;
    const ip = kind === "tcp" ? (conn.remoteAddr as Deno.NetAddr).hostname : "unix";
    if (core.draining || pending >= MAX_PENDING_STREAM_HANDSHAKES) {
      conn.close();
      core.stats.connectionErrors++;
      return;
    }
    if (kind === "tcp" && !pendingPerIp.acquire(ip)) {
      conn.close();
      core.stats.connectionErrors++;
      // One line per 100 refusals: a flood must not flood the log too.
      if (refusedPerIp++ % 100 === 0) {
        log.warn("too many qmux handshakes in progress from one address; closing the connection", {
          peer,
          max: MAX_PENDING_STREAM_HANDSHAKES_PER_IP,
        });
      }
      return;
    }
    pending++;
    let session: TransportSession;
    try {
      session = await acceptQmuxStream(conn, {
        kind,
        protocols: protocols(config),
        peer,
        logger,
        maxOpenStreams: config.limits.maxStreamsPerSession,
      });
    } catch (e) {
      core.stats.connectionErrors++;
      log.info("qmux handshake failed", { peer, err: e instanceof Error ? e.message : String(e) });
      return;
    } finally {
      pending--;
      if (kind === "tcp") pendingPerIp.release(ip);
    }
    if (kind === "tcp") {
      if (!livePerIp.acquire(ip)) {
        core.stats.connectionErrors++;
        if (refusedPerIp++ % 100 === 0) {
          log.warn("too many qmux sessions from one address; closing the new one", {
            peer,
            max: MAX_CONNECTIONS_PER_IP,
          });
        }
        session.close(CODE_BOUNDS_EXCEEDED, "too many sessions from this address");
        return;
      }
      session.closed.finally(() => livePerIp.release(ip));
    }
    try {
      const host = kind === "tcp" ? (conn.remoteAddr as Deno.NetAddr).hostname : "unix";
      if (session.protocol === "moq-lite-05") {
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
  const finished = (async () => {
    try {
      for await (const conn of listener) handle(conn).catch(() => {});
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      if (kind === "unix") await Deno.remove(bind).catch(() => {});
    }
  })();
  log.info("listening", { addr: address, transport: kind, serves: "qmux (plaintext)" });
  return { address, finished };
}
