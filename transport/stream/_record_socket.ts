/**
 * QMux records over a byte stream (TCP or a Unix socket): each record is `Size (i) Frames (..)`
 * (draft-ietf-quic-qmux-01 §5; the WebSocket binding drops `Size` because a message delimits the
 * record). {@link RecordSocket} presents such a stream with the small part of the WebSocket API the
 * qmux session uses (`send`, `bufferedAmount`, `close`, `message`/`close`/`error` events), so one
 * session implementation serves both carriers: one record in or out = one message.
 *
 * @module
 */

import { concatBytes, encodeVarint, varintLength } from "../../codec/mod.ts";

/**
 * Largest record read from the peer. The session refuses anything above the `max_record_size` it
 * announces (16 382 bytes) anyway; this bound only keeps a lying Size field from costing memory.
 */
export const MAX_STREAM_RECORD_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;
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

  /** Make `n` bytes available from `#start`; false on a clean end before any of them. */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#buf.length - this.#start < n) {
        const next = new Uint8Array(Math.max(n, READ_CHUNK_BYTES));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buf = next;
      } else if (this.#buf.length - this.#end < READ_CHUNK_BYTES && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const read = await this.#conn.read(this.#buf.subarray(this.#end));
      if (read === null) {
        if (this.#end === this.#start) return false;
        throw new RecordStreamError("the stream ended inside a record");
      }
      this.#end += read;
    }
    return true;
  }

  /** The next record's frames (a copy), or null at a clean end of the stream. */
  async next(maxBytes = MAX_STREAM_RECORD_BYTES): Promise<Uint8Array | null> {
    if (!(await this.#fill(1))) return null;
    const width = varintLength(this.#buf[this.#start]);
    await this.#fill(width);
    let size = this.#buf[this.#start] & 0x3f;
    for (let i = 1; i < width; i++) size = size * 256 + this.#buf[this.#start + i];
    if (size > maxBytes) {
      throw new RecordStreamError(`record of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    }
    this.#start += width;
    // A clean end right after the Size field is still a truncated record, not an empty stream.
    if (!(await this.#fill(size))) throw new RecordStreamError("the stream ended inside a record");
    const record = this.#buf.slice(this.#start, this.#start + size);
    this.#start += size;
    return record;
  }
}

/** Hooks for the in-band negotiation carried by the first record each way. */
export interface RecordSocketHooks {
  /** Rewrite the first record this side sends. */
  firstSend?: (record: Uint8Array) => Uint8Array;
}

/**
 * A byte stream with the WebSocket surface the qmux session uses. Writes are queued and drained
 * in order; `bufferedAmount` counts queued bytes, which is what the send pump throttles on.
 */
export class RecordSocket extends EventTarget {
  readyState: number = OPEN;
  binaryType = "arraybuffer";
  bufferedAmount = 0;
  readonly #conn: Deno.Conn;
  readonly #hooks: RecordSocketHooks;
  readonly #queue: Uint8Array[] = [];
  #writing = false;
  #sent = false;
  #closing = false;

  constructor(conn: Deno.Conn, hooks: RecordSocketHooks = {}) {
    super();
    this.#conn = conn;
    this.#hooks = hooks;
  }

  /**
   * Deliver `first` (already read), then every record `reader` yields, as `message` events; the
   * end of the stream or an error becomes a `close` event.
   */
  start(reader: RecordReader, first?: Uint8Array): void {
    (async () => {
      if (first !== undefined) this.#deliver(first);
      for (;;) {
        const record = await reader.next();
        if (record === null || this.readyState === CLOSED) break;
        this.#deliver(record);
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

  /** Queue one record (a copy of `data`, prefixed with its size). */
  send(data: ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== OPEN || this.#closing) return;
    let bytes = data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!this.#sent) {
      this.#sent = true;
      if (this.#hooks.firstSend) bytes = this.#hooks.firstSend(bytes);
    }
    const record = concatBytes([encodeVarint(bytes.length), bytes]);
    this.#queue.push(record);
    this.bufferedAmount += record.length;
    this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const record = this.#queue[0];
        let offset = 0;
        while (offset < record.length) offset += await this.#conn.write(record.subarray(offset));
        this.#queue.shift();
        this.bufferedAmount -= record.length;
      }
    } catch (e) {
      this.#closing = false;
      this.#queue.length = 0;
      this.bufferedAmount = 0;
      this.dispatchEvent(new ErrorEvent("error", { message: e instanceof Error ? e.message : String(e) }));
      this.#ended(1006, "");
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#closing) this.#ended(1000, "");
  }

  /** Close once queued records are written (the session writes its CLOSE frame first). */
  close(_code?: number, _reason?: string): void {
    if (this.readyState !== OPEN) return;
    this.#closing = true;
    this.readyState = CLOSING;
    if (!this.#writing) this.#ended(1000, "");
  }

  #ended(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    if (this.#writing && this.#closing) return; // #drain finishes the close
    this.readyState = CLOSED;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean: code === 1000 }));
  }
}
