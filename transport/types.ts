/**
 * The contract between transports (WebSocket/qmux, raw QUIC, WebTransport over HTTP/3) and the
 * moq-lite session layer. Every transport turns its connection into a {@link TransportSession}:
 * a set of multiplexed bidirectional and unidirectional byte streams, as QUIC provides them.
 *
 * Data flows one way: transport → session (`session/`) → relay (`relay/`).
 *
 * @module
 */

/** Which transport carried a session. Used for logs, metrics and auth. */
export type TransportKind = "websocket" | "quic" | "webtransport" | "tcp" | "unix";

/**
 * The application protocol a transport negotiated before any moq-lite byte was exchanged:
 * `"moq-lite-05"` / `"moq-lite-04"` / `"moq-lite-03"` (ALPN, `wt-protocol` or a `<framing>.<alpn>` WebSocket
 * subprotocol) or `""` (nothing selected: `moql`, bare `webtransport`/`qmux-00` framing, or no
 * subprotocol). With `""` the session expects a legacy CLIENT_SETUP on the first bidi stream.
 */
export type NegotiatedProtocol = "moq-lite-05" | "moq-lite-04" | "moq-lite-03" | IetfProtocol | "";

/**
 * An IETF moq-transport ALPN / `wt-protocol` / WebSocket suffix: `moq-00` (draft-14) and `moqt-15` …
 * `moqt-20` (draft-ietf-moq-transport-15 … -20). A session negotiated with one runs moq-transport.
 */
export type IetfProtocol =
  | "moq-00"
  | "moqt-15"
  | "moqt-16"
  | "moqt-17"
  | "moqt-18"
  | "moqt-19"
  | "moqt-20";

/** The IETF protocols, newest first (the relay's preference among them). */
export const IETF_PROTOCOLS: readonly IetfProtocol[] = [
  "moqt-20",
  "moqt-19",
  "moqt-18",
  "moqt-17",
  "moqt-16",
  "moqt-15",
  "moq-00",
];

/** The `[server] version` name of an IETF protocol (`moq-transport-NN`, upstream's spelling). */
export function ietfVersionName(p: IetfProtocol): string {
  return p === "moq-00" ? "moq-transport-14" : `moq-transport-${p.slice(5)}`;
}

/** Whether `p` is an IETF moq-transport protocol. */
export function isIetfProtocol(p: string): p is IetfProtocol {
  return (IETF_PROTOCOLS as readonly string[]).includes(p);
}

/** Raised by {@link RecvStream.read} when the peer reset its sending side. */
export class StreamResetError extends Error {
  /** The application error code the peer sent (0 when the transport cannot carry one). */
  readonly code: number;
  constructor(code: number, message = `stream reset by peer with code ${code}`) {
    super(message);
    this.name = "StreamResetError";
    this.code = code;
  }
}

/** Raised by {@link SendStream.write} once the peer sent STOP_SENDING for the stream. */
export class StreamStoppedError extends Error {
  /** The application error code the peer sent (0 when the transport cannot carry one). */
  readonly code: number;
  constructor(code: number, message = `the peer stopped reading this stream (STOP_SENDING code ${code})`) {
    super(message);
    this.name = "StreamStoppedError";
    this.code = code;
  }
}

/** Raised by stream operations once the whole session is gone. */
export class SessionClosedError extends Error {
  constructor(message = "the session is closed") {
    super(message);
    this.name = "SessionClosedError";
  }
}

/** The sending half of a stream. */
export interface SendStream {
  /**
   * Queue `data` for sending. Resolves when the transport accepted the bytes into its own bounded
   * buffer (backpressure); rejects with {@link SessionClosedError} or when the peer stopped the
   * stream. The caller must not mutate `data` afterwards (it may be shared by many streams).
   */
  write(data: Uint8Array): Promise<void>;
  /** Graceful end of the stream (FIN) after everything queued. Never throws. */
  close(): Promise<void>;
  /**
   * Abort the stream with an application code (RESET_STREAM). Queued data may be discarded.
   * Transports that cannot carry a code (Deno QUIC) end the stream instead. Never throws.
   */
  reset(code: number): void;
  /**
   * Resolves with the peer's code when the peer sent STOP_SENDING, or with `-1` when the stream
   * or session ended for any other reason (after close/reset or session loss). Never rejects.
   */
  readonly stopped: Promise<number>;
  /** Bytes queued in this stream but not yet handed to the network (0 when unknown). */
  readonly bufferedBytes: number;
}

/** The receiving half of a stream. */
export interface RecvStream {
  /**
   * The next chunk of bytes, or `null` at the clean end of the stream (FIN).
   * Rejects with {@link StreamResetError} if the peer reset the stream and with
   * {@link SessionClosedError} if the session is gone.
   */
  read(): Promise<Uint8Array | null>;
  /** Ask the peer to stop sending (STOP_SENDING) and discard anything that arrives. Never throws. */
  stop(code: number): void;
}

/** A bidirectional stream: both halves share one stream id. */
export interface BidiStream {
  readonly send: SendStream;
  readonly recv: RecvStream;
}

/** How a session ended. */
export interface CloseInfo {
  /** The application close code (0 = clean). */
  code: number;
  /** A human-readable reason (may be empty). */
  reason: string;
  /** True when the peer closed (or vanished); false when we closed it. */
  remote: boolean;
  /**
   * True when the session ended without an explicit application close from the peer
   * (transport error, idle timeout, socket dropped). Abrupt loss makes broadcasts linger.
   */
  abrupt: boolean;
}

/** Unreliable QUIC datagrams (RFC 9221), on transports that carry them. */
export interface DatagramChannel {
  /** Largest datagram the connection takes right now, in bytes (0 = none). */
  readonly maxBytes: number;
  /** Send one datagram; one that cannot go out (too large, session gone) is dropped. Never throws. */
  send(data: Uint8Array): void;
  /** The next datagram received, or `null` once the session is closed. */
  receive(): Promise<Uint8Array | null>;
}

/** One accepted (or dialed) transport session, carrying exactly one moq-lite session. */
export interface TransportSession {
  /** Which transport carries this session. */
  readonly kind: TransportKind;
  /** What the transport negotiated (see {@link NegotiatedProtocol}). */
  readonly protocol: NegotiatedProtocol;
  /**
   * The URL the client connected to: the path is the session root, `?jwt=` the credential.
   * Raw QUIC has no URL: `moql://<sni or host>/`.
   */
  readonly url: URL;
  /** The peer's address as `host:port` (for logs). */
  readonly peer: string;
  /** QUIC datagrams where the transport carries them (raw QUIC, WebTransport); absent on WebSocket/qmux. */
  readonly datagrams?: DatagramChannel;
  /** Open a bidirectional stream. Rejects with {@link SessionClosedError} once closed. */
  openBidi(): Promise<BidiStream>;
  /** Open a unidirectional stream (waits for stream credit). Rejects once closed. */
  openUni(): Promise<SendStream>;
  /** The next bidirectional stream the peer opened, or `null` once the session is closed. */
  acceptBidi(): Promise<BidiStream | null>;
  /** The next unidirectional stream the peer opened, or `null` once the session is closed. */
  acceptUni(): Promise<RecvStream | null>;
  /**
   * Close the session with an application code and reason (APPLICATION_CLOSE, the WebTransport
   * CLOSE capsule, or QUIC CONNECTION_CLOSE). Idempotent; never throws.
   */
  close(code: number, reason: string): void;
  /** Resolves once the session is closed, whoever closed it. Never rejects. */
  readonly closed: Promise<CloseInfo>;
}
