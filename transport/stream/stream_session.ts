/**
 * Plaintext qmux over a byte stream (`[server.tcp]`, `[server.unix]`, docs/relay.md §1.3): the
 * qmux-01 record framing with `Size`-prefixed records, the application protocol negotiated in-band
 * (transport/stream/_negotiate.ts), and the same qmux session as WebSocket on top. There is no
 * TLS and no URL: the session's URL is `moq+tcp://local/` (or `moq+unix://local/`), so its path is
 * the root `/` until the moq-lite SETUP carries one.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type {
  BidiStream,
  CloseInfo,
  NegotiatedProtocol,
  RecvStream,
  SendStream,
  TransportSession,
} from "../types.ts";
import { WebSocketSession, type WebSocketSessionLimits } from "../websocket/mod.ts";
import { RecordReader, RecordSocket, RecordStreamError } from "./_record_socket.ts";
import { addProtocols, agreeProtocol, takeProtocols } from "./_negotiate.ts";

/** The wire framing on byte streams (fixed: there is no ALPN to pick another). */
const STREAM_FRAMING = "qmux-01" as const;
/** How long the peer has to send its transport parameters. */
export const STREAM_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Options for {@link acceptQmuxStream} and {@link dialQmuxStream}. */
export interface QmuxStreamOptions extends WebSocketSessionLimits {
  /** `tcp` or `unix` (logs, metrics, auth). */
  kind: "tcp" | "unix";
  /** Application protocols in preference order (server: what it supports; client: what it offers). */
  protocols: readonly NegotiatedProtocol[];
  /** The peer, for logs (`host:port`, or the socket path). */
  peer: string;
  logger: Logger;
  /** Handshake timeout (default {@link STREAM_HANDSHAKE_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** Raised when the qmux handshake on a byte stream fails. */
export class QmuxStreamError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QmuxStreamError";
  }
}

/** A qmux session on a byte stream: the WebSocket session with its own kind, URL and protocol. */
class StreamSession implements TransportSession {
  readonly kind: "tcp" | "unix";
  readonly protocol: NegotiatedProtocol;
  readonly url: URL;
  readonly peer: string;
  readonly closed: Promise<CloseInfo>;
  readonly #inner: WebSocketSession;

  constructor(inner: WebSocketSession, kind: "tcp" | "unix", protocol: NegotiatedProtocol, peer: string) {
    this.#inner = inner;
    this.kind = kind;
    this.protocol = protocol;
    this.url = new URL(`moq+${kind}://local/`);
    this.peer = peer;
    this.closed = inner.closed;
  }

  openBidi(): Promise<BidiStream> {
    return this.#inner.openBidi();
  }
  openUni(): Promise<SendStream> {
    return this.#inner.openUni();
  }
  acceptBidi(): Promise<BidiStream | null> {
    return this.#inner.acceptBidi();
  }
  acceptUni(): Promise<RecvStream | null> {
    return this.#inner.acceptUni();
  }
  close(code: number, reason: string): void {
    this.#inner.close(code, reason);
  }
}

/**
 * No Nagle delay on TCP: the record socket already coalesces what a task sends into one write, so
 * holding a small record back for an ACK only adds latency.
 */
function noDelay(conn: Deno.Conn): void {
  try {
    if (conn.remoteAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
  } catch {
    // closed already: the handshake fails on its own
  }
}

function session(
  socket: RecordSocket,
  options: QmuxStreamOptions,
  protocol: NegotiatedProtocol,
  role: "server" | "client",
): WebSocketSession {
  return new WebSocketSession({
    ...options,
    socket: socket as unknown as WebSocket, // the subset the session uses (see RecordSocket)
    framing: STREAM_FRAMING,
    protocol,
    url: new URL(`moq+${options.kind}://local/`),
    peer: options.peer,
    role,
    logger: options.logger,
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number, conn: Deno.Conn): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          try {
            conn.close();
          } catch {
            // closed
          }
          reject(new QmuxStreamError(`no qmux transport parameters within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Accept qmux on an accepted connection: read the client's transport parameters, agree on an
 * application protocol, start the session. Closes `conn` and throws {@link QmuxStreamError} on
 * failure.
 */
export async function acceptQmuxStream(
  conn: Deno.Conn,
  options: QmuxStreamOptions,
): Promise<TransportSession> {
  noDelay(conn);
  const reader = new RecordReader(conn);
  let first: Uint8Array | null;
  let offered: string[];
  try {
    first = await withTimeout(reader.next(), options.timeoutMs ?? STREAM_HANDSHAKE_TIMEOUT_MS, conn);
    if (first === null) throw new QmuxStreamError("the peer closed before the qmux handshake");
    const taken = takeProtocols(first);
    first = taken.record;
    offered = taken.protocols;
  } catch (e) {
    try {
      conn.close();
    } catch {
      // closed
    }
    if (e instanceof QmuxStreamError) throw e;
    throw new QmuxStreamError(`qmux handshake failed: ${e instanceof Error ? e.message : e}`, { cause: e });
  }
  const protocol = agreeProtocol(options.protocols, offered) as NegotiatedProtocol | undefined;
  if (protocol === undefined) {
    conn.close();
    throw new QmuxStreamError(
      `no common application protocol: the peer offered ${offered.join(", ") || "none"}, ` +
        `this relay speaks ${options.protocols.join(", ")}`,
    );
  }
  const socket = new RecordSocket(conn, { firstSend: (record) => addProtocols(record, [protocol]) });
  const inner = session(socket, options, protocol, "server");
  socket.start(reader, first);
  return new StreamSession(inner, options.kind, protocol, options.peer);
}

/** Dial qmux on a connected stream, offering `options.protocols`; resolves once they agreed. */
export async function dialQmuxStream(conn: Deno.Conn, options: QmuxStreamOptions): Promise<TransportSession> {
  noDelay(conn);
  const reader = new RecordReader(conn);
  const socket = new RecordSocket(conn, { firstSend: (record) => addProtocols(record, options.protocols) });
  // The session sends its parameters at construction; its protocol field is not used here.
  const inner = session(socket, options, options.protocols[0] ?? "", "client");
  let first: Uint8Array | null;
  let chosen: string[];
  try {
    first = await withTimeout(reader.next(), options.timeoutMs ?? STREAM_HANDSHAKE_TIMEOUT_MS, conn);
    if (first === null) throw new RecordStreamError("the server closed before the qmux handshake");
    const taken = takeProtocols(first);
    first = taken.record;
    chosen = taken.protocols;
  } catch (e) {
    inner.close(0, "handshake failed");
    throw new QmuxStreamError(`qmux handshake failed: ${e instanceof Error ? e.message : e}`, { cause: e });
  }
  const protocol = agreeProtocol(chosen, options.protocols) as NegotiatedProtocol | undefined;
  if (protocol === undefined) {
    inner.close(0, "no common application protocol");
    throw new QmuxStreamError(`no common application protocol (the server lists ${chosen.join(", ")})`);
  }
  socket.start(reader, first);
  return new StreamSession(inner, options.kind, protocol, options.peer);
}
