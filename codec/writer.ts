/**
 * A growable byte buffer for building messages: varints, raw bytes and length-prefixed strings.
 *
 * @module
 */

import { MAX_VARINT_BYTES, putVarint, putVarint62 } from "./varint.ts";

const textEncoder = new TextEncoder();

/** A growable byte buffer for building messages. */
export class Writer {
  #buf: Uint8Array;
  #len = 0;

  /** Start with room for `capacity` bytes; the buffer doubles as needed. */
  constructor(capacity = 64) {
    this.#buf = new Uint8Array(Math.max(capacity, 1));
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  /** A varint from a number (0 to 2^53 − 1). */
  varint(value: number): this {
    this.#reserve(MAX_VARINT_BYTES);
    this.#len = putVarint(this.#buf, this.#len, value);
    return this;
  }

  /** A varint from a bigint (full 62 bits). */
  varint62(value: bigint): this {
    this.#reserve(MAX_VARINT_BYTES);
    this.#len = putVarint62(this.#buf, this.#len, value);
    return this;
  }

  /** One raw byte. */
  u8(value: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = value & 0xff;
    return this;
  }

  /** A bool byte (0x00 / 0x01). */
  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  /** Two bytes big-endian. */
  u16(value: number): this {
    this.#reserve(2);
    this.#buf[this.#len++] = (value >> 8) & 0xff;
    this.#buf[this.#len++] = value & 0xff;
    return this;
  }

  /** Four bytes big-endian. */
  u32(value: number): this {
    this.#reserve(4);
    this.#buf[this.#len++] = (value >>> 24) & 0xff;
    this.#buf[this.#len++] = (value >>> 16) & 0xff;
    this.#buf[this.#len++] = (value >>> 8) & 0xff;
    this.#buf[this.#len++] = value & 0xff;
    return this;
  }

  /** Raw bytes. */
  bytes(data: Uint8Array): this {
    this.#reserve(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
    return this;
  }

  /** A varint length followed by the UTF-8 bytes of `value`. */
  string(value: string): this {
    const data = textEncoder.encode(value);
    return this.varint(data.length).bytes(data);
  }

  /** The written bytes (a view, valid until the next write). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** A copy of the written bytes. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}
