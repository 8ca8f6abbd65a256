/**
 * {@link StreamReader} buffers a transport {@link RecvStream} and reads varints, size-prefixed
 * messages and frames from it, using the byte codec in `codec/`.
 *
 * A size on the wire is only a claim: buffers grow with the bytes that actually arrived (doubling,
 * capped at the declared size), so a peer cannot make the reader allocate a large buffer by
 * declaring a large size and then sending nothing.
 *
 * @module
 */

import {
  BodyReader,
  BoundsError,
  DecodeError,
  getVarint,
  putVarint,
  varintLength,
  varintSize,
} from "../codec/mod.ts";
import type { RecvStream } from "./types.ts";

const EMPTY = new Uint8Array(0);
const NOT_DONE: Promise<boolean> = Promise.resolve(false);
const ENDED: Promise<boolean> = Promise.resolve(false);

/** The first buffer a long read allocates before any more bytes have arrived. */
export const INITIAL_READ_BUFFER_BYTES = 16 * 1024;

/** Buffers a {@link RecvStream} and reads moq-lite primitives from it. */
export class StreamReader {
  readonly #stream: RecvStream;
  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  #ended = false;
  /**
   * Called whenever the reader is about to wait for the stream because everything it buffered was
   * consumed: a consumer that batches work per received chunk (waking the readers of a group once
   * for all the frames of one chunk) completes the batch there.
   */
  onWait: (() => void) | null = null;
  /** The header varint of the frame {@link bufferedFrameAfterVarint} returned last. */
  bufferedHeader = 0;

  constructor(stream: RecvStream) {
    this.#stream = stream;
  }

  /** The underlying stream. */
  get stream(): RecvStream {
    return this.#stream;
  }

  get #available(): number {
    return this.#chunk.length - this.#pos;
  }

  /**
   * Pull one more chunk; false at FIN. Not an async function (see {@link done}): an idle stream waits
   * in it all its life.
   */
  #fill(): Promise<boolean> {
    if (this.#ended) return ENDED;
    // Let go of a fully consumed chunk while waiting: an idle stream must not pin its last buffer.
    if (this.#available === 0) {
      this.#chunk = EMPTY;
      this.#pos = 0;
    }
    this.onWait?.();
    return this.#stream.read().then((next) => this.#took(next));
  }

  /** Append a chunk `#fill` read (null: FIN). */
  #took(next: Uint8Array | null): boolean {
    if (next === null) {
      this.#ended = true;
      return false;
    }
    if (this.#available === 0) {
      this.#chunk = next;
      this.#pos = 0;
    } else {
      // Only short fields (a varint split across chunks) get here: long reads copy out chunk by chunk.
      const joined = new Uint8Array(this.#available + next.length);
      joined.set(this.#chunk.subarray(this.#pos));
      joined.set(next, this.#available);
      this.#chunk = joined;
      this.#pos = 0;
    }
    return true;
  }

  /**
   * True when the stream ended (FIN) with nothing left buffered. Not an async function: an idle
   * control stream (a subscription, an announce interest) waits here all its life, and a suspended
   * async frame costs more than a `then`.
   */
  done(): Promise<boolean> {
    if (this.#available > 0) return NOT_DONE;
    return this.#fill().then((filled) => filled ? this.done() : true);
  }

  async #need(n: number, what: string): Promise<void> {
    while (this.#available < n) {
      if (!(await this.#fill())) throw new DecodeError(`stream ended inside ${what}`);
    }
  }

  /** One raw byte. */
  async u8(): Promise<number> {
    await this.#need(1, "a byte field");
    return this.#chunk[this.#pos++];
  }

  /** A varint that must fit in 53 bits. */
  async varint(): Promise<number> {
    await this.#need(1, "a varint");
    const size = varintLength(this.#chunk[this.#pos]);
    await this.#need(size, "a varint");
    const value = getVarint(this.#chunk, this.#pos);
    if (!Number.isSafeInteger(value)) throw new DecodeError("varint larger than 2^53-1");
    this.#pos += size;
    return value;
  }

  /**
   * Copy the next `total - filled` bytes into `out` (starting at `filled`), growing `out` with what
   * arrives, never past `total`. Returns the exact-size buffer.
   */
  async #readInto(
    out: Uint8Array,
    filled: number,
    total: number,
    what: (filled: number) => string,
  ): Promise<Uint8Array> {
    while (filled < total) {
      if (this.#available === 0 && !(await this.#fill())) {
        throw new DecodeError(`stream ended ${what(filled)}`);
      }
      const take = Math.min(this.#available, total - filled);
      if (filled + take > out.length) {
        const grown = new Uint8Array(Math.min(total, Math.max(out.length * 2, filled + take)));
        grown.set(out.subarray(0, filled));
        out = grown;
      }
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), filled);
      this.#pos += take;
      filled += take;
    }
    return out;
  }

  /** Exactly `n` bytes (a view of one received chunk, or a copy grown as bytes arrive). */
  async exact(n: number): Promise<Uint8Array> {
    if (this.#available >= n) {
      const out = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      return out;
    }
    const out = new Uint8Array(Math.min(n, Math.max(INITIAL_READ_BUFFER_BYTES, this.#available)));
    return await this.#readInto(out, 0, n, (filled) => `after ${filled} of ${n} bytes`);
  }

  /** A size-prefixed message body, at most `maxBytes`. */
  async message(maxBytes: number): Promise<BodyReader> {
    const size = await this.varint();
    if (size > maxBytes) throw new BoundsError(`message of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    return new BodyReader(await this.exact(size));
  }

  /**
   * The next frame as a view of the received chunk, read synchronously, when it is already
   * buffered, at most `viewUpToBytes` encoded and its size minimally encoded; otherwise undefined
   * and nothing is consumed (use {@link frame}). Throws `BoundsError` for a size over `maxBytes`.
   * For callers that copy small frames anyway: a run of buffered frames costs no promise each.
   */
  bufferedFrame(maxBytes: number, viewUpToBytes: number): Uint8Array | undefined {
    return this.#bufferedFrameAt(this.#pos, maxBytes, viewUpToBytes);
  }

  /**
   * Like {@link bufferedFrame} for a frame preceded by one header varint (moq-lite-05's timestamp
   * delta): header and frame are taken together, or neither. The frame comes back as a view
   * (`vi53 size` + payload, the header not included) and the header's value is left in
   * {@link bufferedHeader}. Undefined, nothing consumed, when they are not both buffered or the
   * header is above 2^53 − 1 (read those with {@link u8} / {@link exact}, then {@link frame}).
   */
  bufferedFrameAfterVarint(maxBytes: number, viewUpToBytes: number): Uint8Array | undefined {
    const chunk = this.#chunk;
    const start = this.#pos;
    if (start >= chunk.length) return undefined;
    const length = varintLength(chunk[start]);
    if (chunk.length - start < length) return undefined;
    const header = getVarint(chunk, start);
    if (!Number.isSafeInteger(header)) return undefined;
    const frame = this.#bufferedFrameAt(start + length, maxBytes, viewUpToBytes);
    if (frame !== undefined) this.bufferedHeader = header;
    return frame;
  }

  /** A buffered frame at `start` (see {@link bufferedFrame}); on success the reader moves past it. */
  #bufferedFrameAt(start: number, maxBytes: number, viewUpToBytes: number): Uint8Array | undefined {
    const chunk = this.#chunk;
    if (start >= chunk.length) return undefined;
    const length = varintLength(chunk[start]);
    if (chunk.length - start < length) return undefined;
    const size = getVarint(chunk, start);
    if (size > maxBytes) throw new BoundsError(`frame of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    const total = length + size;
    if (total > viewUpToBytes || length !== varintSize(size) || chunk.length - start < total) {
      return undefined;
    }
    this.#pos = start + total;
    return chunk.subarray(start, start + total);
  }

  /**
   * One frame (`vi53 size` + payload) returned ENCODED, size prefix included, in a buffer of its own,
   * so it can be forwarded to every subscriber without another copy. `null` at a clean FIN between
   * frames. A frame of at most `viewUpToBytes` (encoded) that is already buffered is returned as a
   * view of the received chunk instead (no allocation; valid until the caller lets go of it, and
   * pinning that chunk: for callers that copy small frames anyway).
   */
  async frame(maxBytes: number, viewUpToBytes = 0): Promise<Uint8Array | null> {
    if (await this.done()) return null;
    // Waiting for bytes is the one await a frame that arrives whole (often one per chunk) costs.
    const buffered = this.#bufferedFrameAt(this.#pos, maxBytes, viewUpToBytes);
    if (buffered !== undefined) return buffered;
    await this.#need(1, "a varint");
    const length = varintLength(this.#chunk[this.#pos]);
    await this.#need(length, "a varint");
    const start = this.#pos;
    const size = await this.varint();
    if (size > maxBytes) throw new BoundsError(`frame of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    const prefix = varintSize(size);
    const total = prefix + size;
    if (total <= viewUpToBytes && length === prefix && this.#available >= size) {
      // Already buffered, minimally encoded: a view of the received chunk, no allocation.
      this.#pos += size;
      return this.#chunk.subarray(start, start + total);
    }
    const out = new Uint8Array(
      Math.min(total, Math.max(INITIAL_READ_BUFFER_BYTES, prefix + this.#available)),
    );
    putVarint(out, 0, size);
    return await this.#readInto(
      out,
      prefix,
      total,
      (filled) => `inside a frame (${filled - prefix} of ${size} bytes)`,
    );
  }
}
