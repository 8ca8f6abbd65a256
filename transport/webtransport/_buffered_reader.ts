/**
 * A buffered reader over a byte `ReadableStream` reader: varints and exact byte counts, with the
 * unread rest handed on (a WebTransport stream header and its first payload may share a chunk).
 *
 * @module
 */

import { concatBytes, getVarint, varintLength } from "../../codec/mod.ts";

/** Raised when a stream ends in the middle of a value. */
export class TruncatedStreamError extends Error {
  constructor(message = "the stream ended in the middle of a value") {
    super(message);
    this.name = "TruncatedStreamError";
  }
}

/** Reads varints and byte runs from a stream, keeping what it read ahead. */
export class BufferedReader {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array(0);
  #eof = false;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.reader = reader;
  }

  /** Bytes buffered but not consumed. */
  get buffered(): number {
    return this.#buffer.byteLength;
  }

  /** True once the stream ended and the buffer is empty. */
  get done(): boolean {
    return this.#eof && this.#buffer.byteLength === 0;
  }

  /** Read one more chunk into the buffer; false at the end of the stream. */
  async #pull(): Promise<boolean> {
    if (this.#eof) return false;
    const { done, value } = await this.reader.read();
    if (done) {
      this.#eof = true;
      return false;
    }
    if (value.byteLength === 0) return true;
    this.#buffer = this.#buffer.byteLength === 0 ? value : concatBytes([this.#buffer, value]);
    return true;
  }

  /** Ensure at least `n` bytes are buffered; false if the stream ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.#buffer.byteLength < n) {
      if (!(await this.#pull())) return false;
    }
    return true;
  }

  /**
   * Read a varint. Returns `null` at a clean end of stream (no byte of it read); throws
   * {@link TruncatedStreamError} if the stream ends inside it.
   */
  async readVarint(): Promise<number | null> {
    if (!(await this.fill(1))) return null;
    const length = varintLength(this.#buffer[0]);
    if (!(await this.fill(length))) throw new TruncatedStreamError();
    const value = getVarint(this.#buffer, 0);
    this.#buffer = this.#buffer.subarray(length);
    return value;
  }

  /** Read exactly `n` bytes; throws {@link TruncatedStreamError} if the stream ends first. */
  async readBytes(n: number): Promise<Uint8Array> {
    if (!(await this.fill(n))) throw new TruncatedStreamError();
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /**
   * Read up to `max` bytes (at least one), or `null` at the end of the stream. Used to stream a long
   * frame payload without buffering all of it.
   */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (!(await this.fill(1))) return null;
    const n = Math.min(max, this.#buffer.byteLength);
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Discard exactly `n` bytes without buffering them all; throws if the stream ends first. */
  async skip(n: number): Promise<void> {
    let rest = n;
    while (rest > 0) {
      const chunk = await this.readSome(rest);
      if (!chunk) throw new TruncatedStreamError();
      rest -= chunk.byteLength;
    }
  }

  /** Take everything buffered (the start of the payload after a header). */
  takeBuffered(): Uint8Array[] {
    const rest = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return rest.byteLength > 0 ? [rest] : [];
  }
}

/** A peer-opened stream prepared for header parsing: its id (read while it still exists), a locked reader and a buffer over it. */
export interface IncomingStream {
  /** The QUIC stream id, or undefined when the resource was already gone. */
  id: bigint | undefined;
  reader: ReadableStreamDefaultReader<Uint8Array>;
  buffered: BufferedReader;
}

/**
 * Prepare a peer-opened receive stream for reading its HTTP/3 / WebTransport header. The id is read
 * first: Deno throws on `id` once the stream resource is gone.
 */
export function incomingStream(stream: Deno.QuicReceiveStream): IncomingStream {
  let id: bigint | undefined;
  try {
    id = stream.id;
  } catch {
    id = undefined;
  }
  const reader = stream.getReader();
  return { id, reader, buffered: new BufferedReader(reader) };
}
