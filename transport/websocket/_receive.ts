/**
 * The receive path of a WebSocket session: decode each WebSocket message into frames and apply
 * them (streams appear on first sight of a new peer id, bytes are buffered per stream, the peer's
 * credit frames feed the send side), and the application's `read()` / `stop()`.
 *
 * Anything malformed becomes an error the caller turns into a session close; nothing here throws
 * out of an event handler.
 *
 * @module
 */

import { SessionClosedError, StreamResetError, StreamStoppedError } from "../types.ts";
import type { FlowControl } from "./_flow_control.ts";
import {
  decodeFrames,
  DEFAULT_MAX_RECORD_SIZE_BYTES,
  type Frame,
  FrameDecodeError,
  type Framing,
} from "./framing.ts";
import type { KeepAlive } from "./_keepalive.ts";
import { CLOSE_CODE_BOUNDS_EXCEEDED, CLOSE_CODE_PROTOCOL_VIOLATION, PeerError } from "./_limits.ts";
import type { SessionLink } from "./_link.ts";
import type { SendPump } from "./_send_pump.ts";
import { StreamIdGapError } from "./_stream_ids.ts";
import type { StreamState } from "./_stream_state.ts";
import type { StreamTable } from "./_stream_table.ts";

/** The parts of the session the receive path works with. */
export interface ReceiverParts {
  link: SessionLink;
  framing: Framing;
  flow: FlowControl;
  table: StreamTable;
  pump: SendPump;
  keepAlive: KeepAlive;
  /** The peer broke a rule: close the session with `code`. */
  violation: (code: number, reason: string) => void;
  /** The peer closed the session (CONNECTION_CLOSE / APPLICATION_CLOSE). */
  peerClosed: (code: number, reason: string, application: boolean) => void;
}

/** Applies received frames to one session and serves its reads. */
export class Receiver {
  readonly #link: SessionLink;
  readonly #framing: Framing;
  readonly #flow: FlowControl;
  readonly #table: StreamTable;
  readonly #pump: SendPump;
  readonly #keepAlive: KeepAlive;
  readonly #violation: (code: number, reason: string) => void;
  readonly #peerClosed: (code: number, reason: string, application: boolean) => void;

  constructor(parts: ReceiverParts) {
    this.#link = parts.link;
    this.#framing = parts.framing;
    this.#flow = parts.flow;
    this.#table = parts.table;
    this.#pump = parts.pump;
    this.#keepAlive = parts.keepAlive;
    this.#violation = parts.violation;
    this.#peerClosed = parts.peerClosed;
  }

  /** One WebSocket message: decode and apply its frames; a bad one closes the session. */
  onMessage(data: unknown): void {
    if (this.#link.closed) return;
    try {
      if (!(data instanceof ArrayBuffer)) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          "text WebSocket message received; only binary messages carry frames",
        );
      }
      this.#keepAlive.received();
      if (this.#link.records && data.byteLength > DEFAULT_MAX_RECORD_SIZE_BYTES) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          `record of ${data.byteLength} bytes exceeds our max_record_size ${DEFAULT_MAX_RECORD_SIZE_BYTES}`,
        );
      }
      const frames = decodeFrames(new Uint8Array(data), this.#framing);
      for (const frame of frames) {
        if (this.#link.closed) return;
        this.#onFrame(frame);
      }
      this.#keepAlive.answer();
    } catch (error) {
      if (this.#link.closed) return;
      if (error instanceof PeerError) {
        this.#violation(error.code, error.message);
      } else if (error instanceof StreamIdGapError) {
        this.#violation(CLOSE_CODE_BOUNDS_EXCEEDED, error.message);
      } else if (error instanceof FrameDecodeError) {
        this.#violation(CLOSE_CODE_PROTOCOL_VIOLATION, `malformed frame: ${error.message}`);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        this.#link.log.error("unexpected error handling a WebSocket message", { error: message });
        this.#violation(CLOSE_CODE_PROTOCOL_VIOLATION, `internal error handling a frame: ${message}`);
      }
    }
  }

  /** The application's read of `state`: the next chunk, `null` at FIN / after stop. */
  read(state: StreamState): Promise<Uint8Array | null> {
    const chunk = state.chunks.shift();
    if (chunk) {
      this.#flow.consume(state, chunk.length);
      return Promise.resolve(chunk);
    }
    switch (state.recvState) {
      case "fin":
      case "stopped":
        return Promise.resolve(null);
      case "reset":
        return Promise.reject(new StreamResetError(state.resetCode));
    }
    if (this.#link.closed) return Promise.reject(new SessionClosedError());
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array | null>();
    state.readWaiters.push({ resolve, reject });
    return promise;
  }

  /** The application stops reading `state` (STOP_SENDING). */
  stop(state: StreamState, code: number): void {
    if (!state.canRecv) return;
    this.#flow.discardUnread(state);
    if (state.recvState === "open" && !this.#link.closed && state.id < 0) {
      state.pendingStopCode = code;
    } else if (state.recvState === "open" && !this.#link.closed) {
      this.#link.sendFrame({ type: "stop_sending", id: state.id, code });
    }
    if (state.recvState === "open" || state.recvState === "fin") state.recvState = "stopped";
    for (const waiter of state.readWaiters) waiter.resolve(null);
    state.readWaiters = [];
    if (!this.#link.closed) this.#table.maybeRelease(state);
  }

  #onFrame(frame: Frame): void {
    const flow = this.#flow;
    if (this.#link.qmux && !flow.peerParams && frame.type !== "transport_parameters") {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `expected QX_TRANSPORT_PARAMETERS as the first ${this.#framing} frame, got ${frame.type}`,
      );
    }
    switch (frame.type) {
      case "stream":
        return this.#onStream(frame.id, frame.data, frame.fin, frame.offset);
      case "reset_stream":
        return this.#onReset(frame.id, frame.code);
      case "stop_sending":
        return this.#onStopSending(frame.id, frame.code);
      case "close":
        return this.#peerClosed(frame.code, frame.reason, frame.application);
      case "transport_parameters":
        if (flow.peerParams && this.#framing === "qmux-02") {
          throw new PeerError(CLOSE_CODE_PROTOCOL_VIOLATION, "QX_TRANSPORT_PARAMETERS received twice");
        }
        if (flow.peerParams) {
          this.#link.log.debug("ignoring repeated QX_TRANSPORT_PARAMETERS");
          return;
        }
        flow.onTransportParameters(frame.params);
        this.#keepAlive.begin(frame.params.maxIdleTimeoutMs ?? 0);
        return;
      case "reset_stream_at":
        if (this.#framing !== "qmux-02") {
          throw new PeerError(
            CLOSE_CODE_PROTOCOL_VIOLATION,
            `RESET_STREAM_AT in ${this.#framing}: only qmux-02 sessions announce reset_stream_at`,
          );
        }
        return this.#onReset(frame.id, frame.code, frame.reliableSize);
      case "ping":
        if (frame.response) this.#keepAlive.onPingResponse(frame.sequence);
        else this.#keepAlive.onPingRequest(frame.sequence);
        return;
      case "datagram":
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          "DATAGRAM frame received, but this session announced max_datagram_frame_size 0",
        );
      case "padding":
        return;
      case "max_data":
        if (frame.max > flow.connSendMax) {
          flow.connSendMax = frame.max;
          this.#pump.connectionCreditRaised();
        }
        return;
      case "max_stream_data": {
        const state = this.#table.get(frame.id);
        if (state && state.canSend && frame.max > state.sendMax) {
          state.sendMax = frame.max;
          if (state.queuedBytes > 0 || state.finQueued) {
            this.#pump.schedule(state);
            this.#pump.kick();
          }
        }
        return;
      }
      case "max_streams":
        return flow.onMaxStreams(frame.bidi ? "bidi" : "uni", frame.max);
      case "data_blocked":
      case "stream_data_blocked":
      case "streams_blocked":
        this.#link.log.trace("peer reports it is blocked", { frame: frame.type, limit: frame.limit });
        return;
    }
  }

  #onStream(id: number, data: Uint8Array, fin: boolean, offset: number | undefined): void {
    const length = data.length;
    this.#flow.chargeConnection(length);
    const state = this.#table.lookup(id, true);
    if (!state || state.recvState !== "open") {
      if (state && !state.canRecv) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          `peer sent STREAM on stream ${id}, which is our unidirectional stream`,
        );
      }
      // Finished, stopped or forgotten stream: drop the bytes but give the connection credit back.
      if (this.#link.qmux && length > 0) this.#flow.consumeConnection(length);
      return;
    }
    if (offset !== undefined && offset !== state.recvOffset) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `STREAM frame for stream ${id} at offset ${offset}, expected ${state.recvOffset} (frames must be in order)`,
      );
    }
    this.#flow.buffer(state, data);
    const pending = state.pendingReset;
    if (pending && !fin && state.recvOffset >= pending.reliableSize) {
      state.pendingReset = undefined;
      this.#resetKeeping(state, pending.code, pending.reliableSize);
      return;
    }
    if (fin) {
      state.pendingReset = undefined;
      state.recvState = "fin";
    }
    state.deliver((bytes) => this.#flow.consume(state, bytes));
    if (fin) this.#table.maybeRelease(state);
  }

  /**
   * RESET_STREAM, or RESET_STREAM_AT with `reliableSize` > 0: the bytes below `reliableSize` are
   * still delivered (draft-ietf-quic-reliable-stream-reset), then reads fail with the code.
   */
  #onReset(id: number, code: number, reliableSize = 0): void {
    const state = this.#table.get(id);
    if (!state) {
      // A peer stream reset before any data: count its id as used and done, never surface it.
      const dir = this.#table.useForResetOnly(id);
      if (dir) this.#flow.retirePeerStream(dir);
      return;
    }
    if (!state.canRecv || state.recvState !== "open") return;
    if (reliableSize > state.recvOffset) {
      // The reliable part is still on its way (frames arrive in order): reset once it is here.
      state.pendingReset = { code, reliableSize };
      return;
    }
    this.#resetKeeping(state, code, reliableSize);
  }

  /** Reset the receive half of `state`, keeping unread bytes below stream offset `keep`. */
  #resetKeeping(state: StreamState, code: number, keep: number): void {
    state.recvState = "reset";
    state.resetCode = code;
    const firstUnread = state.recvOffset - state.unreadBytes;
    this.#flow.discardUnreadBeyond(state, Math.max(0, keep - firstUnread));
    state.deliver((bytes) => this.#flow.consume(state, bytes));
    if (state.chunks.length === 0) {
      for (const waiter of state.readWaiters) waiter.reject(new StreamResetError(code));
      state.readWaiters = [];
    }
    this.#table.maybeRelease(state);
  }

  #onStopSending(id: number, code: number): void {
    const state = this.#table.get(id);
    if (!state || !state.canSend || state.sendState !== "open") return;
    // docs/protocol.md §3.6: reset at once and never write on this id again.
    this.#link.sendFrame({ type: "reset_stream", id, code, finalSize: state.sentOffset });
    this.#pump.abandon(state, new StreamStoppedError(code), code);
    this.#table.maybeRelease(state);
  }
}
