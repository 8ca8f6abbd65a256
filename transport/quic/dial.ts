/**
 * Outbound raw QUIC dials (cluster links between relays): `Deno.connectQuic` with a moq-lite ALPN.
 *
 * Certificate verification in Deno 2.9.6 (tested): the default verifies against the bundled
 * Mozilla roots; `caCerts` adds PEM roots (a self-signed leaf works as its own root, with the name
 * checked); `serverCertificateHashes` (not in the type definitions) pins the SHA-256 of the leaf
 * DER and skips name and chain checks. There is no per-connection "skip verification" switch (only
 * the process-wide `--unsafely-ignore-certificate-errors` flag), so {@link DialOptions.disableVerify}
 * is emulated: the peer's `/certificate.sha256` is fetched over plain HTTP on the same port number
 * (the relay's `web.http` listener) and pinned.
 *
 * Raw QUIC carries no URL: the peer sees `moql://<sni>/` with no path and no `?jwt=`.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type { TransportSession } from "../types.ts";
import { errorMessage } from "./errors.ts";
import { QuicTransportSession } from "./quic_session.ts";

/** Default ALPNs offered by a dial, in preference order. */
export const DEFAULT_DIAL_ALPNS: readonly string[] = ["moq-lite-04"];
/** Default dial + handshake timeout (docs/relay.md `[client] timeout`). */
export const DEFAULT_DIAL_TIMEOUT_MS = 30_000;
/** Timeout of the `/certificate.sha256` fetch used to emulate `disableVerify`. */
export const FINGERPRINT_FETCH_TIMEOUT_MS = 5_000;

/** Options for {@link dialQuic}. */
export interface DialOptions {
  logger: Logger;
  /** ALPNs to offer (default `["moq-lite-04"]`). */
  alpns?: readonly string[];
  /** Pinned leaf fingerprints: hex SHA-256 of the DER (colons and a `0x` prefix allowed). */
  certificateSha256?: readonly string[];
  /** Accept any certificate: emulated by fetching and pinning the peer's `/certificate.sha256`. */
  disableVerify?: boolean;
  /** Extra PEM roots (in addition to the bundled Mozilla roots). */
  caCerts?: readonly string[];
  /** Name to verify (and send as SNI) instead of the URL host. */
  serverName?: string;
  /**
   * Address to connect to instead of resolving the URL host (which still names the server in the
   * WebTransport `:authority`), e.g. to reach a relay by IP under a virtual host name.
   */
  connectHost?: string;
  /** Dial + handshake timeout in ms; 0 = none (default {@link DEFAULT_DIAL_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Cancels the dial. */
  signal?: AbortSignal;
  /** Keep-alive interval in ms (default 5000; 0 = off). */
  keepAliveMs?: number;
  /** Idle timeout in ms (default 30000). */
  idleTimeoutMs?: number;
  /**
   * Local address to send from (default any). Loopback tests use distinct `127.0.0.x` sources to
   * appear as distinct peers to a relay's per-address limits.
   */
  localHostname?: string;
}

/** Raised when a dial fails; the message names the URL and what to check. */
export class DialError extends Error {
  /** The URL dialed. */
  readonly url: string;
  constructor(url: URL | string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DialError";
    this.url = String(url);
  }
}

/** Normalise a hex fingerprint (colons, spaces, `0x` allowed) to 32 bytes, or `null`. */
export function parseFingerprint(text: string): Uint8Array<ArrayBuffer> | null {
  const hex = text.trim().toLowerCase().replace(/^0x/, "").replace(/[:\s]/g, "");
  if (!/^[0-9a-f]{64}$/.test(hex)) return null;
  return new Uint8Array(hex.match(/../g)!.map((byte) => parseInt(byte, 16)));
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Fetch `http://host:port/certificate.sha256` (what `disableVerify` pins). */
export async function fetchCertificateFingerprint(
  url: URL,
  signal?: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const target = new URL(`http://${url.host}/certificate.sha256`);
  if (!url.port) target.port = "443";
  const timeout = AbortSignal.timeout(FINGERPRINT_FETCH_TIMEOUT_MS);
  const response = await fetch(target, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  const body = await response.text();
  if (!response.ok) throw new Error(`GET ${target} answered ${response.status}`);
  const pin = parseFingerprint(body);
  if (!pin) {
    throw new Error(`GET ${target} did not return a hex SHA-256 (got ${JSON.stringify(body.slice(0, 80))})`);
  }
  return pin;
}

/** A connected QUIC connection and the endpoint created for it (close both when done). */
export interface DialedConnection {
  conn: Deno.QuicConn;
  endpoint: Deno.QuicEndpoint;
}

/**
 * Connect a QUIC connection to `url` offering `alpns`, with the verification, timeout and abort
 * rules of {@link DialOptions}. Shared by {@link dialQuic} and the WebTransport client. Throws
 * {@link DialError}.
 */
export async function connectQuicTo(
  url: URL,
  alpns: readonly string[],
  options: DialOptions,
): Promise<DialedConnection> {
  if (!["https:", "http:", "moql:", "moqt:", "moq:"].includes(url.protocol)) {
    throw new DialError(url, `cannot dial ${url}: expected an https://, http://, moql:// or moqt:// URL`);
  }
  const hostname = stripBrackets(url.hostname);
  const port = url.port ? Number(url.port) : 443;
  if (!hostname) throw new DialError(url, `cannot dial ${url}: no host`);
  if (typeof Deno.QuicEndpoint !== "function") {
    throw new DialError(url, `cannot dial ${url}: Deno's QUIC API is unstable; run with --unstable-net`);
  }
  const pins: Uint8Array<ArrayBuffer>[] = [];
  for (const text of options.certificateSha256 ?? []) {
    const pin = parseFingerprint(text);
    if (!pin) {
      throw new DialError(
        url,
        `invalid certificate fingerprint "${text}": expected 64 hex characters (SHA-256)`,
      );
    }
    pins.push(pin);
  }
  if (options.disableVerify || url.protocol === "http:") {
    try {
      pins.push(await fetchCertificateFingerprint(url, options.signal));
    } catch (error) {
      throw new DialError(
        url,
        `cannot dial ${url} without certificate verification: Deno cannot skip QUIC verification, so the ` +
          `peer's fingerprint is fetched from http://${url.host}/certificate.sha256, which failed ` +
          `(${errorMessage(error)}); enable the peer's web.http listener on the same port, or pin ` +
          `[client.tls] fingerprint, or trust its certificate with [client.tls] root`,
        { cause: error },
      );
    }
  }
  const endpoint = new Deno.QuicEndpoint({
    hostname: options.localHostname ?? (hostname.includes(":") ? "::" : "0.0.0.0"),
    port: 0,
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
  const keepAlive = options.keepAliveMs ?? 5_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let abortReason: string | null = null;
  const cancel = (reason: string) => {
    abortReason ??= reason;
    try {
      endpoint.close({ closeCode: 0, reason });
    } catch {
      // already closed
    }
  };
  const onAbort = () => cancel("dial aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) cancel("dial aborted");
  if (timeoutMs > 0) timer = setTimeout(() => cancel(`dial timed out after ${timeoutMs} ms`), timeoutMs);
  try {
    if (abortReason) throw new Error(abortReason);
    const connectOptions = {
      endpoint,
      hostname: options.connectHost ?? hostname,
      port,
      serverName: options.serverName,
      alpnProtocols: [...alpns],
      caCerts: options.caCerts ? [...options.caCerts] : undefined,
      serverCertificateHashes: pins.length > 0
        ? pins.map((value) => ({ algorithm: "sha-256", value }))
        : undefined,
      keepAliveInterval: keepAlive > 0 ? keepAlive : undefined,
      maxIdleTimeout: options.idleTimeoutMs ?? 30_000,
    };
    const conn = await Deno.connectQuic(connectOptions as Deno.ConnectQuicOptions<false>);
    return { conn, endpoint };
  } catch (error) {
    cancel("dial failed");
    const why = abortReason && abortReason !== "dial failed" ? abortReason : errorMessage(error);
    const hint = /UnknownIssuer|certificate/i.test(why)
      ? "; the certificate is not trusted: pin its fingerprint, add its CA with [client.tls] root, or set disable_verify"
      : /peer doesn't support any known protocol/i.test(why)
      ? "; the peer offers none of the ALPNs " + alpns.join(",")
      : "";
    throw new DialError(url, `cannot dial ${url}: ${why}${hint}`, { cause: error });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Dial a relay over raw QUIC and return the session (kind `"quic"`, protocol from the negotiated
 * ALPN). `url`: `https://`, `moql://` or `moqt://` host and port (443 by default); `http://` means
 * dev mode and implies `disableVerify`. Throws {@link DialError}.
 */
export async function dialQuic(url: URL, options: DialOptions): Promise<TransportSession> {
  const { conn, endpoint } = await connectQuicTo(url, options.alpns ?? DEFAULT_DIAL_ALPNS, options);
  const logger = options.logger.with({ url: `${url.protocol}//${url.host}` });
  logger.debug("QUIC dial connected", { alpn: conn.protocol ?? "" });
  return new QuicTransportSession(conn, {
    logger,
    url,
    onClosed: () => {
      try {
        endpoint.close();
      } catch {
        // already closed
      }
    },
  });
}
