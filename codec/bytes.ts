/**
 * Byte-array helpers: concatenation, type-length-value framing and hex.
 *
 * @module
 */

import { putVarint, putVarint62, varintSize } from "./varint.ts";

/** The bytes of `parts` one after another, in one new array (control paths: it copies every part). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * Encode `payload` framed as varint type, varint length, payload: the shape of HTTP/3 frames
 * (RFC 9114 §7.1), capsules (RFC 9297 §3.2) and QUIC transport parameters (RFC 9000 §18).
 * Throws `VarintRangeError` for a type outside the varint range.
 */
export function encodeTlv(type: number | bigint, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const length = payload.byteLength;
  const out = new Uint8Array(varintSize(type) + varintSize(length) + length);
  let offset = typeof type === "bigint" ? putVarint62(out, 0, type) : putVarint(out, 0, type);
  offset = putVarint(out, offset, length);
  out.set(payload, offset);
  return out;
}

/** Lowercase hex of bytes, two digits a byte, no separators. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
