/**
 * The raw QUIC fan-out baseline: `deno run -A bench/raw_quic_server.ts [--bare]`. Plain
 * `Deno.QuicEndpoint`, ALPN `moq-lite-04` or `moq-lite-05` (the bytes are forwarded unread), the relay's default listener settings (imported from
 * `config/keys.ts`). A connection
 * that opens a unidirectional stream is the publisher; every other connection is a subscriber.
 * Each publisher stream is forwarded chunk by chunk, the same bytes, to one new unidirectional
 * stream per subscriber (the next chunk is read once every subscriber's write was accepted).
 *
 * `--bare` accepts connections and holds them, nothing else (the memory baseline).
 *
 * Prints `{"port":…,"pin":"<sha-256 hex>"}` on stdout once listening; exits on SIGTERM.
 *
 * @module
 */

import {
  DEFAULT_QUIC_IDLE_TIMEOUT_MS,
  DEFAULT_QUIC_KEEP_ALIVE_MS,
  DEFAULT_QUIC_MAX_STREAMS,
} from "../config/mod.ts";
import { generateSelfSignedCertificate } from "../transport/mod.ts";

/**
 * Concurrent streams per direction: the relay's default, so a bare connection reserves exactly
 * what a relay connection does (Deno's QUIC stack sizes per-connection tables by this limit).
 */
export const MAX_STREAMS = DEFAULT_QUIC_MAX_STREAMS;
/** Keep-alive interval (relay default). */
export const KEEP_ALIVE_MS = DEFAULT_QUIC_KEEP_ALIVE_MS;
/** Idle timeout (relay default). */
export const IDLE_TIMEOUT_MS = DEFAULT_QUIC_IDLE_TIMEOUT_MS;

const bare = Deno.args.includes("--bare");
const cert = await generateSelfSignedCertificate(["localhost", "127.0.0.1"]);
const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
const listener = endpoint.listen({
  alpnProtocols: ["moq-lite-04", "moq-lite-05"],
  cert: cert.certPem,
  key: cert.keyPem,
  maxConcurrentBidirectionalStreams: MAX_STREAMS,
  maxConcurrentUnidirectionalStreams: MAX_STREAMS,
  keepAliveInterval: KEEP_ALIVE_MS,
  maxIdleTimeout: IDLE_TIMEOUT_MS,
});

const connections = new Set<Deno.QuicConn>();
const subscribers = new Set<Deno.QuicConn>();

async function forward(stream: Deno.QuicReceiveStream): Promise<void> {
  const writers = await Promise.all(
    [...subscribers].map(async (conn) => {
      try {
        return (await conn.createUnidirectionalStream()).getWriter();
      } catch {
        return null;
      }
    }),
  );
  const live = writers.filter((w) => w !== null);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await Promise.all(live.map((w) => w.write(value).catch(() => {})));
    }
  } catch {
    // publisher gone
  } finally {
    for (const w of live) w.close().catch(() => {});
  }
}

async function serve(conn: Deno.QuicConn): Promise<void> {
  connections.add(conn);
  conn.closed.catch(() => {}).finally(() => {
    connections.delete(conn);
    subscribers.delete(conn);
  });
  if (bare) return;
  subscribers.add(conn);
  try {
    for await (const stream of conn.incomingUnidirectionalStreams) {
      subscribers.delete(conn); // it publishes
      forward(stream);
    }
  } catch {
    // connection gone
  }
}

Deno.addSignalListener("SIGTERM", () => {
  for (const c of connections) c.close({ closeCode: 0, reason: "bye" });
  endpoint.close();
  Deno.exit(0);
});

console.log(JSON.stringify({ port: endpoint.addr.port, pin: cert.sha256Hex }));

for (;;) {
  const incoming = await listener.incoming();
  (async () => serve(await incoming.accept()))().catch(() => {});
}
