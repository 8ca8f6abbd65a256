/**
 * The send side shared by the relay's own sockets on a `Deno.Conn` (the WebSocket run on the HTTP
 * gate's connection, and the qmux record stream on TCP / UNIX): messages are framed straight into
 * fixed send chunks, written one after another by write callbacks (no async loop, no promise per
 * message), and the chunks are pooled, so a busy socket allocates nothing per message and a
 * message's payload is copied once, from its caller's buffer to the buffer written to the socket.
 *
 * - Everything queued in one task goes out in one `conn.write` (a microtask starts the write).
 * - A quiet socket keeps one small buffer ({@link WRITE_BUFFER_MIN_BYTES}, doubled as bursts need up
 *   to {@link WRITE_CHUNK_BYTES}); a busy one fills chunks of {@link WRITE_CHUNK_BYTES} instead of
 *   growing one buffer to its whole backlog.
 * - {@link ChunkWriter.notifyBelow} wakes a producer once the backlog drained below a threshold
 *   (the send pump's wake-up, instead of polling {@link ChunkWriter.bufferedBytes}).
 * - Past `maxQueueBytes` queued, or when a write fails, the writer drops everything and reports
 *   through `onFailed` (the peer stopped reading or is gone); the owner closes the connection.
 *
 * @module
 */

/**
 * Largest send buffer. Bytes queued beyond it go into further chunks of this size, written one
 * after the other: a busy socket fills and writes fixed chunks instead of growing one buffer to
 * its whole backlog (each growth a fresh, zeroed allocation and a copy of everything so far).
 */
export const WRITE_CHUNK_BYTES = 64 * 1024;
/**
 * Largest message the sockets frame in place (their `beginBinary`): a quarter of a chunk plus room
 * for the largest STREAM frame header, so a chunk never wastes more than a quarter of its bytes.
 */
export const MAX_IN_PLACE_BYTES = WRITE_CHUNK_BYTES / 4 + 64;
/**
 * First send buffer (doubled as bursts need, up to {@link WRITE_CHUNK_BYTES}): what an idle
 * connection holds after its setup messages until {@link ChunkWriter.trim} finds it quiet.
 */
export const WRITE_BUFFER_MIN_BYTES = 256;
/**
 * Written chunks kept for the next messages, so a busy socket allocates nothing per write: as many
 * as a full send backlog of a session (1 MiB) spans, since the pump refills the backlog in bursts.
 * {@link ChunkWriter.trim} cuts the pool to {@link WRITE_POOL_KEEP_BUFFERS}, and lets it go
 * entirely when nothing was sent since the previous trim.
 */
export const WRITE_POOL_BUFFERS = 16;
/** Chunks a busy socket keeps across a trim (the burst that filled more may be over). */
export const WRITE_POOL_KEEP_BUFFERS = 2;

/** Options of {@link ChunkWriter}. */
export interface ChunkWriterOptions {
  /** Queued plus in-flight bytes past which the peer is treated as gone (it stopped reading). */
  maxQueueBytes: number;
  /**
   * The writer gave up: the queue cap was hit or a write failed (`reason` says which). Everything
   * queued was dropped; the owner closes the connection. Called at most once, synchronously.
   */
  onFailed: (reason: string) => void;
}

/** Fixed-size pooled send chunks written to a `Deno.Conn` in order (see the module doc). */
export class ChunkWriter {
  readonly #conn: Deno.Conn;
  readonly #maxQueueBytes: number;
  readonly #onFailed: (reason: string) => void;
  /** The buffer being filled, and its used bytes. */
  #out: Uint8Array | null = null;
  #outLen = 0;
  /** Filled chunks waiting to be written, oldest first, their used bytes, and the sum of those. */
  #full: Uint8Array[] = [];
  #fullLengths: number[] = [];
  #fullBytes = 0;
  /** Written buffers kept for reuse (at most {@link WRITE_POOL_BUFFERS}). */
  #pool: Uint8Array[] = [];
  /** Messages queued so far; {@link trim} lets the buffers go when it did not move. */
  #sends = 0;
  #sendsSeen = 0;
  #inFlight = 0;
  /** The buffer being written, its bytes to write, and how many of them were. */
  #writeBuffer: Uint8Array | null = null;
  #writeLength = 0;
  #written = 0;
  /** {@link notifyBelow}: the callback and its threshold. */
  #onLow: (() => void) | null = null;
  #lowBytes = 0;
  #writing = false;
  #flushQueued = false;
  /** Stopped for good (failed, or the owner closed the connection): nothing is written any more. */
  #stopped = false;
  #drainWaiters: Array<() => void> = [];

  constructor(conn: Deno.Conn, options: ChunkWriterOptions) {
    this.#conn = conn;
    this.#maxQueueBytes = options.maxQueueBytes;
    this.#onFailed = options.onFailed;
  }

  /** Bytes queued and not yet written to the connection (pending plus in flight). */
  get bufferedBytes(): number {
    return this.#fullBytes + this.#outLen + this.#inFlight;
  }

  /** Bytes of send buffers held (the one being filled, queued chunks and the pool; diagnostics). */
  get heldBytes(): number {
    let n = (this.#out?.length ?? 0) + (this.#writeBuffer?.length ?? 0);
    for (const b of this.#full) n += b.length;
    for (const b of this.#pool) n += b.length;
    return n;
  }

  /** True once stopped (failed or {@link stop}ped): every further message is dropped. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Start one message of `messageBytes` bytes, reserving its first `headBytes` (at most a quarter
   * of {@link WRITE_CHUNK_BYTES}) contiguously in {@link buffer}; returns their offset there. The
   * caller writes those bytes in the same synchronous run, then the rest of the message with
   * {@link append} (or writes the whole message in place when `headBytes === messageBytes`).
   * Returns -1 when nothing may be sent: stopped, or the queue cap was hit (the writer then failed).
   */
  begin(headBytes: number, messageBytes: number): number {
    if (headBytes > MAX_IN_PLACE_BYTES + 16) {
      throw new RangeError(
        `at most ${MAX_IN_PLACE_BYTES + 16} bytes are reserved in place, not ${headBytes}`,
      );
    }
    if (this.#stopped) return -1;
    if (this.bufferedBytes + messageBytes > this.#maxQueueBytes) {
      this.#fail(`more than ${this.#maxQueueBytes} bytes queued: the peer stopped reading`);
      return -1;
    }
    this.#sends++;
    this.#room(headBytes, messageBytes);
    const at = this.#outLen;
    this.#outLen = at + headBytes;
    if (!this.#writing && !this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushTask);
    }
    return at;
  }

  /** The buffer the bytes reserved by {@link begin} are written into. */
  get buffer(): Uint8Array {
    return this.#out!;
  }

  /**
   * Copy `bytes` after what {@link begin} reserved (the rest of the message), spread over chunks
   * as needed: copied once, never into a buffer that is then grown.
   */
  append(bytes: Uint8Array): void {
    if (this.#stopped) return;
    const length = bytes.length;
    let out = this.#out!;
    let pos = this.#outLen;
    if (pos + length <= out.length) {
      out.set(bytes, pos);
      this.#outLen = pos + length;
      return;
    }
    let copied = 0;
    while (copied < length) {
      if (pos === out.length) {
        this.#outLen = pos;
        out = this.#room(1, length - copied);
        pos = this.#outLen;
      }
      const n = Math.min(length - copied, out.length - pos);
      out.set(bytes.subarray(copied, copied + n), pos);
      pos += n;
      copied += n;
    }
    this.#outLen = pos;
  }

  /**
   * Call `callback` once, when a write completes and at most `thresholdBytes` are left to write
   * (`null` forgets it). Only one callback is kept. Nothing is called once stopped.
   */
  notifyBelow(thresholdBytes: number, callback: (() => void) | null): void {
    this.#lowBytes = thresholdBytes;
    this.#onLow = callback;
  }

  /** Resolves once nothing is pending or in flight (or the writer stopped). */
  drained(): Promise<void> {
    if (!this.#writing && !this.#flushQueued) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Periodic housekeeping (the owner's idle tick): a writer that sent nothing since the last trim
   * and holds nothing lets every buffer go; a busy one keeps {@link WRITE_POOL_KEEP_BUFFERS}.
   */
  trim(): void {
    if (this.#sends === this.#sendsSeen && !this.#writing && this.bufferedBytes === 0) {
      this.#out = null; // quiet: an idle connection holds no send buffer
      this.#pool = [];
    } else if (this.#pool.length > WRITE_POOL_KEEP_BUFFERS) {
      this.#pool.length = WRITE_POOL_KEEP_BUFFERS;
    }
    this.#sendsSeen = this.#sends;
  }

  /** Stop for good and drop everything queued (the connection is closed or being dropped). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#out = null;
    this.#outLen = 0;
    this.#full = [];
    this.#fullLengths = [];
    this.#fullBytes = 0;
    this.#pool = [];
    this.#onLow = null;
    if (!this.#writing) this.#wakeDrainWaiters();
  }

  #fail(reason: string): void {
    this.stop();
    this.#onFailed(reason);
  }

  #wakeDrainWaiters(): void {
    if (this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * The buffer being filled, with at least `atLeast` bytes free after `#outLen` (`wanted`: what the
   * caller would like to fit). A buffer below {@link WRITE_CHUNK_BYTES} grows (copying its few
   * bytes); a full chunk is queued for writing and a fresh one (pooled if possible) started.
   */
  #room(atLeast: number, wanted: number): Uint8Array {
    let out = this.#out;
    if (out === null) {
      out = this.#pool.pop() ??
        new Uint8Array(Math.min(WRITE_CHUNK_BYTES, Math.max(WRITE_BUFFER_MIN_BYTES, wanted)));
      this.#out = out;
      this.#outLen = 0;
    }
    const used = this.#outLen;
    if (out.length - used >= wanted) return out;
    if (out.length < WRITE_CHUNK_BYTES) {
      let size = out.length * 2;
      while (size < used + wanted && size < WRITE_CHUNK_BYTES) size *= 2;
      const grown = new Uint8Array(Math.min(size, WRITE_CHUNK_BYTES));
      grown.set(out.subarray(0, used));
      this.#out = out = grown;
    }
    if (out.length - used >= atLeast) return out;
    // A full chunk: hand it to the writer, start the next one.
    this.#full.push(out);
    this.#fullLengths.push(used);
    this.#fullBytes += used;
    let next = this.#pool.pop();
    if (next === undefined || next.length < WRITE_CHUNK_BYTES) next = new Uint8Array(WRITE_CHUNK_BYTES);
    this.#out = next;
    this.#outLen = 0;
    return next;
  }

  /**
   * Start writing pending bytes (the microtask queued by the first message of a task, so
   * everything queued in that task goes out in one write).
   */
  #flush(): void {
    this.#flushQueued = false;
    if (this.#writing) return;
    this.#writeNext();
  }

  readonly #flushTask = (): void => this.#flush();

  /** Write the oldest pending chunk, or stop writing when none is left. */
  #writeNext(): void {
    if ((this.#fullBytes === 0 && this.#outLen === 0) || this.#stopped) {
      this.#writing = false;
      this.#wakeDrainWaiters();
      return;
    }
    this.#writing = true;
    let buffer: Uint8Array;
    let length: number;
    if (this.#full.length > 0) {
      buffer = this.#full.shift()!;
      length = this.#fullLengths.shift()!;
      this.#fullBytes -= length;
    } else {
      buffer = this.#out!;
      length = this.#outLen;
      this.#out = null;
      this.#outLen = 0;
    }
    this.#writeBuffer = buffer;
    this.#writeLength = length;
    this.#inFlight = length;
    this.#written = 0;
    this.#conn.write(length === buffer.length ? buffer : buffer.subarray(0, length))
      .then(this.#onWritten, this.#onWriteFailed);
  }

  /** `n` bytes of the chunk in flight were written: write the rest, or recycle it and go on. */
  readonly #onWritten = (n: number): void => {
    const buffer = this.#writeBuffer!;
    this.#written += n;
    if (this.#written < this.#writeLength && !this.#stopped) {
      this.#conn.write(buffer.subarray(this.#written, this.#writeLength)).then(
        this.#onWritten,
        this.#onWriteFailed,
      );
      return;
    }
    this.#writeBuffer = null;
    this.#inFlight = 0;
    if (!this.#stopped) {
      if (this.#out === null && this.#full.length === 0) {
        this.#out = buffer; // a quiet socket keeps filling one buffer
        this.#outLen = 0;
      } else if (this.#pool.length < WRITE_POOL_BUFFERS) {
        this.#pool.push(buffer);
      }
      const onLow = this.#onLow;
      if (onLow !== null && this.#fullBytes + this.#outLen <= this.#lowBytes) {
        // Before the next write starts, so what the callback sends joins it.
        this.#onLow = null;
        onLow();
      }
    }
    this.#writeNext();
  };

  readonly #onWriteFailed = (error: unknown): void => {
    this.#writeBuffer = null;
    this.#inFlight = 0;
    this.#writing = false;
    if (!this.#stopped) this.#fail(`write failed: ${error instanceof Error ? error.message : String(error)}`);
    this.#wakeDrainWaiters();
  };
}
