/**
 * What the parts of a WebSocket session share: the framing, the logger, whether the session is
 * closed, and how to send a control frame.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type { Frame, Framing } from "./framing.ts";

/** The session as its parts (flow control, stream table, send pump, receive path) see it. */
export interface SessionLink {
  /** The negotiated framing. */
  readonly framing: Framing;
  /** A qmux framing (transport parameters and flow control on) rather than `webtransport`. */
  readonly qmux: boolean;
  /** A record framing (`qmux-01`, `qmux-02`): several frames per message, QX_PING, idle timeout. */
  readonly records: boolean;
  /** The session's logger. */
  readonly log: Logger;
  /** True once the session is closed: nothing is sent, created or granted any more. */
  readonly closed: boolean;
  /** Send one control frame now (bypasses the stream queues). Never throws. */
  sendFrame(frame: Frame): void;
}

/**
 * What a session uses of its socket: a `WebSocket` (dialed, or from `Deno.upgradeWebSocket`) or
 * a `ConnWebSocket` (run by the HTTP gate on its own connection).
 */
export interface SessionSocket extends EventTarget {
  /** `WebSocket.CONNECTING` … `WebSocket.CLOSED`. */
  readonly readyState: number;
  /** Set to `"arraybuffer"` by the session. */
  binaryType: BinaryType;
  /** Bytes queued but not yet written to the network (the send pump's backpressure signal). */
  readonly bufferedAmount: number;
  /** Queue one binary message; the bytes are copied before this returns. */
  send(data: Uint8Array): void;
  /**
   * Only on a `ConnWebSocket`: begin a binary message of exactly `length` bytes that the caller
   * writes into {@link sendBuffer} from the returned offset in the same synchronous run (-1:
   * nothing may be sent). Saves copying the payload once more.
   */
  beginBinary?(length: number): number;
  /** Only on a `ConnWebSocket`: the buffer of the message begun by {@link beginBinary}. */
  readonly sendBuffer?: Uint8Array;
  /**
   * Only on a `ConnWebSocket`: call `callback` once, when a write completes with at most
   * `thresholdBytes` left to write (`null` forgets it). Replaces polling `bufferedAmount`.
   */
  notifyBelow?(thresholdBytes: number, callback: (() => void) | null): void;
  /** Start the closing handshake. */
  close(code?: number, reason?: string): void;
}
