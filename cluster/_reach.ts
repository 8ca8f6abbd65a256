/**
 * Telling a dead peer from a misconfigured one. Dialing an `http://` peer first fetches its
 * `/certificate.sha256`; when nothing listens there the transport reports a failed certificate
 * fetch, which reads like a TLS or listener mistake. A TCP connect to the same host and port
 * tells the two apart.
 *
 * @module
 */

import { redactedError } from "../log/mod.ts";

/** How long the reachability check may take. */
export const REACH_CHECK_TIMEOUT_MS = 1_000;

/**
 * When the dial of `url` failed with `err` because nothing answers at the peer's address, a
 * one-line reason ("unreachable: …"); undefined when the peer is reachable or the error is
 * about something else.
 */
export async function unreachableReason(url: URL, err: unknown): Promise<string | undefined> {
  const message = redactedError(err);
  const hostPort = `${url.hostname}:${
    url.port || (url.protocol === "http:" || url.protocol === "ws:" ? 80 : 443)
  }`;
  if (/ECONNREFUSED|Connection refused|ConnectionRefused/i.test(message)) {
    return `unreachable: nothing accepts connections at ${hostPort} (connection refused); is the peer running?`;
  }
  if (!/certificate\.sha256/.test(message)) return undefined;
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 80);
  const timeout = AbortSignal.timeout(REACH_CHECK_TIMEOUT_MS);
  try {
    const conn = await Deno.connect({ hostname, port, signal: timeout } as Deno.ConnectOptions);
    conn.close();
    return undefined;
  } catch (probe) {
    const why = probe instanceof Deno.errors.ConnectionRefused
      ? "connection refused"
      : timeout.aborted
      ? `no answer within ${REACH_CHECK_TIMEOUT_MS} ms`
      : redactedError(probe);
    return `unreachable: nothing accepts connections at ${hostPort} (${why}); is the peer running?`;
  }
}

/** How long {@link listenerNotRefused} waits for the TCP handshake. */
export const LISTENER_CHECK_TIMEOUT_MS = 500;

/**
 * Whether the peer may still be there, judged by its TCP listener on the URL's host and port (its
 * HTTP / WebSocket listener, which relays serve on the QUIC port): false when the connection is
 * refused or the host is unreachable (a killed process's port refuses at once), true when the
 * kernel accepts (a live process, however busy) or the check itself times out (no evidence either
 * way: a slow path, or our own loop starved; the liveness hard timeout decides).
 */
export async function listenerNotRefused(url: URL, timeoutMs = LISTENER_CHECK_TIMEOUT_MS): Promise<boolean> {
  const { hostname, port } = listenerOf(url);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const conn = await Deno.connect({ hostname, port, signal: timeout } as Deno.ConnectOptions);
    conn.close();
    return true;
  } catch {
    return timeout.aborted;
  }
}

/** The TCP listener a peer URL names: its host, and its port or the scheme's default. */
export function listenerOf(url: URL): { hostname: string; port: number } {
  return {
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || (url.protocol === "http:" || url.protocol === "ws:" ? 80 : 443)),
  };
}
