/**
 * Dial a cluster peer by URL scheme: `https://` → WebTransport over QUIC (our own HTTP/3 client,
 * `wt-protocol` moq-lite-04) with normal certificate verification (or `[client.tls]` pins /
 * `disable_verify`); `http://` → the same, pinned to the peer's `/certificate.sha256`
 * (development, like upstream and `@moq/lite`); `ws://` / `wss://` → WebSocket.
 *
 * WebTransport rather than raw QUIC because raw QUIC (lite-03/04) carries no URL: the peer could
 * see neither the path nor the `?jwt=` cluster credential.
 *
 * @module
 */

import type { ClientConfig, RelayConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { dialWebSocket, dialWebTransport, type TransportSession } from "../transport/mod.ts";

/**
 * Ceiling of the QUIC idle timeout on a dialed cluster link. QUIC uses the smaller of both ends'
 * values (RFC 9000 §10.1), so both ends notice a peer host that vanished without a trace this
 * fast (a dead peer process is noticed sooner, by the death sensors of `_sensor.ts`); QUIC
 * keep-alives every {@link CLUSTER_LINK_KEEP_ALIVE_MS} keep a healthy idle link open.
 */
export const CLUSTER_LINK_IDLE_TIMEOUT_MS = 2_000;
/** Ceiling of the QUIC keep-alive interval on a dialed cluster link. */
export const CLUSTER_LINK_KEEP_ALIVE_MS = 500;

/** Options for {@link dialPeer}. */
export interface DialPeerOptions {
  logger: Logger;
  client: ClientConfig;
  /**
   * The relay's own QUIC keep-alive / idle timeout (`[server.quic]`), applied to its outbound
   * links too, capped at {@link CLUSTER_LINK_KEEP_ALIVE_MS} / {@link CLUSTER_LINK_IDLE_TIMEOUT_MS}.
   */
  quic?: Pick<RelayConfig["server"]["quic"], "keepAliveMs" | "idleTimeoutMs">;
  signal: AbortSignal;
}

/** Dial `url` (may carry `?jwt=`). */
export async function dialPeer(url: URL, options: DialPeerOptions): Promise<TransportSession> {
  const { client, logger, signal } = options;
  const timeoutMs = client.timeoutMs;
  if (url.protocol === "ws:" || url.protocol === "wss:") {
    return await dialWebSocket(url, { logger, signal, timeoutMs: timeoutMs || undefined });
  }
  const caCerts: string[] = [];
  for (const path of client.tls.root) caCerts.push(await Deno.readTextFile(path));
  return await dialWebTransport(url, {
    logger,
    signal,
    timeoutMs,
    caCerts,
    certificateSha256: client.tls.fingerprint,
    keepAliveMs: Math.min(
      options.quic?.keepAliveMs || CLUSTER_LINK_KEEP_ALIVE_MS,
      CLUSTER_LINK_KEEP_ALIVE_MS,
    ),
    idleTimeoutMs: Math.min(
      options.quic?.idleTimeoutMs || CLUSTER_LINK_IDLE_TIMEOUT_MS,
      CLUSTER_LINK_IDLE_TIMEOUT_MS,
    ),
    // http:// is the development form: pin whatever the peer serves at /certificate.sha256.
    disableVerify: client.tls.disableVerify || url.protocol === "http:",
  });
}
