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

/** Options for {@link dialPeer}. */
export interface DialPeerOptions {
  logger: Logger;
  client: ClientConfig;
  /**
   * The relay's own QUIC keep-alive / idle timeout (`[server.quic]`), applied to its outbound
   * links too, so a dead peer is noticed as fast as a dead client.
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
    keepAliveMs: options.quic?.keepAliveMs,
    idleTimeoutMs: options.quic?.idleTimeoutMs,
    // http:// is the development form: pin whatever the peer serves at /certificate.sha256.
    disableVerify: client.tls.disableVerify || url.protocol === "http:",
  });
}
