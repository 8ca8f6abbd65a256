/**
 * Close codes and resource limits of a WebSocket session, and the errors its parts raise.
 *
 * @module
 */

/** Session close code for a peer that broke the framing rules (docs/protocol.md §9). */
export const CLOSE_CODE_PROTOCOL_VIOLATION = 15;
/** Session close code for a peer that exceeded one of our resource limits (docs/protocol.md §9). */
export const CLOSE_CODE_BOUNDS_EXCEEDED = 11;
/** Session close code for a record-framing session idle beyond its timeout (docs/protocol.md §9). */
export const CLOSE_CODE_IDLE_TIMEOUT = 3;
/** Session close code recorded when the WebSocket went away without an application close (§9). */
export const CLOSE_CODE_TRANSPORT_LOST = 1;

/** Default bound on `socket.bufferedAmount` above which the pump waits. */
export const SOCKET_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** How often the pump re-checks `bufferedAmount` while it is above the bound (Deno has no drain event). */
export const DRAIN_POLL_MS = 5;
/** Default number of streams of each direction we let a qmux peer open (raised as they finish). */
export const DEFAULT_MAX_STREAMS = 1000;
/**
 * Default cap on concurrently open peer-initiated streams (both framings), and on stream ids a peer
 * skipped and left unused.
 */
export const DEFAULT_MAX_OPEN_STREAMS = 10_000;
/** Default cap on bytes received but not yet read by the application, per session. */
export const DEFAULT_MAX_UNREAD_BYTES = 16 * 1024 * 1024;
/** qmux connection receive window we advertise (initial_max_data). */
export const INITIAL_MAX_DATA_BYTES = 1_048_576;
/** qmux per-stream receive window we advertise (initial_max_stream_data_*). */
export const INITIAL_MAX_STREAM_DATA_BYTES = 262_144;

/** Resource limits of one WebSocket session. */
export interface WebSocketSessionLimits {
  /** Bidi streams a qmux peer may open before we grant more (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreamsBidi?: number;
  /** Uni streams a qmux peer may open before we grant more (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreamsUni?: number;
  /**
   * Concurrently open peer-initiated streams, and peer stream ids skipped but not used yet, before
   * the session is closed (default 10 000).
   */
  maxOpenStreams?: number;
  /** Received-but-unread bytes before the session is closed (default 16 MiB). */
  maxUnreadBytes?: number;
  /** `bufferedAmount` bound for the send pump (default 1 MiB). */
  socketBufferBytes?: number;
}

/** Raised by `write()` after the stream was finished or reset locally. */
export class StreamNotWritableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StreamNotWritableError";
  }
}

/** Raised from a frame handler when the peer must be disconnected; `code` is the close code. */
export class PeerError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "PeerError";
    this.code = code;
  }
}
