/**
 * The QUIC listener and ALPN router, above both `quic/` and `webtransport/` (which never import it):
 * one UDP port serving raw QUIC moq-lite (the ALPNs of transport/versions.ts) and WebTransport
 * over HTTP/3 (ALPN `h3`), on `Deno.QuicEndpoint`.
 *
 * Sessions are authorised before anything is answered: WebTransport refusals are HTTP statuses on
 * the CONNECT, raw QUIC refusals close the connection with the refusal's close code. Each
 * connection and stream runs in its own task and every error is caught, so garbage from one peer
 * never blocks the accept loop or costs other peers their sessions.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { isIetfProtocol, type TransportKind, type TransportSession } from "./types.ts";
import { DEFAULT_VERSION_OFFER, type VersionOffer } from "./versions.ts";
import { H3_ERROR, H3Connection, settleWithin } from "./webtransport/mod.ts";
import {
  type AuthorizeDecision,
  type AuthorizeHook,
  errorMessage,
  formatAddr,
  isAuthorized,
  QuicTransportSession,
  type SessionHook,
} from "./quic/mod.ts";
import { parseHostPort } from "../util/mod.ts";

/** The ALPN for HTTP/3 (WebTransport). */
export const ALPN_H3 = "h3";
/**
 * Default concurrent incoming streams of each direction (upstream relay: 10 000; Deno's QUIC stack
 * reserves memory per allowed stream, so the library default 1 024 is used).
 */
export const DEFAULT_MAX_STREAMS = 1_024;
/** Default keep-alive interval (docs/relay.md `[server.quic] keep_alive`). */
export const DEFAULT_KEEP_ALIVE_MS = 5_000;
/** Default idle timeout (docs/relay.md `[server.quic] idle_timeout`). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** How long shutdown waits for sessions to close gracefully before closing connections. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 1_000;
/** Close code and reason used on shutdown. */
export const SHUTDOWN_CLOSE_CODE = 0;
/** Reason sent on shutdown. */
export const SHUTDOWN_REASON = "server shutdown";
const NOTHING = (): void => {};

/** A certificate chain and key in PEM. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** Options for {@link QuicServer}. */
export interface QuicServerOptions {
  /** `host:port`; `[::]:443` is dual-stack; a DNS name is resolved by Deno. */
  bind: string;
  /** Certificates; Deno's listener takes one, so the first is served (a warning names the rest). */
  certificates: readonly PemPair[];
  logger: Logger;
  /** Called before a session is answered (WebTransport) or any stream is accepted (raw QUIC). */
  authorize: AuthorizeHook;
  /** Receives every accepted session. */
  onSession: SessionHook;
  /** The versions offered by ALPN / `wt-protocol` / legacy SETUP (default every served version). */
  versions?: VersionOffer;
  /** Concurrent incoming streams per direction (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreams?: number;
  /** Keep-alive interval in ms; 0 disables (default {@link DEFAULT_KEEP_ALIVE_MS}). */
  keepAliveMs?: number;
  /** Idle timeout in ms (default {@link DEFAULT_IDLE_TIMEOUT_MS}). */
  idleTimeoutMs?: number;
  /** Close HTTP/3 connections that send no CONNECT within this time (default 10 s). */
  connectTimeoutMs?: number;
  /** Grace period for session closes on shutdown (default {@link DEFAULT_SHUTDOWN_GRACE_MS}). */
  shutdownGraceMs?: number;
  /** Congestion controller (`low-latency` = BBR, `throughput` = Cubic). */
  congestionControl?: "throughput" | "low-latency" | "default";
  /** Aborting stops the listener and closes every connection with code 0 "server shutdown". */
  signal?: AbortSignal;
}

/** Raised when the QUIC listener cannot start (address in use, bad address, bad certificate). */
export class QuicListenError extends Error {
  /** The address that was asked for. */
  readonly address: string;
  constructor(address: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QuicListenError";
    this.address = address;
  }
}

/** Parse a QUIC bind address (`[::]:443`, `0.0.0.0:4443`, `relay.example:443`). Throws {@link QuicListenError}. */
export function parseBindAddress(text: string): { hostname: string; port: number } {
  const parsed = parseHostPort(text);
  if (parsed === undefined) {
    throw new QuicListenError(
      text,
      `invalid QUIC bind address "${text}": expected host:port with a port from 0 to 65535, e.g. [::]:443 or 0.0.0.0:4443`,
    );
  }
  return { hostname: parsed.host, port: parsed.port };
}

/**
 * The ALPN list offered, in preference order: the offer's moq-lite versions, `moql` when a legacy
 * SETUP version is enabled, then `h3`. TLS picks the first entry of this list the client offered.
 */
export function serverAlpns(offer: VersionOffer = DEFAULT_VERSION_OFFER): string[] {
  return [...offer.alpns, ALPN_H3];
}

interface Tracked {
  conn: Deno.QuicConn;
  h3?: H3Connection;
  session?: QuicTransportSession;
}

/** A running QUIC listener. Create it with `new QuicServer(options)`; it starts accepting at once. */
export class QuicServer {
  /** The bound address (the OS-chosen port when `bind` asked for port 0). */
  readonly addr: { hostname: string; port: number };
  readonly #options: QuicServerOptions;
  readonly #logger: Logger;
  /** The logger every raw QUIC session derives its own from (one, not one per session). */
  readonly #sessionLogger: Logger;
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #listener: Deno.QuicListener;
  readonly #renewed: Deno.QuicListener[] = [];
  readonly #offer: VersionOffer;
  readonly #defaultHost: string;
  readonly #connections = new Set<Tracked>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #closed: Promise<void>;
  readonly #stop = Promise.withResolvers<void>();
  #stopping = false;

  /** Bind and start accepting. Throws {@link QuicListenError} (address in use, invalid address, bad certificate). */
  constructor(options: QuicServerOptions) {
    this.#options = options;
    this.#logger = options.logger.child("quic");
    this.#sessionLogger = this.#logger.child("quic.session");
    this.#offer = options.versions ?? DEFAULT_VERSION_OFFER;
    const { hostname, port } = parseBindAddress(options.bind);
    if (typeof Deno.QuicEndpoint !== "function") {
      throw new QuicListenError(
        options.bind,
        `cannot start the QUIC listener on ${options.bind}: Deno's QUIC API is unstable; run with --unstable-net ` +
          `(or "unstable": ["net"] in deno.json)`,
      );
    }
    const certificate = options.certificates[0];
    if (!certificate) {
      throw new QuicListenError(
        options.bind,
        `no TLS certificate for the QUIC listener on ${options.bind}; set [server.tls]`,
      );
    }
    if (options.certificates.length > 1) {
      this.#logger.warn(
        "Deno's QUIC listener takes a single certificate: serving the first, ignoring the others (no SNI selection)",
        { ignored: options.certificates.length - 1 },
      );
    }
    try {
      this.#endpoint = new Deno.QuicEndpoint({ hostname, port });
    } catch (error) {
      const hint = error instanceof Deno.errors.AddrInUse
        ? "the UDP port is already in use; stop the other process or choose another [server] bind"
        : error instanceof Deno.errors.AddrNotAvailable
        ? "the address is not available on this host"
        : "check [server] bind";
      throw new QuicListenError(
        options.bind,
        `cannot bind the QUIC listener on ${options.bind}: ${errorMessage(error)}; ${hint}`,
        { cause: error },
      );
    }
    const maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    const keepAlive = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    try {
      this.#listener = this.#endpoint.listen({
        alpnProtocols: serverAlpns(this.#offer),
        cert: certificate.certPem,
        key: certificate.keyPem,
        maxConcurrentBidirectionalStreams: maxStreams,
        maxConcurrentUnidirectionalStreams: maxStreams,
        keepAliveInterval: keepAlive > 0 ? keepAlive : undefined,
        maxIdleTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        congestionControl: options.congestionControl,
      });
    } catch (error) {
      this.#endpoint.close();
      throw new QuicListenError(
        options.bind,
        `cannot start the QUIC listener on ${options.bind}: ${
          errorMessage(error)
        }; check [server.tls] cert and key`,
        { cause: error },
      );
    }
    const bound = this.#endpoint.addr;
    this.addr = { hostname: bound.hostname, port: bound.port };
    this.#defaultHost = hostname === "::" || hostname === "0.0.0.0" || hostname === ""
      ? "localhost"
      : hostname;
    this.#logger.info("QUIC listening", {
      addr: formatAddr(this.addr),
      alpn: serverAlpns(this.#offer).join(","),
    });
    const acceptLoop = this.#acceptLoop();
    // An accept loop that ends on its own (the endpoint died) shuts the server down too, so
    // `closed` settles and the relay notices a dead listener.
    this.#closed = Promise.race([this.#stop.promise, acceptLoop]).then(() => this.#shutdown(acceptLoop));
    if (options.signal) {
      if (options.signal.aborted) this.#stop.resolve();
      else options.signal.addEventListener("abort", () => this.#stop.resolve(), { once: true });
    }
  }

  /** `host:port` actually bound. */
  /**
   * Present a new certificate to new connections (existing ones keep theirs). Deno lets an
   * endpoint `listen()` again with a new TLS config: it replaces the server config while the
   * original listener keeps receiving the incoming connections. The extra listener is kept
   * referenced for the endpoint's lifetime.
   */
  updateCertificate(certificate: PemPair): void {
    const maxStreams = this.#options.maxStreams ?? DEFAULT_MAX_STREAMS;
    const keepAlive = this.#options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.#renewed.push(this.#endpoint.listen({
      alpnProtocols: serverAlpns(this.#offer),
      cert: certificate.certPem,
      key: certificate.keyPem,
      maxConcurrentBidirectionalStreams: maxStreams,
      maxConcurrentUnidirectionalStreams: maxStreams,
      keepAliveInterval: keepAlive > 0 ? keepAlive : undefined,
      maxIdleTimeout: this.#options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      congestionControl: this.#options.congestionControl,
    }));
    this.#logger.info("QUIC certificate renewed for new connections", { addr: formatAddr(this.addr) });
  }

  get address(): string {
    return formatAddr(this.addr);
  }

  /** Live connections (raw QUIC and HTTP/3). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Resolves once the listener has stopped and every connection is closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Stop listening and close every connection (code 0 "server shutdown"); resolves when done. */
  close(): Promise<void> {
    this.#stop.resolve();
    return this.#closed;
  }

  #spawn(task: Promise<void>): void {
    const tracked = task.catch((error) => {
      this.#logger.warn("QUIC connection task failed", { error: errorMessage(error) });
    });
    this.#tasks.add(tracked);
    tracked.finally(() => this.#tasks.delete(tracked));
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopping) {
      let incoming: Deno.QuicIncoming;
      try {
        // A pending incoming() survives listener.stop(); endpoint.close() (end of shutdown) ends it.
        incoming = await this.#listener.incoming();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) break;
        this.#logger.warn("accepting a QUIC connection failed", { error: errorMessage(error) });
        continue;
      }
      if (this.#stopping) {
        incoming.refuse();
        break;
      }
      // Never touch incoming.remoteAddr before accept(): it consumes the pending connection.
      this.#spawn(this.#handleIncoming(incoming));
    }
  }

  async #handleIncoming(incoming: Deno.QuicIncoming | null): Promise<void> {
    let conn: Deno.QuicConn;
    try {
      conn = await incoming!.accept();
    } catch (error) {
      this.#logger.debug("QUIC handshake failed", { error: errorMessage(error) });
      return;
    }
    // This frame lives as long as the connection: it must not keep the spent handshake object.
    incoming = null;
    const tracked: Tracked = { conn };
    this.#connections.add(tracked);
    const done = conn.closed.then(() => {}, () => {});
    try {
      if (this.#stopping) {
        conn.close({ closeCode: SHUTDOWN_CLOSE_CODE, reason: SHUTDOWN_REASON });
        return;
      }
      let peer = "unknown";
      try {
        peer = formatAddr(conn.remoteAddr);
      } catch {
        // gone already
      }
      const alpn = conn.protocol ?? "";
      if (alpn === ALPN_H3) {
        await this.#serveH3(conn, tracked, peer);
      } else {
        await this.#serveRawQuic(conn, tracked, peer, alpn);
      }
    } catch (error) {
      this.#logger.warn("QUIC connection failed", { error: errorMessage(error) });
      try {
        conn.close({ closeCode: 0, reason: "internal error" });
      } catch {
        // already closed
      }
    } finally {
      await done;
      this.#connections.delete(tracked);
    }
  }

  async #serveH3(conn: Deno.QuicConn, tracked: Tracked, peer: string): Promise<void> {
    const h3 = new H3Connection(conn, {
      logger: this.#logger.child("webtransport"),
      peer,
      protocols: this.#offer.protocols,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      authorize: (url) => this.#authorize(url, "webtransport", peer),
      onSession: (session) => this.#deliver(session),
    });
    tracked.h3 = h3;
    await h3.run();
  }

  async #serveRawQuic(conn: Deno.QuicConn, tracked: Tracked, peer: string, alpn: string): Promise<void> {
    if (!this.#offer.alpns.includes(alpn)) {
      conn.close({ closeCode: 0, reason: `unsupported ALPN ${alpn}` });
      return;
    }
    const host = conn.serverName || this.#defaultHost;
    let url: URL;
    try {
      url = new URL(`moql://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}/`);
    } catch {
      url = new URL(`moql://${this.#defaultHost}/`);
    }
    // moq-lite-05 and moq-transport name their root and credential in their SETUP (read by the
    // session), not here.
    const decision: AuthorizeDecision = alpn === "moq-lite-05" || isIetfProtocol(alpn)
      ? { ok: true }
      : await this.#authorize(url, "quic", peer);
    if (!isAuthorized(decision)) {
      try {
        conn.close({ closeCode: decision.closeCode, reason: decision.reason });
      } catch {
        // already closed
      }
      return;
    }
    if (this.#stopping) {
      conn.close({ closeCode: SHUTDOWN_CLOSE_CODE, reason: SHUTDOWN_REASON });
      return;
    }
    const session = new QuicTransportSession(conn, { logger: this.#sessionLogger, url });
    tracked.session = session;
    this.#logger.debug("raw QUIC session accepted", { peer, alpn, protocol: session.protocol || "(none)" });
    this.#deliver(session);
    // Returned, not awaited: this frame (the URL, the decision, ...) is let go while the session runs.
    return session.closed.then(NOTHING);
  }

  async #authorize(url: URL, kind: TransportKind, peer: string): Promise<AuthorizeDecision> {
    try {
      const decision = await this.#options.authorize(url, kind, peer);
      if (!isAuthorized(decision)) {
        this.#logger.info("session refused", {
          peer,
          transport: kind,
          path: url.pathname,
          status: decision.status,
          code: decision.closeCode,
          reason: decision.reason,
        });
      }
      return decision;
    } catch (error) {
      this.#logger.warn("authorization hook failed", { peer, error: errorMessage(error) });
      return { status: 500, closeCode: H3_ERROR.INTERNAL_ERROR, reason: "authorization failed" };
    }
  }

  #deliver(session: TransportSession): void {
    try {
      this.#options.onSession(session);
    } catch (error) {
      this.#logger.warn("session hook failed", { error: errorMessage(error) });
      session.close(0, "internal error");
    }
  }

  async #shutdown(acceptLoop: Promise<void>): Promise<void> {
    this.#stopping = true;
    try {
      this.#listener.stop();
    } catch {
      // already stopped
    }
    for (const tracked of this.#connections) {
      if (tracked.h3) tracked.h3.shutdown(SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON);
      else if (tracked.session) tracked.session.close(SHUTDOWN_CLOSE_CODE, SHUTDOWN_REASON);
      else tracked.conn.close({ closeCode: SHUTDOWN_CLOSE_CODE, reason: SHUTDOWN_REASON });
    }
    const all = () => Promise.allSettled([...this.#tasks]);
    await settleWithin(all(), this.#options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
    for (const tracked of this.#connections) {
      if (tracked.h3) tracked.h3.abort(H3_ERROR.NO_ERROR, SHUTDOWN_REASON);
      else {
        try {
          tracked.conn.close({ closeCode: SHUTDOWN_CLOSE_CODE, reason: SHUTDOWN_REASON });
        } catch {
          // already closed
        }
      }
    }
    try {
      this.#endpoint.close({ closeCode: SHUTDOWN_CLOSE_CODE, reason: SHUTDOWN_REASON });
    } catch {
      // already closed
    }
    await acceptLoop;
    while (this.#tasks.size > 0) await all();
    this.#logger.info("QUIC listener stopped", { addr: this.address });
  }
}
