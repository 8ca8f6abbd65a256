/**
 * QUIC variable-length integers (RFC 9000 §16): the top two bits of the first byte give the length
 * (1, 2, 4 or 8 bytes), the remaining bits are the big-endian value, at most 2^62 − 1.
 *
 * Two forms: `number` for values up to 2^53 − 1 (ids, lengths, sequences; exact in JS) and `bigint`
 * for the full 62 bits (frame types, GREASE). Encoding writes into the caller's buffer
 * ({@link putVarint}), so hot paths allocate nothing; {@link encodeVarint} is the convenience form.
 *
 * @module
 */

/** The largest value a varint can carry: 2^62 − 1. */
export const MAX_VARINT: bigint = (1n << 62n) - 1n;

/** The largest varint the `number` form carries exactly: 2^53 − 1. */
export const MAX_VARINT_NUMBER: number = Number.MAX_SAFE_INTEGER;

/** The longest encoding of a varint, in bytes. */
export const MAX_VARINT_BYTES = 8;

/** Raised when a value cannot be encoded as a varint (negative, fractional or above the maximum). */
export class VarintRangeError extends Error {
  constructor(value: number | bigint, max: number | bigint) {
    super(`cannot encode ${value} as a QUIC varint: pass an integer from 0 to ${max}`);
    this.name = "VarintRangeError";
  }
}

/** Raised when the bytes end inside a varint; read more input before decoding. */
export class VarintTruncatedError extends Error {
  constructor(needed: number, available: number) {
    super(`input ends inside a QUIC varint: it needs ${needed} bytes, ${available} are left`);
    this.name = "VarintTruncatedError";
  }
}

/** Encoded size of `value` in bytes (1, 2, 4 or 8), for the minimal encoding. */
export function varintSize(value: number | bigint): 1 | 2 | 4 | 8 {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x40000000) return 4;
  return 8;
}

/** Length in bytes (1, 2, 4 or 8) of the varint whose first byte is `first`. */
export function varintLength(first: number): 1 | 2 | 4 | 8 {
  return (1 << (first >> 6)) as 1 | 2 | 4 | 8;
}

/**
 * Write `value` (an integer, 0 ≤ value ≤ 2^53 − 1) as a minimal varint into `out` at `offset`;
 * returns the offset after it. The caller makes room ({@link varintSize} bytes).
 */
export function putVarint(out: Uint8Array, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new VarintRangeError(value, MAX_VARINT_NUMBER);
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
  return putVarint8(out, offset, Math.floor(value / 0x100000000), value >>> 0);
}

/**
 * Write the 8-byte form from the value's upper (`high`, below 2^30) and lower (`low`) 32 bits;
 * returns the offset after it.
 */
function putVarint8(out: Uint8Array, offset: number, high: number, low: number): number {
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

/** Write a bigint `value` (0 ≤ value ≤ 2^62 − 1) as a minimal varint; returns the offset after it. */
export function putVarint62(out: Uint8Array, offset: number, value: bigint): number {
  if (value < 0n || value > MAX_VARINT) throw new VarintRangeError(value, MAX_VARINT);
  if (value <= BigInt(MAX_VARINT_NUMBER)) return putVarint(out, offset, Number(value));
  return putVarint8(out, offset, Number(value >> 32n), Number(value & 0xffffffffn));
}

/** Encode one varint into a fresh array (control paths; hot paths use {@link putVarint}). */
export function encodeVarint(value: number | bigint): Uint8Array {
  const out = new Uint8Array(varintSize(value));
  if (typeof value === "bigint") putVarint62(out, 0, value);
  else putVarint(out, 0, value);
  return out;
}

/** Length of the varint at `offset`; throws {@link VarintTruncatedError} when `bytes` ends inside it. */
function wholeVarintLength(bytes: Uint8Array, offset: number): 1 | 2 | 4 | 8 {
  const available = bytes.length - offset;
  if (available < 1) throw new VarintTruncatedError(1, Math.max(available, 0));
  const length = varintLength(bytes[offset]);
  if (length > available) throw new VarintTruncatedError(length, available);
  return length;
}

/**
 * The varint at `offset` as a number. Values above 2^53 − 1 come back rounded (check with
 * `Number.isSafeInteger` where exactness matters). Throws {@link VarintTruncatedError} when `bytes`
 * ends inside it. Non-minimal encodings are accepted (RFC 9000 §16 allows them). Allocates nothing.
 */
export function getVarint(bytes: Uint8Array, offset: number): number {
  const length = wholeVarintLength(bytes, offset);
  let value = bytes[offset] & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i];
  return value;
}

/** The varint at `offset` as an exact bigint (full 62 bits); throws {@link VarintTruncatedError}. */
export function getVarint62(bytes: Uint8Array, offset: number): bigint {
  const length = wholeVarintLength(bytes, offset);
  let value = BigInt(bytes[offset] & 0x3f);
  for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i]);
  return value;
}

/** A decoded varint and how many bytes it took. */
export interface DecodedVarint {
  /** The value (rounded above 2^53 − 1, see {@link getVarint}). */
  value: number;
  /** Bytes consumed. */
  length: number;
}

/**
 * Decode the varint at `offset`, or return `null` when `bytes` ends before it does (incremental
 * parsers feed more input and retry). Control paths only: it allocates the result object.
 */
export function decodeVarint(bytes: Uint8Array, offset = 0): DecodedVarint | null {
  if (offset >= bytes.length) return null;
  const length = varintLength(bytes[offset]);
  if (offset + length > bytes.length) return null;
  return { value: getVarint(bytes, offset), length };
}
