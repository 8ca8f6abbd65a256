/**
 * QMux records over a byte stream (TCP or a Unix socket): each record is `Size (i) Frames (..)`
 * (draft-ietf-quic-qmux-01 §5; the WebSocket binding drops `Size` because a message delimits the
 * record). {@link RecordSocket} presents such a stream with the small part of the WebSocket API the
 * qmux session uses (`send`, `bufferedAmount`, `close`, `message`/`close`/`error` events), so one
 * session implementation serves both carriers: one record in or out = one message.
 *
 * @module
 */

import { putVarint, varintLength, varintSize } from "../../codec/mod.ts";
import { yieldToEventLoop } from "../../util/mod.ts";
import { ChunkWriter, MAX_IN_PLACE_BYTES } from "../chunk_writer.ts";

/**
 * Largest record read from the peer. The session refuses anything above the `max_record_size` it
 * announces (16 382 bytes) anyway; this bound only keeps a lying Size field from costing memory.
 */
export const MAX_STREAM_RECORD_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;
/**
 * Queued bytes past which the peer is treated as gone (it stopped reading) and the connection is
 * dropped: the send pump stops at its own 1 MiB bound, so only control frames can queue past it.
 */
export const MAX_RECORD_WRITE_QUEUE_BYTES = 16 * 1024 * 1024;
/** Longest the read loop runs before it yields to the event loop (as the WebSocket read loop). */
const YIELD_AFTER_MS = 4;
/** A read that took longer than this waited for the peer: other tasks ran meanwhile. */
const READ_WAITED_MS = 0.25;
/** After close(), how long the queued records get to go out before the connection is dropped. */
const CLOSE_TIMEOUT_MS = 2_000;
/** How often an idle connection's send buffers are let go (and a busy one's pool trimmed). */
const WRITE_TRIM_INTERVAL_MS = 15_000;
/** WebSocket `readyState` values the session compares against. */
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** Raised for a malformed record stream. */
export class RecordStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordStreamError";
  }
}

/** Reads whole records from a byte stream; one buffer, grown only for a large record. */
export class RecordReader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Bytes the partial record at `#start` needs in all (0: unknown yet). */
  #need = 0;

  /**
   * The next record's frames (a copy) if the buffer already holds all of it, else `undefined`
   * (call {@link more}). Synchronous: records that arrived together cost no promise each.
   */
  take(maxBytes = MAX_STREAM_RECORD_BYTES): Uint8Array | undefined {
    const buf = this.#buf;
    const start = this.#start;
    const available = this.#end - start;
    if (available === 0) return undefined;
    const width = varintLength(buf[start]);
    if (available < width) return undefined;
    let size = buf[start] & 0x3f;
    for (let i = 1; i < width; i++) size = size * 256 + buf[start + i];
    if (size > maxBytes) {
      throw new RecordStreamError(`record of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    }
    if (available < width + size) {
      this.#need = width + size;
      return undefined;
    }
    this.#need = 0;
    this.#start = start + width + size;
    return buf.slice(start + width, start + width + size);
  }

  /**
   * Read more bytes (room is made for the whole partial record when its size is known). False at
   * a clean end of the stream; a {@link RecordStreamError} when it ended inside a record.
   */
  async more(): Promise<boolean> {
    const held = this.#end - this.#start;
    const n = Math.max(held + 1, this.#need);
    if (this.#buf.length - this.#start < n) {
      const next = new Uint8Array(Math.max(n, READ_CHUNK_BYTES));
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
      this.#start = 0;
      this.#end = held;
    } else if (this.#start > 0 && (held === 0 || this.#buf.length - this.#end < READ_CHUNK_BYTES / 4)) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = held;
    }
    const read = await this.#conn.read(this.#buf.subarray(this.#end));
    if (read === null) {
      if (this.#end === this.#start) return false;
      throw new RecordStreamError("the stream ended inside a record");
    }
    this.#end += read;
    return true;
  }

  /** The next record's frames (a copy), or null at a clean end of the stream. */
  async next(maxBytes = MAX_STREAM_RECORD_BYTES): Promise<Uint8Array | null> {
    for (;;) {
      const record = this.take(maxBytes);
      if (record !== undefined) return record;
      if (!(await this.more())) return null;
    }
  }
}

/** Hooks for the in-band negotiation carried by the first record each way. */
export interface RecordSocketHooks {
  /** Rewrite the first record this side sends. */
  firstSend?: (record: Uint8Array) => Uint8Array;
}

/**
 * A byte stream with the WebSocket surface the qmux session uses, plus the in-place send surface of
 * the relay's own WebSocket (`beginBinary`, `sendBuffer`, `notifyBelow`): records are framed
 * straight into the pooled chunks of a {@link ChunkWriter} (one copy of a payload, nothing
 * allocated per record, everything queued in one task written at once). `bufferedAmount` counts
 * queued bytes, which is what the send pump throttles on.
 */
export class RecordSocket extends EventTarget {
  readyState: number = OPEN;
  binaryType = "arraybuffer";
  readonly #conn: Deno.Conn;
  readonly #hooks: RecordSocketHooks;
  readonly #writer: ChunkWriter;
  #trimTimer: ReturnType<typeof setInterval> | undefined;
  #sent = false;
  #closing = false;

  constructor(conn: Deno.Conn, hooks: RecordSocketHooks = {}) {
    super();
    this.#conn = conn;
    this.#hooks = hooks;
    this.#writer = new ChunkWriter(conn, {
      maxQueueBytes: MAX_RECORD_WRITE_QUEUE_BYTES,
      onFailed: (reason) => {
        this.dispatchEvent(new ErrorEvent("error", { message: reason }));
        this.#ended(1006, "");
      },
    });
    this.#trimTimer = setInterval(() => this.#writer.trim(), WRITE_TRIM_INTERVAL_MS);
    Deno.unrefTimer(this.#trimTimer);
  }

  /** Bytes queued and not yet written to the connection. */
  get bufferedAmount(): number {
    return this.#writer.bufferedBytes;
  }

  /**
   * Deliver `first` (already read), then every record `reader` yields, as `message` events; the
   * end of the stream or an error becomes a `close` event.
   */
  start(reader: RecordReader, first?: Uint8Array): void {
    (async () => {
      if (first !== undefined) this.#deliver(first);
      let lastYieldMs = performance.now();
      while (this.readyState !== CLOSED) {
        // One record per turn, awaited even when it is already buffered: what the session does
        // with a record (e.g. a reader consuming a stream and raising its window) runs before the
        // next one, as with one WebSocket message per event.
        const record = reader.take();
        if (record !== undefined) {
          this.#deliver(record);
          await undefined;
          continue;
        }
        const nowMs = performance.now();
        if (nowMs - lastYieldMs >= YIELD_AFTER_MS) {
          // A read of bytes already waiting completes without a macrotask: a peer that keeps the
          // socket full would otherwise starve timers and every other connection.
          await yieldToEventLoop();
          lastYieldMs = performance.now();
        }
        const readStartMs = performance.now();
        if (!(await reader.more())) break;
        const readEndMs = performance.now();
        if (readEndMs - readStartMs > READ_WAITED_MS) lastYieldMs = readEndMs; // other tasks ran meanwhile
      }
      this.#ended(1000, "");
    })().catch((e) => {
      this.dispatchEvent(new ErrorEvent("error", { message: e instanceof Error ? e.message : String(e) }));
      this.#ended(1006, "");
    });
  }

  #deliver(record: Uint8Array): void {
    if (this.readyState !== OPEN) return;
    this.dispatchEvent(new MessageEvent("message", { data: record.buffer }));
  }

  /** Queue one record: `data` (copied once, into the send chunks) behind its size. */
  send(data: ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== OPEN || this.#closing) return;
    let bytes = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!this.#sent) {
      this.#sent = true;
      if (this.#hooks.firstSend) bytes = this.#hooks.firstSend(bytes);
    }
    const sizeBytes = varintSize(bytes.length);
    const at = this.#writer.begin(sizeBytes, sizeBytes + bytes.length);
    if (at < 0) return; // over the queue cap: the writer failed and the connection is dropped
    putVarint(this.#writer.buffer, at, bytes.length);
    this.#writer.append(bytes);
  }

  /**
   * Start one record of exactly `length` bytes that the caller writes itself, straight into
   * {@link sendBuffer} from the returned offset, in the same synchronous run (the send pump's
   * in-place path). Returns -1 when nothing may be sent (closing, or the queue cap was hit).
   * `length` is at most {@link MAX_IN_PLACE_BYTES}; the first record (rewritten by the
   * negotiation hook) must go through {@link send}.
   */
  beginBinary(length: number): number {
    if (length > MAX_IN_PLACE_BYTES) {
      throw new RangeError(`an in-place record holds at most ${MAX_IN_PLACE_BYTES} bytes, not ${length}`);
    }
    if (this.readyState !== OPEN || this.#closing) return -1;
    if (!this.#sent && this.#hooks.firstSend) {
      throw new RecordStreamError("the first record must be sent with send() (it carries the negotiation)");
    }
    this.#sent = true;
    const sizeBytes = varintSize(length);
    const at = this.#writer.begin(sizeBytes + length, sizeBytes + length);
    if (at < 0) return -1;
    return putVarint(this.#writer.buffer, at, length);
  }

  /** The buffer the record begun by {@link beginBinary} is written into. */
  get sendBuffer(): Uint8Array {
    return this.#writer.buffer;
  }

  /**
   * Call `callback` once, when a write completes with at most `thresholdBytes` left to write
   * (`null` forgets it): the send pump's drain wake-up.
   */
  notifyBelow(thresholdBytes: number, callback: (() => void) | null): void {
    this.#writer.notifyBelow(thresholdBytes, callback);
  }

  /** Close once queued records are written (the session writes its CLOSE frame first). */
  close(_code?: number, _reason?: string): void {
    if (this.readyState !== OPEN) return;
    this.#closing = true;
    this.readyState = CLOSING;
    const timer = setTimeout(() => {
      // The peer does not read what is left: drop it.
      this.#closing = false;
      this.#ended(1006, "");
    }, CLOSE_TIMEOUT_MS);
    this.#writer.drained().then(() => {
      clearTimeout(timer);
      this.#closing = false;
      this.#ended(1000, "");
    });
  }

  #ended(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    if (this.#closing && !this.#writer.stopped) return; // close() finishes once the records are out
    this.readyState = CLOSED;
    clearInterval(this.#trimTimer);
    this.#trimTimer = undefined;
    this.#writer.stop();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean: code === 1000 }));
  }
}
