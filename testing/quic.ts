/**
 * Test helpers for the QUIC and WebTransport transports: a generated certificate, a started
 * {@link QuicServer} that queues its sessions, and small stream utilities. Not used in production.
 *
 * @module
 */

import { createLogger, LogFilter, silentLogger } from "../log/logger.ts";
import type { Logger } from "../log/logger.ts";
import type { NegotiatedProtocol, RecvStream, TransportKind, TransportSession } from "../transport/types.ts";
import { generateSelfSignedCertificate, type SelfSignedCertificate } from "../transport/tls/self_signed.ts";
import { AsyncQueue } from "../util/async_queue.ts";
import type { AuthorizeDecision } from "../transport/quic/hooks.ts";
import { QuicServer } from "../transport/server.ts";

/** A running test server. */
export interface TestServer {
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
export interface TestServerOptions {
  authorize?: (url: URL, kind: TransportKind) => Promise<AuthorizeDecision>;
  protocols?: readonly NegotiatedProtocol[];
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
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
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
    protocols: options.protocols,
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

/** Hex → bytes (for pins). */
export function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(hex.match(/../g)!.map((byte) => parseInt(byte, 16)));
}

/** Read a stream to its end and concatenate. */
export async function readAll(stream: RecvStream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const chunk = await stream.read();
    if (chunk === null) break;
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift) for byte-exact transfer checks. */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export { sleep } from "../util/sleep.ts";

/** Race a promise against a timeout that rejects with `message`; the timer is always cleared. */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
