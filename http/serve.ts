/**
 * `Deno.serve` wrapped for the relay's listeners: resolves only once the socket is bound (so the
 * relay reports ready after every bind, shared/spec/relay.md §8 item 12) and turns a bind failure
 * into a {@link ListenError} that names the address.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";

/** A request handler as `Deno.serve` calls it. */
export type HttpHandler = (req: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

/** Options of {@link serveHttp}. */
export interface ServeHttpOptions {
  /** Address to bind (`127.0.0.1`, `::`, `0.0.0.0`, a host name). */
  hostname: string;
  /** Port to bind; 0 = let the OS choose (read the result from `addr`). */
  port: number;
  handler: HttpHandler;
  /** Aborting it stops the listener and closes its connections. */
  signal: AbortSignal;
  logger: Logger;
  /** PEM certificate chain: serve HTTPS (with `key`). */
  cert?: string;
  /** PEM private key (with `cert`). */
  key?: string;
}

/** A bound listener. */
export interface HttpListener {
  /** The bound address (the real port when 0 was asked for). */
  addr: Deno.NetAddr;
  /** Resolves once the listener stopped after `signal` aborted. */
  finished: Promise<void>;
}

/** Raised when a listener cannot bind (port in use, no permission, bad address). */
export class ListenError extends Error {
  /** The address that could not be bound, `host:port`. */
  readonly address: string;
  constructor(address: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
    this.address = address;
  }
}

/** `host:port`, with IPv6 hosts bracketed. */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

function bindAdvice(err: unknown, tls: boolean): string {
  if (err instanceof Deno.errors.AddrInUse) {
    return "address already in use: stop the other process or pick another port";
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return "permission denied: use a port above 1023 or grant the process the right to bind it";
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return "address not available on this machine: check the listen address";
  }
  const message = err instanceof Error ? err.message : String(err);
  return tls ? `${message} (check the PEM certificate chain and private key)` : message;
}

/**
 * Bind and serve. Resolves once the socket is listening; rejects with {@link ListenError} if it
 * cannot bind. A handler that throws gets a 500 (logged), never a crashed process.
 */
export function serveHttp(options: ServeHttpOptions): Promise<HttpListener> {
  const address = formatAddress(options.hostname, options.port);
  const log = options.logger;
  if ((options.cert === undefined) !== (options.key === undefined)) {
    return Promise.reject(
      new ListenError(address, `cannot listen on ${address}: HTTPS needs both a certificate and a key`),
    );
  }
  const base = {
    hostname: options.hostname,
    port: options.port,
    signal: options.signal,
    onListen: () => {},
    onError: (err: unknown) => {
      log.warn("http handler failed", { error: err instanceof Error ? err.message : String(err) });
      return new Response("internal error\n", {
        status: 500,
        headers: { "content-type": "text/plain; charset=utf-8", "access-control-allow-origin": "*" },
      });
    },
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = options.cert !== undefined && options.key !== undefined
      ? Deno.serve({ ...base, cert: options.cert, key: options.key }, options.handler)
      : Deno.serve(base, options.handler);
  } catch (err) {
    return Promise.reject(
      new ListenError(
        address,
        `cannot listen on ${address} (tcp): ${bindAdvice(err, options.cert !== undefined)}`,
        {
          cause: err,
        },
      ),
    );
  }
  const addr = server.addr;
  log.debug("http listening", {
    addr: formatAddress(addr.hostname, addr.port),
    tls: options.cert !== undefined,
  });
  return Promise.resolve({ addr, finished: server.finished });
}
