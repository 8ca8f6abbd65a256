/**
 * Readers for moq-lite bytes: {@link StreamReader} buffers a transport stream and reads varints,
 * size-prefixed messages and frames from it; {@link BodyReader} parses one message body.
 *
 * @module
 */

import type { RecvStream } from "../transport/types.ts";
import { putVarint, varintSize } from "./varint.ts";

/** Raised on malformed or truncated moq-lite input (session close / stream reset code 5). */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

/** Raised when a length on the wire exceeds what the relay accepts (code 11, bounds exceeded). */
export class BoundsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BoundsError";
  }
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });
const EMPTY = new Uint8Array(0);

/** Parses one message body held in memory. Every read checks bounds. */
export class BodyReader {
  readonly #buf: Uint8Array;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  /** A varint that must fit in 53 bits. */
  varint(): number {
    const buf = this.#buf;
    if (this.#pos >= buf.length) throw new DecodeError("message ends inside a varint");
    const first = buf[this.#pos];
    const size = 1 << (first >> 6);
    if (this.#pos + size > buf.length) throw new DecodeError("message ends inside a varint");
    let value = first & 0x3f;
    for (let i = 1; i < size; i++) value = value * 256 + buf[this.#pos + i];
    if (!Number.isSafeInteger(value)) throw new DecodeError("varint larger than 2^53-1");
    this.#pos += size;
    return value;
  }

  /** A varint as a bigint (full 62 bits). */
  varint62(): bigint {
    const buf = this.#buf;
    if (this.#pos >= buf.length) throw new DecodeError("message ends inside a varint");
    const first = buf[this.#pos];
    const size = 1 << (first >> 6);
    if (this.#pos + size > buf.length) throw new DecodeError("message ends inside a varint");
    let value = BigInt(first & 0x3f);
    for (let i = 1; i < size; i++) value = (value << 8n) | BigInt(buf[this.#pos + i]);
    this.#pos += size;
    return value;
  }

  /** One raw byte. */
  u8(): number {
    if (this.#pos >= this.#buf.length) throw new DecodeError("message ends before a byte field");
    return this.#buf[this.#pos++];
  }

  /** A bool byte: exactly 0 or 1. */
  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw new DecodeError(`invalid bool byte 0x${b.toString(16)}`);
    return b === 1;
  }

  /** Two bytes big-endian. */
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }

  /** `n` raw bytes (a view). */
  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw new DecodeError(`field of ${n} bytes runs past the end of the message`);
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** A length-prefixed UTF-8 string. */
  string(maxBytes = 4096): string {
    const len = this.varint();
    if (len > maxBytes) throw new BoundsError(`string of ${len} bytes exceeds the ${maxBytes}-byte limit`);
    try {
      return textDecoder.decode(this.bytes(len));
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      throw new DecodeError("string is not valid UTF-8");
    }
  }

  /** Assert that the whole body was consumed. */
  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${what} has ${this.remaining} trailing bytes`);
  }
}

/** Buffers a {@link RecvStream} and reads moq-lite primitives from it. */
export class StreamReader {
  readonly #stream: RecvStream;
  #chunk: Uint8Array = EMPTY;
  #pos = 0;
  #ended = false;

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

  /** Pull one more chunk; false at FIN. */
  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    // Let go of a fully consumed chunk while waiting: an idle stream must not pin its last buffer.
    if (this.#available === 0) {
      this.#chunk = EMPTY;
      this.#pos = 0;
    }
    const next = await this.#stream.read();
    if (next === null) {
      this.#ended = true;
      return false;
    }
    if (this.#available === 0) {
      this.#chunk = next;
      this.#pos = 0;
    } else {
      const joined = new Uint8Array(this.#available + next.length);
      joined.set(this.#chunk.subarray(this.#pos));
      joined.set(next, this.#available);
      this.#chunk = joined;
      this.#pos = 0;
    }
    return true;
  }

  /** True when the stream ended (FIN) with nothing left buffered. */
  async done(): Promise<boolean> {
    while (this.#available === 0) {
      if (!(await this.#fill())) return true;
    }
    return false;
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
    const size = 1 << (this.#chunk[this.#pos] >> 6);
    await this.#need(size, "a varint");
    let value = this.#chunk[this.#pos] & 0x3f;
    for (let i = 1; i < size; i++) value = value * 256 + this.#chunk[this.#pos + i];
    if (!Number.isSafeInteger(value)) throw new DecodeError("varint larger than 2^53-1");
    this.#pos += size;
    return value;
  }

  /** Exactly `n` bytes (a copy, or a view of one received chunk). */
  async exact(n: number): Promise<Uint8Array> {
    if (this.#available >= n) {
      const out = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (this.#available === 0 && !(await this.#fill())) {
        throw new DecodeError(`stream ended after ${filled} of ${n} bytes`);
      }
      const take = Math.min(this.#available, n - filled);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), filled);
      this.#pos += take;
      filled += take;
    }
    return out;
  }

  /** A size-prefixed message body, at most `maxBytes`. */
  async message(maxBytes: number): Promise<BodyReader> {
    const size = await this.varint();
    if (size > maxBytes) throw new BoundsError(`message of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    return new BodyReader(await this.exact(size));
  }

  /**
   * One frame (`vi53 size` + payload) returned ENCODED, size prefix included, in a buffer of its own,
   * so it can be forwarded to every subscriber without another copy. `null` at a clean FIN between
   * frames.
   */
  async frame(maxBytes: number): Promise<Uint8Array | null> {
    if (await this.done()) return null;
    const size = await this.varint();
    if (size > maxBytes) throw new BoundsError(`frame of ${size} bytes exceeds the ${maxBytes}-byte limit`);
    const prefix = varintSize(size);
    const out = new Uint8Array(prefix + size);
    putVarint(out, 0, size);
    let filled = prefix;
    while (filled < out.length) {
      if (this.#available === 0 && !(await this.#fill())) {
        throw new DecodeError(`stream ended inside a frame (${filled - prefix} of ${size} bytes)`);
      }
      const take = Math.min(this.#available, out.length - filled);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), filled);
      this.#pos += take;
      filled += take;
    }
    return out;
  }
}
