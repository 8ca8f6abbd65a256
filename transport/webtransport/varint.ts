/**
 * QUIC variable-length integers (RFC 9000 §16): the top two bits of the first byte give the length
 * (1, 2, 4 or 8 bytes), the rest is the big-endian value.
 *
 * Values up to 2^53 − 1 are exact JS numbers. Larger 8-byte values (e.g. GREASE types) decode to
 * an approximate number, which is only ever compared with small known types or skipped.
 *
 * @module
 */

/** The largest value a varint can carry (2^62 − 1). */
export const VARINT_MAX = 2n ** 62n - 1n;

/** Raised for values a varint cannot encode. */
export class VarintError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VarintError";
  }
}

/** Encoded length of `value` in bytes. */
export function varintLength(value: number): number {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x40000000) return 4;
  return 8;
}

/** Encode a non-negative integer (number ≤ 2^53 − 1 or bigint ≤ 2^62 − 1) minimally. */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === "bigint") {
    if (value < 0n || value > VARINT_MAX) throw new VarintError(`varint out of range: ${value}`);
    if (value <= BigInt(Number.MAX_SAFE_INTEGER)) return encodeVarint(Number(value));
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, value | (3n << 62n));
    return out;
  }
  if (!Number.isSafeInteger(value) || value < 0) throw new VarintError(`varint out of range: ${value}`);
  if (value < 0x40) return Uint8Array.of(value);
  if (value < 0x4000) return Uint8Array.of(0x40 | (value >> 8), value & 0xff);
  if (value < 0x40000000) {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, (value | 0x80000000) >>> 0);
    return out;
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value) | (3n << 62n));
  return out;
}

/** A decoded varint. */
export interface DecodedVarint {
  value: number;
  /** Bytes consumed. */
  length: number;
}

/**
 * Decode the varint at `offset`, or return `null` when `bytes` ends before it does.
 * Non-minimal encodings are accepted (RFC 9000 allows them).
 */
export function decodeVarint(bytes: Uint8Array, offset = 0): DecodedVarint | null {
  if (offset >= bytes.byteLength) return null;
  const first = bytes[offset];
  const length = 1 << (first >> 6);
  if (offset + length > bytes.byteLength) return null;
  let value = first & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i];
  return { value, length };
}
