/**
 * Test helpers for the QUIC and WebTransport transports: a generated certificate, a started
 * {@link QuicServer} that queues its sessions, and small stream utilities. Not used in production.
 *
 * @module
 */

import { createLogger, LogFilter, type Logger, silentLogger } from "../log/mod.ts";
import {
  type AuthorizeDecision,
  generateSelfSignedCertificate,
  QuicServer,
  type SelfSignedCertificate,
  type TransportKind,
  type TransportSession,
  versionOffer,
} from "../transport/mod.ts";
import { AsyncQueue } from "../util/mod.ts";

/** A running test server. */
export interface QuicTestServer {
  server: QuicServer;
  cert: SelfSignedCertificate;
  port: number;
  /** Sessions delivered by the server, in order. */
  sessions: AsyncQueue<TransportSession>;
  /** Every (url, kind) the authorize hook saw. */
  authorized: Array<{ url: URL; kind: TransportKind }>;
  /** Stop the server and wait for it. */
  close(): Promise<void>;
}

/** Options for {@link startTestServer}. */
export interface QuicTestServerOptions {
  authorize?: (url: URL, kind: TransportKind) => Promise<AuthorizeDecision>;
  /** Enabled `[server] version` names (default every served version). */
  versions?: readonly string[];
  logger?: Logger;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  keepAliveMs?: number;
  shutdownGraceMs?: number;
}

/**
 * Start a {@link QuicServer} on 127.0.0.1 with an OS-chosen port and a fresh certificate.
 * Silent by default; set `TRANSPORT_TEST_LOG=debug` (a log filter) to see the server's log.
 */
export async function startTestServer(options: QuicTestServerOptions = {}): Promise<QuicTestServer> {
  const cert = await generateSelfSignedCertificate(["localhost", "127.0.0.1"]);
  const sessions = new AsyncQueue<TransportSession>();
  const authorized: Array<{ url: URL; kind: TransportKind }> = [];
  const server = new QuicServer({
    bind: "127.0.0.1:0",
    certificates: [{ certPem: cert.certPem, keyPem: cert.keyPem }],
    logger: options.logger ??
      (Deno.env.get("TRANSPORT_TEST_LOG")
        ? createLogger(LogFilter.parse(Deno.env.get("TRANSPORT_TEST_LOG")!))
        : silentLogger()),
    versions: versionOffer(options.versions),
    connectTimeoutMs: options.connectTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    keepAliveMs: options.keepAliveMs,
    shutdownGraceMs: options.shutdownGraceMs,
    authorize: async (url, kind) => {
      authorized.push({ url, kind });
      return options.authorize ? await options.authorize(url, kind) : { ok: true };
    },
    onSession: (session) => {
      if (!sessions.push(session)) session.close(0, "test over");
    },
  });
  return {
    server,
    cert,
    port: server.addr.port,
    sessions,
    authorized,
    close: async () => {
      for (const leftover of sessions.close()) leftover.close(0, "test over");
      await server.close();
    },
  };
}
