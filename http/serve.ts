/**
 * The relay's HTTP listeners: resolves only once the socket is bound (so the relay reports ready
 * after every bind, docs/relay.md §8 item 12) and turns a bind failure into a {@link ListenError}
 * that names the address.
 *
 * Hardening (project issue 13): the public TCP socket is accepted here, not by `Deno.serve`
 * (which has no header-read deadline): a per-IP connection cap, a deadline for every request's
 * header block (slow-loris), a header size cap and a keep-alive idle timeout
 * ({@link RequestWatcher}), before the bytes reach a loopback `Deno.serve`. A request with a body
 * or an upgrade (WebSocket) makes its connection opaque: only the per-IP cap bounds it then.
 *
 * WebSocket fast path (project issue 15, option `directWebSocket`): on plain HTTP the gate reads
 * each connection's first request head itself (same deadline and size cap). A WebSocket upgrade
 * goes to the handler as a `ConnUpgradeRequest`; when the handler accepts it, the gate answers
 * 101 and the WebSocket runs right on the accepted connection (`ConnWebSocket`), so its bytes
 * cross JavaScript once instead of being copied to and from the loopback server. Any other
 * request, an upgrade the handler refused (its answer is written here, then the connection
 * closes), and every HTTPS connection take the relayed path.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { ConnUpgradeRequest } from "../transport/mod.ts";
import { MAX_CONNECTIONS_PER_IP, PeerCounter } from "./peer_count.ts";
import { RequestWatcher } from "./_request_watch.ts";

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

/** Request headers (and a TLS handshake) must arrive within this time after a TCP accept. */
export const HEADERS_DEADLINE_MS = 10_000;
/**
 * A kept-alive connection with no traffic either way between requests for this long is closed
 * (longer than the `/fetch` body inactivity deadline, so a waiting response is never cut).
 */
export const KEEPALIVE_IDLE_MS = 60_000;
/** Request headers larger than this close the connection before they reach the HTTP server. */
export const MAX_REQUEST_HEADER_BYTES = 64 * 1024;
/** Copy buffer per direction of one connection. */
const PUMP_BUFFER_BYTES = 16 * 1024;
/** Pause after a failed `accept()` (e.g. out of file descriptors) before the next one. */
const ACCEPT_RETRY_MS = 100;
/** After the server ended a connection, how long the client may take to close its side. */
const CLOSE_LINGER_MS = 2_000;
/** On shutdown, how long relayed connections get to forward their last bytes. */
const SHUTDOWN_FLUSH_MS = 500;
/**
 * Consecutive failed `accept()`s (other than running out of file descriptors) after which the
 * listener is considered dead.
 */
const MAX_ACCEPT_FAILURES = 100;

/** CRLF CRLF: the end of a request head. */
const HEAD_END = [13, 10, 13, 10];
/** First size of the buffer a request head is read into (grown up to the header cap). */
const HEAD_BUFFER_BYTES = 4 * 1024;
/** Reason phrases of the statuses the web handler answers an upgrade request with. */
const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The answer when a handler throws. */
function internalError(): Response {
  return new Response("internal error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8", "access-control-allow-origin": "*" },
  });
}

/** Whether a comma-separated header value lists `token` (case-insensitive). */
function hasToken(value: string | null, token: string): boolean {
  return value !== null && value.split(",").some((part) => part.trim().toLowerCase() === token);
}

/** A first request head read by the gate: the bytes so far and where the head ends (-1 = it did not). */
interface FirstRead {
  bytes: Uint8Array;
  headEnd: number;
}

/** Raised when a listener's accept loop dies (the relay must restart). */
export class ListenerDiedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenerDiedError";
  }
}

function closeQuietly(c: Deno.Conn): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/**
 * The TCP front of an HTTP listener. `Deno.serve` has no header-read deadline and no per-peer
 * cap, so the public socket is ours: each accepted connection takes a per-IP slot (past
 * {@link MAX_CONNECTIONS_PER_IP} it is closed at once), is relayed byte for byte to a loopback
 * `Deno.serve`, and is closed unless each request's headers (the first one's including, for
 * HTTPS, the TLS handshake) complete within {@link HEADERS_DEADLINE_MS} of its first byte, or when
 * it idles between requests for {@link KEEPALIVE_IDLE_MS}. The handler sees the real peer address.
 */
class ConnectionGate {
  readonly #listener: Deno.Listener;
  readonly #inner: Deno.NetAddr;
  readonly #log: Logger;
  readonly #perIp: PeerCounter;
  readonly #deadlineMs: number;
  readonly #idleMs: number;
  readonly #encrypted: boolean;
  readonly #signal: AbortSignal;
  /** Inner connection's local port → the real peer. */
  readonly #peers = new Map<number, { peer: Deno.NetAddr; watcher: RequestWatcher }>();
  readonly #open = new Set<Deno.Conn>();
  /** Relay tasks of the open connections. */
  readonly #tasks = new Set<Promise<void>>();
  /** The application handler, for WebSocket upgrades served on the gate's own connection. */
  readonly #handler: HttpHandler;
  /** Serve WebSocket upgrades on the gate's connection (plain HTTP only). */
  readonly #direct: boolean;

  constructor(
    listener: Deno.Listener,
    inner: Deno.NetAddr,
    options: {
      logger: Logger;
      signal: AbortSignal;
      maxPerIp: number;
      deadlineMs: number;
      idleMs: number;
      /** The relayed bytes are TLS: not parsed, only the first request is watched. */
      encrypted: boolean;
      handler: HttpHandler;
      /** Serve WebSocket upgrades directly (ignored when `encrypted`). */
      directWebSocket: boolean;
    },
  ) {
    this.#listener = listener;
    this.#inner = inner;
    this.#log = options.logger;
    this.#signal = options.signal;
    this.#perIp = new PeerCounter(options.maxPerIp);
    this.#deadlineMs = options.deadlineMs;
    this.#idleMs = options.idleMs;
    this.#encrypted = options.encrypted;
    this.#handler = options.handler;
    this.#direct = options.directWebSocket && !options.encrypted;
  }

  /** The real peer behind a connection the inner server accepted. */
  peerOf(innerRemote: Deno.NetAddr): Deno.NetAddr | undefined {
    return this.#peers.get(innerRemote.port)?.peer;
  }

  /** The inner server received a complete request on a relayed connection. */
  requestArrived(innerRemote: Deno.NetAddr): void {
    this.#peers.get(innerRemote.port)?.watcher.requestArrived();
  }

  /**
   * After the inner server stopped: give relayed connections up to `graceMs` to forward their
   * last bytes (a session's final close frames) and close, then close what is left.
   */
  async closeAll(graceMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#tasks]),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    for (const c of this.#open) closeQuietly(c);
  }

  /** Accept until the signal aborts (resolves) or the socket dies (rejects). */
  async run(): Promise<void> {
    let failures = 0;
    while (!this.#signal.aborted) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
        failures = 0;
      } catch (err) {
        if (this.#signal.aborted) return;
        // Out of file descriptors is load (peers can cause it), not a dead socket: wait it out.
        const exhausted = /too many open files|os error 2[34]\b/i.test(errorText(err));
        if (err instanceof Deno.errors.BadResource || (!exhausted && ++failures >= MAX_ACCEPT_FAILURES)) {
          throw new ListenerDiedError(`the TCP listener stopped accepting: ${errorText(err)}`, {
            cause: err,
          });
        }
        this.#log.warn("accepting a TCP connection failed", { error: errorText(err) });
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      const task = this.#handle(conn).catch((err) =>
        this.#log.debug("connection relay failed", { error: errorText(err) })
      );
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #handle(client: Deno.Conn): Promise<void> {
    const peer = client.remoteAddr as Deno.NetAddr;
    const ip = peer.hostname;
    if (!this.#perIp.acquire(ip)) {
      this.#log.warn("too many connections from one address: closing", {
        peer: ip,
        max: MAX_CONNECTIONS_PER_IP,
      });
      closeQuietly(client);
      return;
    }
    this.#open.add(client);
    let inner: Deno.TcpConn | undefined;
    let key = -1;
    const watcher = new RequestWatcher({
      headersDeadlineMs: this.#deadlineMs,
      idleMs: this.#idleMs,
      maxHeaderBytes: MAX_REQUEST_HEADER_BYTES,
    }, (why) => {
      this.#log.debug(
        why === "headers" ? "request headers not received in time: closing" : "idle connection: closing",
        {
          peer: formatAddress(peer.hostname, peer.port),
          deadline_ms: why === "headers" ? this.#deadlineMs : this.#idleMs,
        },
      );
      closeQuietly(client);
      if (inner) closeQuietly(inner);
    });
    let linger: ReturnType<typeof setTimeout> | undefined;
    try {
      let prefix: Uint8Array | undefined;
      if (this.#direct) {
        let first = await this.#firstRequest(client, watcher);
        if (first === null) return;
        if (first instanceof ConnUpgradeRequest) {
          const session = await this.#serveUpgrade(client, first, peer);
          first = null; // the request is not kept for the WebSocket's lifetime
          await session?.running;
          return;
        }
        prefix = first;
      }
      inner = await Deno.connect({ hostname: this.#inner.hostname, port: this.#inner.port });
      key = (inner.localAddr as Deno.NetAddr).port;
      this.#peers.set(key, { peer, watcher });
      const server = inner;
      if (prefix) {
        let off = 0;
        while (off < prefix.length) off += await server.write(prefix.subarray(off));
      }
      await Promise.all([
        this.#pump(client, server, watcher),
        // The server finished its side: FIN the client after everything was forwarded, read what
        // the client still sends (closing over unread bytes would RST away the last response),
        // and close for good after a short linger.
        this.#pump(server, client, watcher, true).then(() => {
          linger = setTimeout(() => {
            closeQuietly(client);
            closeQuietly(server);
          }, CLOSE_LINGER_MS);
        }),
      ]);
    } finally {
      watcher.stop();
      clearTimeout(linger);
      if (key >= 0) this.#peers.delete(key);
      closeQuietly(client);
      if (inner) closeQuietly(inner);
      this.#open.delete(client);
      this.#perIp.release(ip);
    }
  }

  /**
   * The connection's first request: a {@link ConnUpgradeRequest} (watcher stopped) when it is a
   * WebSocket upgrade to serve here, else the bytes read so far (for the loopback server); `null`
   * when the connection is gone.
   */
  async #firstRequest(
    client: Deno.Conn,
    watcher: RequestWatcher,
  ): Promise<ConnUpgradeRequest | Uint8Array | null> {
    const first = await this.#readHead(client, watcher);
    if (first === null) return null;
    if (first.headEnd < 0) return first.bytes;
    const request = this.#upgradeRequest(first.bytes, first.headEnd, client);
    if (!request) return first.bytes;
    watcher.stop();
    // Bytes after the head are the client's first frames; copied so the head buffer can go.
    request.initialBytes = first.bytes.slice(first.headEnd);
    return request;
  }

  /**
   * Read the first request head of a connection (through the watcher: deadline, size cap).
   * Returns the bytes read, with the head's end if it completed; `null` when the connection is
   * gone (closed by the client, by the watcher, or over the header cap).
   */
  async #readHead(client: Deno.Conn, watcher: RequestWatcher): Promise<FirstRead | null> {
    let buf = new Uint8Array(HEAD_BUFFER_BYTES);
    let length = 0;
    let matched = 0;
    for (;;) {
      if (length === buf.length) {
        const grown = new Uint8Array(buf.length * 2);
        grown.set(buf);
        buf = grown;
      }
      let n: number | null;
      try {
        n = await client.read(buf.subarray(length));
      } catch {
        return null;
      }
      if (n === null) return length > 0 ? { bytes: buf.subarray(0, length), headEnd: -1 } : null;
      const chunk = buf.subarray(length, length + n);
      if (watcher.clientBytes(chunk) === "too-large") {
        closeQuietly(client);
        return null;
      }
      for (let i = 0; i < n; i++) {
        const b = chunk[i];
        if (b === HEAD_END[matched]) matched++;
        else matched = b === 13 ? 1 : 0;
        if (matched === 4) return { bytes: buf.subarray(0, length + n), headEnd: length + i + 1 };
      }
      length += n;
    }
  }

  /**
   * The head `bytes[0..end)` as a {@link ConnUpgradeRequest} when it is a plain WebSocket upgrade
   * (GET over HTTP/1.1, origin-form target, Host, `Upgrade: websocket`, `Connection: upgrade`, a
   * key, no body); otherwise `null` (the loopback server then handles it as before).
   */
  #upgradeRequest(bytes: Uint8Array, end: number, client: Deno.Conn): ConnUpgradeRequest | null {
    const lines = new TextDecoder("latin1").decode(bytes.subarray(0, end - 4)).split("\r\n");
    const parts = lines[0].split(" ");
    if (parts.length !== 3 || parts[0] !== "GET" || parts[2] !== "HTTP/1.1" || !parts[1].startsWith("/")) {
      return null;
    }
    try {
      const headers = new Headers();
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i];
        const colon = line.indexOf(":");
        if (colon <= 0 || line[0] === " " || line[0] === "\t") return null;
        headers.append(line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ""));
      }
      const host = headers.get("host");
      const length = headers.get("content-length");
      if (
        !host || !headers.has("sec-websocket-key") || headers.has("transfer-encoding") ||
        (length !== null && length.trim() !== "0") ||
        !hasToken(headers.get("upgrade"), "websocket") || !hasToken(headers.get("connection"), "upgrade")
      ) {
        return null;
      }
      return new ConnUpgradeRequest(`http://${host}${parts[1]}`, headers, client);
    } catch {
      return null; // a header or URL the loopback server will answer (or reject) itself
    }
  }

  /**
   * Hand an upgrade request to the handler. Accepted: start the WebSocket on this connection and
   * return its run (resolves once it closed). Refused: write the handler's answer, then close the
   * connection.
   */
  async #serveUpgrade(
    client: Deno.Conn,
    request: ConnUpgradeRequest,
    peer: Deno.NetAddr,
  ): Promise<{ running: Promise<void> } | undefined> {
    const completed = Promise.withResolvers<void>();
    let response: Response;
    try {
      response = await this.#handler(request, { remoteAddr: peer, completed: completed.promise });
    } catch (err) {
      this.#log.warn("http handler failed", { error: errorText(err) });
      response = internalError();
    }
    const socket = request.socket;
    completed.resolve();
    if (socket) {
      try {
        (client as Deno.TcpConn).setNoDelay(true); // small frames are coalesced by the socket, not by Nagle
      } catch {
        // not a TCP connection
      }
      this.#log.debug("websocket served on the gate's connection", {
        peer: formatAddress(peer.hostname, peer.port),
      });
      return { running: socket.run(request.headers.get("sec-websocket-key")!, request.initialBytes) };
    }
    try {
      await writeResponse(client, response);
      await client.closeWrite();
    } catch {
      return;
    }
    // Read what the client still sends (closing over unread bytes would RST away the answer).
    const linger = setTimeout(() => closeQuietly(client), CLOSE_LINGER_MS);
    try {
      const sink = new Uint8Array(1024);
      while ((await client.read(sink)) !== null) { /* discard */ }
    } catch {
      // closed by the linger timer
    } finally {
      clearTimeout(linger);
    }
  }

  /**
   * Copy `from` → `to` until `from` ends (then half-close `to`). A failed write stops forwarding
   * but keeps reading `from` until it ends (its close is then clean, not a reset); a failed read
   * closes both. Client bytes go through the {@link RequestWatcher} (deadlines, header size);
   * server bytes only tell it the connection is active.
   */
  async #pump(from: Deno.Conn, to: Deno.Conn, watcher: RequestWatcher, fromServer = false): Promise<void> {
    const buf = new Uint8Array(PUMP_BUFFER_BYTES);
    let forwarding = true;
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (!forwarding) continue;
        const chunk = buf.subarray(0, n);
        if (fromServer) watcher.serverActivity();
        else if (!this.#encrypted && !watcher.opaque && watcher.clientBytes(chunk) === "too-large") {
          throw new Error("request headers too large");
        }
        try {
          let off = 0;
          while (off < n) off += await to.write(chunk.subarray(off));
        } catch {
          forwarding = false;
        }
      }
      try {
        await to.closeWrite();
      } catch {
        // already closed
      }
    } catch {
      closeQuietly(from);
      closeQuietly(to);
    }
  }
}

/** A refusal body up to this size is sent with `content-length`; a longer one is chunked. */
const MAX_BUFFERED_BODY_BYTES = 64 * 1024;

/**
 * Write `response` as HTTP/1.1 with `connection: close`: a body of up to
 * {@link MAX_BUFFERED_BODY_BYTES} with `content-length` (as `Deno.serve` does for known sizes),
 * a longer one chunked.
 */
async function writeResponse(conn: Deno.Conn, response: Response): Promise<void> {
  const writeAll = async (bytes: Uint8Array) => {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  };
  const encoder = new TextEncoder();
  let head = `HTTP/1.1 ${response.status} ${REASONS[response.status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "transfer-encoding" || name === "connection") continue;
    head += `${name}: ${value}\r\n`;
  }
  const reader = response.body?.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let done = reader === undefined;
  while (!done && size <= MAX_BUFFERED_BODY_BYTES) {
    const next = await reader!.read();
    if (next.done) done = true;
    else {
      parts.push(next.value);
      size += next.value.length;
    }
  }
  const chunk = async (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    await writeAll(encoder.encode(`${bytes.length.toString(16)}\r\n`));
    await writeAll(bytes);
    await writeAll(encoder.encode("\r\n"));
  };
  if (done) {
    await writeAll(encoder.encode(`${head}content-length: ${size}\r\nconnection: close\r\n\r\n`));
    for (const part of parts) await writeAll(part);
    return;
  }
  await writeAll(encoder.encode(`${head}transfer-encoding: chunked\r\nconnection: close\r\n\r\n`));
  for (const part of parts) await chunk(part);
  for (;;) {
    const next = await reader!.read();
    if (next.done) break;
    await chunk(next.value);
  }
  await writeAll(encoder.encode("0\r\n\r\n"));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Options of {@link serveHttp} beyond the address and handler. */
export interface ServeLimits {
  /** Header deadline (default {@link HEADERS_DEADLINE_MS}). */
  headersDeadlineMs?: number;
  /** Kept-alive connection idle timeout (default {@link KEEPALIVE_IDLE_MS}). */
  idleMs?: number;
  /** Concurrent connections per IP address (default {@link MAX_CONNECTIONS_PER_IP}). */
  maxConnectionsPerIp?: number;
  /**
   * Run WebSocket upgrades on the gate's own connection (plain HTTP only; default false): the
   * handler gets a `ConnUpgradeRequest` and must upgrade it with `acceptWebSocket` (from
   * `transport/`), not `Deno.upgradeWebSocket`. False relays upgrades to the loopback `Deno.serve`
   * like every other request.
   */
  directWebSocket?: boolean;
}

/**
 * Bind and serve. Resolves once the socket is listening; rejects with {@link ListenError} if it
 * cannot bind. A handler that throws gets a 500 (logged), never a crashed process. `finished`
 * resolves after the signal aborted and everything stopped; it rejects with
 * {@link ListenerDiedError} if the socket dies while the relay runs.
 */
export async function serveHttp(options: ServeHttpOptions & ServeLimits): Promise<HttpListener> {
  const address = formatAddress(options.hostname, options.port);
  const log = options.logger;
  const tls = options.cert !== undefined || options.key !== undefined;
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new ListenError(address, `cannot listen on ${address}: HTTPS needs both a certificate and a key`);
  }
  // The public socket is plain TCP even for HTTPS: the loopback server terminates TLS (closing a
  // Deno TLS connection whose handshake never started does not close its socket).
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port });
  } catch (err) {
    throw new ListenError(address, `cannot listen on ${address} (tcp): ${bindAdvice(err, tls)}`, {
      cause: err,
    });
  }
  const innerStop = new AbortController();
  /** Set once the gate exists (the inner server must bind first; no request arrives before). */
  const front: { gate?: ConnectionGate } = {};
  const handler: HttpHandler = (req, info) => {
    const innerRemote = info.remoteAddr.transport === "tcp" ? info.remoteAddr : undefined;
    if (innerRemote) front.gate?.requestArrived(innerRemote);
    const real = innerRemote ? front.gate?.peerOf(innerRemote) : undefined;
    return options.handler(req, real ? { remoteAddr: real, completed: info.completed } : info);
  };
  const base = {
    hostname: "127.0.0.1",
    port: 0,
    signal: innerStop.signal,
    onListen: () => {},
    onError: (err: unknown) => {
      log.warn("http handler failed", { error: errorText(err) });
      return internalError();
    },
  };
  let inner: Deno.HttpServer<Deno.NetAddr>;
  try {
    inner = options.cert !== undefined && options.key !== undefined
      ? Deno.serve({ ...base, cert: options.cert, key: options.key }, handler)
      : Deno.serve(base, handler);
  } catch (err) {
    listener.close();
    throw new ListenError(address, `cannot listen on ${address} (tcp): ${bindAdvice(err, tls)}`, {
      cause: err,
    });
  }
  const gate = new ConnectionGate(listener, inner.addr, {
    logger: log,
    signal: options.signal,
    maxPerIp: options.maxConnectionsPerIp ?? MAX_CONNECTIONS_PER_IP,
    deadlineMs: options.headersDeadlineMs ?? HEADERS_DEADLINE_MS,
    idleMs: options.idleMs ?? KEEPALIVE_IDLE_MS,
    encrypted: tls,
    handler: options.handler,
    directWebSocket: options.directWebSocket ?? false,
  });
  front.gate = gate;
  const stop = () => {
    try {
      listener.close();
    } catch {
      // already closed
    }
    innerStop.abort();
  };
  options.signal.addEventListener("abort", stop, { once: true });
  if (options.signal.aborted) stop();
  const running = gate.run();
  const finished = (async () => {
    let died: unknown;
    try {
      await running;
    } catch (err) {
      died = err;
      stop();
    }
    await inner.finished;
    await gate.closeAll(SHUTDOWN_FLUSH_MS);
    if (died !== undefined) throw died;
  })();
  // Unobserved until someone awaits it: never an unhandled rejection.
  finished.catch(() => {});
  const addr = listener.addr as Deno.NetAddr;
  log.debug("http listening", { addr: formatAddress(addr.hostname, addr.port), tls });
  await Promise.resolve();
  return { addr, finished };
}
