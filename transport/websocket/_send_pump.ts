/**
 * The send side of a WebSocket session: per-stream queues drained by one pump that hands STREAM
 * frames (≤ {@link MAX_STREAM_PAYLOAD_BYTES} of payload, exactly one frame per WebSocket message)
 * to the socket round-robin across streams, while `socket.bufferedAmount` is below a bound and, in
 * `qmux-00`, while the peer granted credit. Control frames bypass the queues.
 *
 * @module
 */

import { putVarint } from "../../codec/mod.ts";
import { SessionClosedError, StreamStoppedError } from "../types.ts";
import type { FlowControl } from "./_flow_control.ts";
import { encodeFrame, type Frame, FrameType, type Framing, MAX_STREAM_PAYLOAD_BYTES } from "./framing.ts";
import { DRAIN_POLL_MS, StreamNotWritableError } from "./_limits.ts";
import type { SessionLink } from "./_link.ts";
import type { StreamState } from "./_stream_state.ts";
import type { StreamTable } from "./_stream_table.ts";

/** Largest STREAM frame header: type byte, 8-byte id varint, 8-byte length varint. */
const MAX_STREAM_HEADER_BYTES = 17;

/**
 * Encode buffer for outgoing STREAM frames, shared by every session. It is only ever used
 * synchronously between filling and `socket.send()`, and Deno's `send()` copies a view's bytes
 * before returning (`op_ws_send_binary` → `to_vec`), so reusing it is safe and saves one
 * allocation + zero-fill + GC per message on the fan-out hot path.
 */
const STREAM_SCRATCH = new Uint8Array(MAX_STREAM_HEADER_BYTES + MAX_STREAM_PAYLOAD_BYTES);

/** The parts of the session the pump works with. */
export interface SendPumpParts {
  link: SessionLink;
  socket: WebSocket;
  framing: Framing;
  flow: FlowControl;
  table: StreamTable;
  /** `bufferedAmount` bound above which the pump waits. */
  socketBufferBytes: number;
  /** The socket failed: lose the session. */
  lost: (reason: string) => void;
}

/** Queues and sends stream data of one session. */
export class SendPump {
  readonly #link: SessionLink;
  readonly #socket: WebSocket;
  readonly #framing: Framing;
  readonly #flow: FlowControl;
  readonly #table: StreamTable;
  readonly #socketBufferBytes: number;
  readonly #lost: (reason: string) => void;

  readonly #ready = new Set<StreamState>();
  readonly #connBlocked = new Set<StreamState>();
  #pollTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(parts: SendPumpParts) {
    this.#link = parts.link;
    this.#socket = parts.socket;
    this.#framing = parts.framing;
    this.#flow = parts.flow;
    this.#table = parts.table;
    this.#socketBufferBytes = parts.socketBufferBytes;
    this.#lost = parts.lost;
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
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    state.writeWaiters.push({ end: state.queuedEnd, resolve, reject });
    this.schedule(state);
    this.pump();
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
      this.pump();
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
    this.pump();
  }

  /** Stop for good (the session closed): forget every stream and the drain timer. */
  stop(): void {
    if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    this.#ready.clear();
    this.#connBlocked.clear();
  }

  #armPoll(): void {
    if (this.#pollTimer !== undefined || this.#link.closed) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.pump();
    }, DRAIN_POLL_MS);
  }

  /** Hand STREAM frames to the socket, round-robin, while the socket buffer and credit allow. */
  pump(): void {
    const flow = this.#flow;
    while (this.#ready.size > 0 && !this.#link.closed) {
      if (this.#socket.bufferedAmount >= this.#socketBufferBytes) {
        this.#armPoll();
        return;
      }
      const state: StreamState = this.#ready.values().next().value!;
      this.#ready.delete(state);
      if (state.sendState !== "open") continue;
      let length = Math.min(state.queuedBytes, MAX_STREAM_PAYLOAD_BYTES);
      if (length > 0 && this.#link.qmux) {
        const streamCredit = state.sendMax - state.sentOffset;
        const connCredit = flow.connSendMax - flow.connSent;
        if (streamCredit <= 0) {
          if (state.blockedReportedAt !== state.sendMax) {
            state.blockedReportedAt = state.sendMax;
            this.sendFrame({ type: "stream_data_blocked", id: state.id, limit: state.sendMax });
          }
          continue; // MAX_STREAM_DATA re-schedules it
        }
        if (connCredit <= 0) {
          this.#connBlocked.add(state);
          flow.reportConnectionBlocked();
          continue; // MAX_DATA re-schedules it
        }
        length = Math.min(length, streamCredit, connCredit);
      }
      const fin = state.finQueued && state.queuedBytes === length;
      if (length === 0 && !fin) continue;
      const first = state.id < 0;
      if (first) this.#table.assignId(state);
      this.#sendStream(state, length, fin);
      if (first && state.pendingStopCode !== undefined) {
        this.sendFrame({ type: "stop_sending", id: state.id, code: state.pendingStopCode });
      }
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
    }
  }

  /**
   * Send one STREAM frame carrying the next `length` queued bytes of `state` (≤
   * {@link MAX_STREAM_PAYLOAD_BYTES}), encoded straight into {@link STREAM_SCRATCH}: the queued
   * chunks are copied once, whatever their boundaries, and no buffer is allocated.
   */
  #sendStream(state: StreamState, length: number, fin: boolean): void {
    const out = STREAM_SCRATCH;
    let pos: number;
    if (this.#link.qmux) {
      // 0.0.6 ignores OFF and always sends LEN without OFF; do the same.
      out[0] = FrameType.STREAM | FrameType.STREAM_LEN_BIT | (fin ? FrameType.STREAM_FIN_BIT : 0);
      pos = putVarint(out, putVarint(out, 1, state.id), length);
    } else {
      out[0] = FrameType.STREAM | (fin ? FrameType.STREAM_FIN_BIT : 0);
      pos = putVarint(out, 1, state.id);
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
    try {
      this.#socket.send(out.subarray(0, pos));
    } catch (error) {
      this.#lost(`WebSocket send failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Send one control frame now. Never throws: a failed send loses the session. */
  sendFrame(frame: Frame): void {
    const bytes = encodeFrame(frame, this.#framing);
    try {
      this.#socket.send(bytes);
    } catch (error) {
      this.#lost(`WebSocket send failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
