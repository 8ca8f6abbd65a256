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

/**
 * Parses one message body (or frame) held in memory. Every read checks bounds; nothing is copied.
 * Errors name the unit (`message`, `frame`) and the field being read, e.g. "frame truncated inside
 * stream id".
 */
export class BodyReader {
  readonly #buf: Uint8Array;
  readonly #unit: string;
  #pos = 0;

  /** Read `buf`; `unit` names it in error messages. */
  constructor(buf: Uint8Array, unit = "message") {
    this.#buf = buf;
    this.#unit = unit;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  /** Bytes read so far. */
  get position(): number {
    return this.#pos;
  }

  #varintSize(what: string): number {
    if (this.#pos >= this.#buf.length) throw new DecodeError(`${this.#unit} truncated: missing ${what}`);
    const size = varintLength(this.#buf[this.#pos]);
    if (this.#pos + size > this.#buf.length) throw new DecodeError(`${this.#unit} truncated inside ${what}`);
    return size;
  }

  /** A varint that must fit in 53 bits (ids, lengths, sequences). */
  varint(what = "a varint"): number {
    const size = this.#varintSize(what);
    const value = getVarint(this.#buf, this.#pos);
    if (!Number.isSafeInteger(value)) throw new DecodeError(`${what} is larger than 2^53-1`);
    this.#pos += size;
    return value;
  }

  /** A varint used as a limit or offset: values above 2^53 − 1 become 2^53 − 1 (effectively unlimited). */
  clampedVarint(what = "a varint"): number {
    const size = this.#varintSize(what);
    const value = getVarint(this.#buf, this.#pos);
    this.#pos += size;
    return Math.min(value, Number.MAX_SAFE_INTEGER);
  }

  /** A varint as a bigint (full 62 bits). */
  varint62(what = "a varint"): bigint {
    const size = this.#varintSize(what);
    const value = getVarint62(this.#buf, this.#pos);
    this.#pos += size;
    return value;
  }

  /** The next byte without consuming it, or undefined at the end. */
  peekU8(): number | undefined {
    return this.#pos < this.#buf.length ? this.#buf[this.#pos] : undefined;
  }

  /** One raw byte. */
  u8(what = "a byte field"): number {
    if (this.#pos >= this.#buf.length) throw new DecodeError(`${this.#unit} truncated: missing ${what}`);
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
  bytes(n: number, what = "a field"): Uint8Array {
    if (n > this.remaining) {
      throw new DecodeError(`${this.#unit} truncated: ${what} needs ${n} bytes, ${this.remaining} left`);
    }
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
