/**
 * The state of one stream of a WebSocket session: its receive buffer and send queue, and the
 * promises the application waits on. The stream handles handed out close over it.
 *
 * @module
 */

import type { Dir } from "./_stream_ids.ts";

/** A pending promise's settle functions. */
export interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

/** Per-stream state; the send/recv handles handed to the application close over it. */
export class StreamState {
  /** The wire id; -1 for a stream we opened that has not sent its first frame yet. */
  id: number;
  readonly dir: Dir;
  readonly local: boolean;
  readonly canSend: boolean;
  readonly canRecv: boolean;
  /** Peer streams only count as finished once the application took them from the accept queue. */
  accepted: boolean;

  // Receive half.
  chunks: Uint8Array[] = [];
  unreadBytes = 0;
  recvOffset = 0;
  recvMax = 0;
  recvWindow = 0;
  recvConsumed = 0;
  recvState: "open" | "fin" | "reset" | "stopped" = "open";
  resetCode = 0;
  /** RESET_STREAM_AT whose reliable bytes have not all arrived yet (qmux-02). */
  pendingReset: { code: number; reliableSize: number } | undefined;
  /** STOP_SENDING requested before this (local) stream had a wire id; sent after its first frame. */
  pendingStopCode: number | undefined;
  readWaiters: Array<Waiter<Uint8Array | null>> = [];

  // Send half.
  queue: Uint8Array[] = [];
  queuedBytes = 0;
  queuedEnd = 0;
  sentOffset = 0;
  sendMax = Number.MAX_SAFE_INTEGER;
  finQueued = false;
  sendState: "open" | "fin" | "reset" = "open";
  stopCode = -1;
  writeWaiters: Array<{ end: number } & Waiter<void>> = [];
  finWaiters: Array<() => void> = [];
  blockedReportedAt = -1;
  readonly stopped: Promise<number>;
  resolveStopped: (code: number) => void;

  constructor(id: number, dir: Dir, local: boolean, accepted: boolean) {
    this.id = id;
    this.dir = dir;
    this.local = local;
    this.canSend = this.dir === "bidi" || local;
    this.canRecv = this.dir === "bidi" || !local;
    this.accepted = accepted;
    if (!this.canSend) this.sendState = "fin";
    if (!this.canRecv) this.recvState = "fin";
    const { promise, resolve } = Promise.withResolvers<number>();
    this.stopped = promise;
    this.resolveStopped = resolve;
    if (!this.canSend) resolve(-1);
  }

  get sendFinished(): boolean {
    return this.sendState !== "open";
  }

  get recvFinished(): boolean {
    return this.recvState !== "open";
  }

  /**
   * Mark the send half reset: drop queued bytes, settle writers (reject with `error`, or resolve
   * when null), close() and `stopped`. The send pump must forget the stream too.
   */
  abandonSend(error: Error | null, stopCode = -1): void {
    this.sendState = "reset";
    this.stopCode = stopCode;
    this.queue = [];
    this.queuedBytes = 0;
    for (const waiter of this.writeWaiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
    this.writeWaiters = [];
    for (const resolve of this.finWaiters) resolve();
    this.finWaiters = [];
    this.resolveStopped(stopCode);
  }

  /** Hand buffered chunks to waiting readers; at FIN with nothing left, end the remaining reads. */
  deliver(consume: (bytes: number) => void): void {
    while (this.readWaiters.length > 0 && this.chunks.length > 0) {
      const chunk = this.chunks.shift()!;
      consume(chunk.length);
      this.readWaiters.shift()!.resolve(chunk);
    }
    if (this.recvState === "fin" && this.chunks.length === 0) {
      for (const waiter of this.readWaiters) waiter.resolve(null);
      this.readWaiters = [];
    }
  }
}
