/**
 * Dialing a test relay over QUIC with its self-signed certificate pinned: the relay's SHA-256
 * fingerprint (from its `/certificate.sha256`) as hex, and raw QUIC (ALPN) or WebTransport over
 * HTTP/3 (`wt-available-protocols`) sessions with the relay's own client dialers.
 *
 * @module
 */

import { silentLogger } from "../log/mod.ts";
import {
  dialQuic,
  dialWebTransport,
  fetchCertificateFingerprint,
  type NegotiatedProtocol,
  toHex,
  type TransportSession,
} from "../transport/mod.ts";

/** How long a test dial may take before it fails (the machine may be loaded). */
export const TEST_DIAL_TIMEOUT_MS = 10_000;

/** The lowercase hex SHA-256 of the certificate a relay serves at `<httpUrl>/certificate.sha256`. */
export async function relayPin(relay: { httpUrl: string }): Promise<string> {
  return toHex(await fetchCertificateFingerprint(new URL(relay.httpUrl)));
}

/** Options for {@link dialRelay}. */
export interface DialRelayOptions {
  /** URL path (default `/`); raw QUIC carries no URL, so only WebTransport sends it. */
  path?: string;
  /** The relay's pin, when the test already fetched it (default: fetched now). */
  pin?: string;
  /** Dial timeout (default {@link TEST_DIAL_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** Dial `relay` over raw QUIC offering `alpns`, its certificate pinned. */
export function dialRelay(
  relay: { port: number; httpUrl: string },
  over: "quic",
  alpns: readonly string[],
  options?: DialRelayOptions,
): Promise<TransportSession>;
/** Dial `relay` over WebTransport offering `protocols` in `wt-available-protocols`, its certificate pinned. */
export function dialRelay(
  relay: { port: number; httpUrl: string },
  over: "quic" | "webtransport",
  protocols: readonly NegotiatedProtocol[],
  options?: DialRelayOptions,
): Promise<TransportSession>;
export async function dialRelay(
  relay: { port: number; httpUrl: string },
  over: "quic" | "webtransport",
  protocols: readonly string[],
  options: DialRelayOptions = {},
): Promise<TransportSession> {
  const common = {
    logger: silentLogger(),
    certificateSha256: [options.pin ?? await relayPin(relay)],
    timeoutMs: options.timeoutMs ?? TEST_DIAL_TIMEOUT_MS,
  };
  const url = new URL(
    `${over === "quic" ? "moql" : "https"}://127.0.0.1:${relay.port}${options.path ?? "/"}`,
  );
  return over === "quic"
    ? await dialQuic(url, { ...common, alpns: protocols })
    : await dialWebTransport(url, { ...common, protocols: protocols as readonly NegotiatedProtocol[] });
}

/** A connected TCP pair on loopback (`close` closes both ends, whatever state they are in). */
export async function tcpPair(): Promise<{ a: Deno.TcpConn; b: Deno.TcpConn; close: () => void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    listener.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
  ]);
  listener.close();
  return {
    a,
    b,
    close: () => {
      for (const c of [a, b]) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
    },
  };
}
