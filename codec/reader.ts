/**
 * A bounded cursor over bytes held in memory: every read checks the end, malformed input raises
 * {@link DecodeError}, lengths above a limit raise {@link BoundsError}.
 *
 * @module
 */

import { getVarint, getVarint62, varintLength } from "./varint.ts";

/** Raised on malformed or truncated input; the caller closes the offending stream or session. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

/** Raised when a length on the wire exceeds what the receiver accepts. */
export class BoundsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BoundsError";
  }
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Parses one message body held in memory. Every read checks bounds; nothing is copied. */
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

  /** Bytes read so far. */
  get position(): number {
    return this.#pos;
  }

  #varintSize(): number {
    if (this.#pos >= this.#buf.length) throw new DecodeError("message ends inside a varint");
    const size = varintLength(this.#buf[this.#pos]);
    if (this.#pos + size > this.#buf.length) throw new DecodeError("message ends inside a varint");
    return size;
  }

  /** A varint that must fit in 53 bits. */
  varint(): number {
    const size = this.#varintSize();
    const value = getVarint(this.#buf, this.#pos);
    if (!Number.isSafeInteger(value)) throw new DecodeError("varint larger than 2^53-1");
    this.#pos += size;
    return value;
  }

  /** A varint as a bigint (full 62 bits). */
  varint62(): bigint {
    const size = this.#varintSize();
    const value = getVarint62(this.#buf, this.#pos);
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

  /** Everything not read yet (a view). */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** A varint-length-prefixed UTF-8 string of at most `maxBytes`. */
  string(maxBytes = 4096): string {
    const len = this.varint();
    if (len > maxBytes) throw new BoundsError(`string of ${len} bytes exceeds the ${maxBytes}-byte limit`);
    const bytes = this.bytes(len);
    try {
      return textDecoder.decode(bytes);
    } catch {
      throw new DecodeError("string is not valid UTF-8");
    }
  }

  /** Assert that the whole body was consumed. */
  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${what} has ${this.remaining} trailing bytes`);
  }
}
