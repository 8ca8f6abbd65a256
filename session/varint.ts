/**
 * QUIC variable-length integers (RFC 9000 §16) as moq-lite uses them, and a growable byte writer.
 *
 * @module
 */

/** The largest value a moq-lite `vi53` may carry (what `@moq/lite` 0.2.2 parses as a number). */
export const MAX_VI53 = Number.MAX_SAFE_INTEGER;
/** The largest QUIC varint. */
export const MAX_VI62 = (1n << 62n) - 1n;

/** Raised when a value cannot be encoded. */
export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EncodeError";
  }
}

/** Encoded size of `value` in bytes (1, 2, 4 or 8). */
export function varintSize(value: number): number {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x40000000) return 4;
  return 8;
}

/** Write `value` (0 ≤ value ≤ 2^53−1) as a minimal varint into `out` at `offset`; returns the new offset. */
export function putVarint(out: Uint8Array, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new EncodeError(`cannot encode ${value} as a varint: expected an integer from 0 to 2^53-1`);
  }
  if (value < 0x40) {
    out[offset] = value;
    return offset + 1;
  }
  if (value < 0x4000) {
    out[offset] = 0x40 | (value >> 8);
    out[offset + 1] = value & 0xff;
    return offset + 2;
  }
  if (value < 0x40000000) {
    out[offset] = 0x80 | (value >>> 24);
    out[offset + 1] = (value >>> 16) & 0xff;
    out[offset + 2] = (value >>> 8) & 0xff;
    out[offset + 3] = value & 0xff;
    return offset + 4;
  }
  const high = Math.floor(value / 0x100000000);
  const low = value >>> 0;
  out[offset] = 0xc0 | (high >>> 24);
  out[offset + 1] = (high >>> 16) & 0xff;
  out[offset + 2] = (high >>> 8) & 0xff;
  out[offset + 3] = high & 0xff;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = (low >>> 16) & 0xff;
  out[offset + 6] = (low >>> 8) & 0xff;
  out[offset + 7] = low & 0xff;
  return offset + 8;
}

/** Encode one varint into a fresh array. */
export function encodeVarint(value: number): Uint8Array {
  const out = new Uint8Array(varintSize(value));
  putVarint(out, 0, value);
  return out;
}

const textEncoder = new TextEncoder();

/** A growable byte buffer for building messages. */
export class Writer {
  #buf: Uint8Array;
  #len = 0;

  constructor(capacity = 64) {
    this.#buf = new Uint8Array(capacity);
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

  /** A `vi53` varint. */
  varint(value: number): this {
    this.#reserve(8);
    this.#len = putVarint(this.#buf, this.#len, value);
    return this;
  }

  /** A `vi62` varint from a bigint. */
  varint62(value: bigint): this {
    if (value < 0n || value > MAX_VI62) {
      throw new EncodeError(`cannot encode ${value} as a varint: expected 0 to 2^62-1`);
    }
    if (value <= BigInt(MAX_VI53)) return this.varint(Number(value));
    this.#reserve(8);
    const view = new DataView(this.#buf.buffer, this.#buf.byteOffset + this.#len, 8);
    view.setBigUint64(0, value | (3n << 62n));
    this.#len += 8;
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

  /** Raw bytes. */
  bytes(data: Uint8Array): this {
    this.#reserve(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
    return this;
  }

  /** A length-prefixed UTF-8 string. */
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
