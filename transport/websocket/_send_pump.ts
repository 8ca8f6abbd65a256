/**
 * The send side of a WebSocket session: per-stream queues drained by one pump that hands STREAM
 * frames (≤ {@link MAX_STREAM_PAYLOAD_BYTES} of payload) to the socket round-robin across streams,
 * while `socket.bufferedAmount` is below a bound and, in the qmux framings, while the peer granted
 * credit. In `webtransport` and `qmux-00` framing each WebSocket message is exactly one frame (0.0.6
 * decodes only the first); in the record framings (`qmux-01`, `qmux-02`) one message is a record of
 * as many STREAM frames, of as many streams, as fit in {@link RECORD_BUDGET_BYTES}. Control frames
 * bypass the queues (one frame per message).
 *
 * @module
 */

import { putVarint, varintSize } from "../../codec/mod.ts";
import { SessionClosedError, StreamStoppedError } from "../types.ts";
import type { FlowControl } from "./_flow_control.ts";
import { encodeFrame, type Frame, FrameType, type Framing, MAX_STREAM_PAYLOAD_BYTES } from "./framing.ts";
import type { KeepAlive } from "./_keepalive.ts";
import { DRAIN_POLL_MS, StreamNotWritableError } from "./_limits.ts";
import type { SessionLink, SessionSocket } from "./_link.ts";
import type { StreamState } from "./_stream_state.ts";
import type { StreamTable } from "./_stream_table.ts";

/** What {@link SendPump.write} returns once the bytes are already handed to the socket. */
const SENT: Promise<void> = Promise.resolve();

/** Largest STREAM frame header: type byte, 8-byte id varint, 8-byte length varint. */
const MAX_STREAM_HEADER_BYTES = 17;

/**
 * Encode buffer for outgoing STREAM frames, shared by every session. It is only ever used
 * synchronously between filling and `socket.send()`, and Deno's `send()` copies a view's bytes
 * before returning (`op_ws_send_binary` → `to_vec`), so reusing it is safe and saves one
 * allocation + zero-fill + GC per message on the fan-out hot path.
 */
const STREAM_SCRATCH = new Uint8Array(MAX_STREAM_HEADER_BYTES + MAX_STREAM_PAYLOAD_BYTES);

/**
 * Largest record we send: the scratch buffer, 16 377 bytes, which is below the smallest
 * `max_record_size` a peer may announce (16 382, draft-ietf-quic-qmux-01), so no peer value
 * needs checking.
 */
export const RECORD_BUDGET_BYTES = STREAM_SCRATCH.length;

/**
 * In a record that already holds a frame, a stream whose data would have to be cut to fit gets a
 * record of its own unless at least this much room is left (avoids tiny fragments).
 */
const MIN_SPLIT_BYTES = 1024;

/** The parts of the session the pump works with. */
export interface SendPumpParts {
  link: SessionLink;
  socket: SessionSocket;
  framing: Framing;
  flow: FlowControl;
  table: StreamTable;
  /** `bufferedAmount` bound above which the pump waits. */
  socketBufferBytes: number;
  /** Counts sent messages for the idle timer. */
  keepAlive: KeepAlive;
  /** The socket failed: lose the session. */
  lost: (reason: string) => void;
}

/** Queues and sends stream data of one session. */
export class SendPump {
  readonly #link: SessionLink;
  readonly #socket: SessionSocket;
  readonly #framing: Framing;
  readonly #flow: FlowControl;
  readonly #table: StreamTable;
  readonly #socketBufferBytes: number;
  readonly #keepAlive: KeepAlive;
  readonly #lost: (reason: string) => void;
  /**
   * The socket is a `ConnWebSocket`: one-frame messages are framed in place (`beginBinary`, no
   * scratch copy) and the socket says when its buffer drained (`notifyBelow`, no polling).
   */
  readonly #direct: boolean;

  readonly #pumpTask = (): void => this.pump();
  readonly #ready = new Set<StreamState>();
  readonly #connBlocked = new Set<StreamState>();
  #kicked = false;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(parts: SendPumpParts) {
    this.#link = parts.link;
    this.#socket = parts.socket;
    this.#framing = parts.framing;
    this.#flow = parts.flow;
    this.#table = parts.table;
    this.#socketBufferBytes = parts.socketBufferBytes;
    this.#keepAlive = parts.keepAlive;
    this.#lost = parts.lost;
    this.#direct = typeof parts.socket.beginBinary === "function" &&
      typeof parts.socket.notifyBelow === "function";
  }

  /** Queue `data` on `state`; resolves once its bytes were handed to the socket. */
  write(state: StreamState, data: Uint8Array): Promise<void> {
    if (this.#link.closed) return Promise.reject(new SessionClosedError());
    if (state.sendState === "reset") {
      return Promise.reject(
        state.stopCode >= 0
          ? new StreamStoppedError(state.stopCode)
          : new StreamNotWritableError("the stream was reset; write on a new stream"),
      );
    }
    if (state.finQueued || state.sendState !== "open") {
      return Promise.reject(new StreamNotWritableError("the stream is already finished"));
    }
    if (data.length === 0) return Promise.resolve();
    state.queue.push(data);
    state.queuedBytes += data.length;
    state.queuedEnd += data.length;
    if (!this.#link.records) {
      // One frame per message: pump now. If every byte went to the socket (the common case on the
      // fan-out path) there is nothing to wait for: no promise or waiter per write.
      this.schedule(state);
      this.pump();
      if (state.queuedBytes === 0) {
        // Nothing is queued either once the pump lost the session (every stream was abandoned).
        return this.#link.closed ? Promise.reject(new SessionClosedError()) : SENT;
      }
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      state.writeWaiters.push({ end: state.queuedEnd, resolve, reject });
      return promise; // still scheduled (or blocked on credit): a later pump sends it
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    state.writeWaiters.push({ end: state.queuedEnd, resolve, reject });
    this.schedule(state);
    this.kick();
    return promise;
  }

  /** Queue FIN after everything written; resolves once it was sent (or the stream ended otherwise). */
  finish(state: StreamState): Promise<void> {
    if (this.#link.closed || state.sendState !== "open") return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    state.finWaiters.push(resolve);
    if (!state.finQueued) {
      state.finQueued = true;
      this.schedule(state);
      this.kick();
    }
    return promise;
  }

  /** Reset the send half (RESET_STREAM); queued bytes are discarded and pending writes resolve. */
  reset(state: StreamState, code: number): void {
    if (this.#link.closed || state.sendState !== "open") return;
    if (state.id >= 0) {
      this.sendFrame({ type: "reset_stream", id: state.id, code, finalSize: state.sentOffset });
    }
    // Pending writes resolve (their bytes are discarded): the caller asked for the reset itself.
    this.abandon(state, null);
    if (state.id < 0) {
      // Never on the wire: give the stream credit back instead of burning an id.
      state.recvState = state.recvState === "open" ? "stopped" : state.recvState;
      for (const waiter of state.readWaiters) waiter.resolve(null);
      state.readWaiters = [];
      this.#table.dropUnsent(state);
      return;
    }
    this.#table.maybeRelease(state);
  }

  /** Stop sending on `state` for good (see {@link StreamState.abandonSend}). */
  abandon(state: StreamState, error: Error | null, stopCode = -1): void {
    state.abandonSend(error, stopCode);
    this.#ready.delete(state);
    this.#connBlocked.delete(state);
  }

  /** Mark `state` as having something to send. */
  schedule(state: StreamState): void {
    if (state.sendState === "open") this.#ready.add(state);
  }

  /** The peer raised the connection credit: streams waiting for it may send again. */
  connectionCreditRaised(): void {
    for (const state of this.#connBlocked) this.schedule(state);
    this.#connBlocked.clear();
    this.kick();
  }

  /** Stop for good (the session closed): forget every stream and the drain timer. */
  stop(): void {
    if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    this.#ready.clear();
    this.#connBlocked.clear();
    this.#kicked = false;
    if (this.#direct) this.#socket.notifyBelow!(0, null);
  }

  #armPoll(): void {
    if (this.#pollTimer !== undefined || this.#link.closed) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.pump();
    }, DRAIN_POLL_MS);
  }

  /**
   * Something became sendable. Without records, pump now (one frame per message either way). With
   * records, pump once at the end of this task, so that writes to several streams made together
   * share records.
   */
  kick(): void {
    if (!this.#link.records) {
      this.pump();
      return;
    }
    if (this.#kicked) return;
    this.#kicked = true;
    queueMicrotask(() => {
      if (!this.#kicked) return;
      this.#kicked = false;
      this.pump();
    });
  }

  /** Send what a {@link kick} deferred now (before a close frame, which must come last). */
  flush(): void {
    if (!this.#kicked) return;
    this.#kicked = false;
    this.pump();
  }

  /** Hand STREAM frames to the socket, round-robin, while the socket buffer and credit allow. */
  pump(): void {
    while (this.#ready.size > 0 && !this.#link.closed) {
      if (this.#socket.bufferedAmount >= this.#socketBufferBytes) {
        if (this.#direct) {
          // Woken by the socket once half the bound is written: no timer, no waiting past the drain.
          this.#socket.notifyBelow!(this.#socketBufferBytes / 2, this.#pumpTask);
        } else {
          this.#armPoll();
        }
        return;
      }
      this.#fillMessage();
    }
  }

  /**
   * Fill one WebSocket message from the ready streams and send it: one STREAM frame, or in the
   * record framings as many as fit in {@link RECORD_BUDGET_BYTES}. STOP_SENDING owed by a stream
   * that just got its id goes out after the message, so the peer never sees it before the stream.
   */
  #fillMessage(): void {
    const flow = this.#flow;
    const records = this.#link.records;
    let pos = 0;
    let frames = 0;
    let owedStops: StreamState[] | null = null;
    while (this.#ready.size > 0) {
      const state: StreamState = this.#ready.values().next().value!;
      if (state.sendState !== "open") {
        this.#ready.delete(state);
        continue;
      }
      const room = records ? RECORD_BUDGET_BYTES - pos - MAX_STREAM_HEADER_BYTES : MAX_STREAM_PAYLOAD_BYTES;
      if (frames > 0 && room <= 0) break;
      let length = Math.min(state.queuedBytes, MAX_STREAM_PAYLOAD_BYTES, room);
      if (length > 0 && this.#link.qmux) {
        const streamCredit = state.sendMax - state.sentOffset;
        const connCredit = flow.connSendMax - flow.connSent;
        if (streamCredit <= 0) {
          this.#ready.delete(state);
          if (state.blockedReportedAt !== state.sendMax) {
            state.blockedReportedAt = state.sendMax;
            this.sendFrame({ type: "stream_data_blocked", id: state.id, limit: state.sendMax });
          }
          continue; // MAX_STREAM_DATA re-schedules it
        }
        if (connCredit <= 0) {
          this.#ready.delete(state);
          this.#connBlocked.add(state);
          flow.reportConnectionBlocked();
          continue; // MAX_DATA re-schedules it
        }
        length = Math.min(length, streamCredit, connCredit);
      }
      // In a shared record, cut a stream's data only when a useful amount still fits.
      if (frames > 0 && length < state.queuedBytes && length < MIN_SPLIT_BYTES) break;
      this.#ready.delete(state);
      const fin = state.finQueued && state.queuedBytes === length;
      if (length === 0 && !fin) continue;
      const first = state.id < 0;
      if (first) this.#table.assignId(state);
      // Framed in place: every one-frame message, and a record this frame fills (too little room
      // would be left for another useful frame), which is then a record of that one frame.
      const direct = this.#direct &&
        (!records ||
          (frames === 0 && RECORD_BUDGET_BYTES - MAX_STREAM_HEADER_BYTES - length < MIN_SPLIT_BYTES));
      if (direct) {
        // Lost the session (every stream was abandoned): nothing left to account for.
        if (!this.#sendDirect(state, length, fin)) return;
      } else {
        pos = this.#writeStream(STREAM_SCRATCH, state, pos, length, fin);
      }
      frames++;
      if (first && state.pendingStopCode !== undefined) (owedStops ??= []).push(state);
      state.sentOffset += length;
      flow.connSent += length;
      while (state.writeWaiters.length > 0 && state.writeWaiters[0].end <= state.sentOffset) {
        state.writeWaiters.shift()!.resolve();
      }
      if (fin) {
        state.sendState = "fin";
        for (const resolve of state.finWaiters) resolve();
        state.finWaiters = [];
        state.resolveStopped(-1);
        this.#table.maybeRelease(state);
      } else if (state.queuedBytes > 0 || state.finQueued) {
        this.#ready.add(state); // to the back: round robin
      }
      if (!records || direct) break;
    }
    if (pos > 0) this.#send(STREAM_SCRATCH.subarray(0, pos));
    if (owedStops) {
      for (const state of owedStops) {
        this.sendFrame({ type: "stop_sending", id: state.id, code: state.pendingStopCode! });
      }
    }
  }

  /**
   * Write one STREAM frame carrying the next `length` queued bytes of `state` into
   * {@link STREAM_SCRATCH} at `pos`; returns the position after it. The queued chunks are copied
   * once, whatever their boundaries, and no buffer is allocated.
   */
  #writeStream(out: Uint8Array, state: StreamState, pos: number, length: number, fin: boolean): number {
    if (this.#link.qmux) {
      // 0.0.6 ignores OFF and always sends LEN without OFF; do the same.
      out[pos] = FrameType.STREAM | FrameType.STREAM_LEN_BIT | (fin ? FrameType.STREAM_FIN_BIT : 0);
      pos = putVarint(out, putVarint(out, pos + 1, state.id), length);
    } else {
      out[pos] = FrameType.STREAM | (fin ? FrameType.STREAM_FIN_BIT : 0);
      pos = putVarint(out, pos + 1, state.id);
    }
    state.queuedBytes -= length;
    let left = length;
    while (left > 0) {
      const head = state.queue[0];
      if (head.length <= left) {
        out.set(head, pos);
        pos += head.length;
        left -= head.length;
        state.queue.shift();
      } else {
        out.set(head.subarray(0, left), pos);
        pos += left;
        state.queue[0] = head.subarray(left);
        left = 0;
      }
    }
    return pos;
  }

  /**
   * Frame one STREAM frame (a whole message) straight into the socket's send buffer: the queued
   * bytes are copied once, from the stream's queue to the buffer that is written to TCP. Never
   * throws: a failed send loses the session (and returns false).
   */
  #sendDirect(state: StreamState, length: number, fin: boolean): boolean {
    const qmux = this.#link.qmux;
    const size = 1 + varintSize(state.id) + (qmux ? varintSize(length) : 0) + length;
    this.#keepAlive.sent();
    let at: number;
    try {
      at = this.#socket.beginBinary!(size);
    } catch (error) {
      this.#dropQueued(state, length);
      this.#lost(`WebSocket send failed: ${error instanceof Error ? error.message : String(error)}`);
      return !this.#link.closed;
    }
    if (at < 0) {
      // The socket is closing: the bytes are dropped, as `send()` drops them.
      this.#dropQueued(state, length);
      return true;
    }
    this.#writeStream(this.#socket.sendBuffer!, state, at, length, fin);
    return true;
  }

  /** Drop the next `length` queued bytes of `state` (the socket would not take them). */
  #dropQueued(state: StreamState, length: number): void {
    state.queuedBytes -= length;
    let left = length;
    while (left > 0) {
      const head = state.queue[0];
      if (head.length <= left) {
        left -= head.length;
        state.queue.shift();
      } else {
        state.queue[0] = head.subarray(left);
        left = 0;
      }
    }
  }

  /** Hand one message to the socket. Never throws: a failed send loses the session. */
  #send(bytes: Uint8Array): void {
    this.#keepAlive.sent();
    try {
      this.#socket.send(bytes);
    } catch (error) {
      this.#lost(`WebSocket send failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Send one control frame now. Never throws: a failed send loses the session. */
  sendFrame(frame: Frame): void {
    this.#send(encodeFrame(frame, this.#framing));
  }
}
