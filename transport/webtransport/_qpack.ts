/**
 * The QPACK subset an HTTP/3 WebTransport endpoint needs when it advertises a dynamic table
 * capacity of 0 (RFC 9204): static-table and literal field lines, Huffman-coded strings in, plain
 * strings out. Field sections that reference the dynamic table are rejected.
 *
 * @module
 */

import { huffmanDecode, huffmanEncode, HuffmanError } from "./_huffman.ts";

/** Raised when a field section cannot be decoded (QPACK_DECOMPRESSION_FAILED). */
export class QpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QpackError";
  }
}

/** One decoded field line: lowercase name and value. */
export type HeaderField = [name: string, value: string];

/** The QPACK static table, RFC 9204 Appendix A (indices 0–98). */
export const STATIC_TABLE: readonly HeaderField[] = [
  [":authority", ""],
  [":path", "/"],
  ["age", "0"],
  ["content-disposition", ""],
  ["content-length", "0"],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["referer", ""],
  ["set-cookie", ""],
  [":method", "CONNECT"],
  [":method", "DELETE"],
  [":method", "GET"],
  [":method", "HEAD"],
  [":method", "OPTIONS"],
  [":method", "POST"],
  [":method", "PUT"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "103"],
  [":status", "200"],
  [":status", "304"],
  [":status", "404"],
  [":status", "503"],
  ["accept", "*/*"],
  ["accept", "application/dns-message"],
  ["accept-encoding", "gzip, deflate, br"],
  ["accept-ranges", "bytes"],
  ["access-control-allow-headers", "cache-control"],
  ["access-control-allow-headers", "content-type"],
  ["access-control-allow-origin", "*"],
  ["cache-control", "max-age=0"],
  ["cache-control", "max-age=2592000"],
  ["cache-control", "max-age=604800"],
  ["cache-control", "no-cache"],
  ["cache-control", "no-store"],
  ["cache-control", "public, max-age=31536000"],
  ["content-encoding", "br"],
  ["content-encoding", "gzip"],
  ["content-type", "application/dns-message"],
  ["content-type", "application/javascript"],
  ["content-type", "application/json"],
  ["content-type", "application/x-www-form-urlencoded"],
  ["content-type", "image/gif"],
  ["content-type", "image/jpeg"],
  ["content-type", "image/png"],
  ["content-type", "text/css"],
  ["content-type", "text/html; charset=utf-8"],
  ["content-type", "text/plain"],
  ["content-type", "text/plain;charset=utf-8"],
  ["range", "bytes=0-"],
  ["strict-transport-security", "max-age=31536000"],
  ["strict-transport-security", "max-age=31536000; includesubdomains"],
  ["strict-transport-security", "max-age=31536000; includesubdomains; preload"],
  ["vary", "accept-encoding"],
  ["vary", "origin"],
  ["x-content-type-options", "nosniff"],
  ["x-xss-protection", "1; mode=block"],
  [":status", "100"],
  [":status", "204"],
  [":status", "206"],
  [":status", "302"],
  [":status", "400"],
  [":status", "403"],
  [":status", "421"],
  [":status", "425"],
  [":status", "500"],
  ["accept-language", ""],
  ["access-control-allow-credentials", "FALSE"],
  ["access-control-allow-credentials", "TRUE"],
  ["access-control-allow-headers", "*"],
  ["access-control-allow-methods", "get"],
  ["access-control-allow-methods", "get, post, options"],
  ["access-control-allow-methods", "options"],
  ["access-control-expose-headers", "content-length"],
  ["access-control-request-headers", "content-type"],
  ["access-control-request-method", "get"],
  ["access-control-request-method", "post"],
  ["alt-svc", "clear"],
  ["authorization", ""],
  ["content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ["early-data", "1"],
  ["expect-ct", ""],
  ["forwarded", ""],
  ["if-range", ""],
  ["origin", ""],
  ["purpose", "prefetch"],
  ["server", ""],
  ["timing-allow-origin", "*"],
  ["upgrade-insecure-requests", "1"],
  ["user-agent", ""],
  ["x-forwarded-for", ""],
  ["x-frame-options", "deny"],
  ["x-frame-options", "sameorigin"],
];

const decoder = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** Largest prefix-integer value accepted (guards against absurd lengths). */
const MAX_PREFIX_INT = 2 ** 32;

/** A cursor over a field section. */
class Cursor {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.bytes.byteLength) throw new QpackError("field section truncated");
    return this.bytes[this.offset];
  }

  /** RFC 7541 §5.1 prefix integer with an N-bit prefix, starting at the current byte. */
  prefixInt(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.byte() & max;
    this.offset++;
    if (value < max) return value;
    let multiplier = 1;
    while (true) {
      // 2^32 needs at most 5 continuation bytes; more (even all-zero ones) would overflow the
      // multiplier to Infinity and the value to NaN.
      if (multiplier > MAX_PREFIX_INT * 128) throw new QpackError("prefix integer too long");
      const next = this.byte();
      this.offset++;
      value += (next & 0x7f) * multiplier;
      multiplier *= 128;
      if (value > MAX_PREFIX_INT) throw new QpackError("prefix integer too large");
      if ((next & 0x80) === 0) return value;
    }
  }

  /** A string literal whose Huffman flag is bit `hBit` of the current byte and length an N-bit prefix. */
  string(hBit: number, prefixBits: number): string {
    const huffman = (this.byte() & hBit) !== 0;
    const length = this.prefixInt(prefixBits);
    if (this.offset + length > this.bytes.byteLength) {
      throw new QpackError("string literal runs past the field section");
    }
    const raw = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    if (!huffman) return decoder.decode(raw);
    try {
      return decoder.decode(huffmanDecode(raw));
    } catch (error) {
      if (error instanceof HuffmanError) throw new QpackError(`bad Huffman string: ${error.message}`);
      throw error;
    }
  }
}

function staticEntry(index: number): HeaderField {
  const entry = STATIC_TABLE[index];
  if (!entry) throw new QpackError(`static table index ${index} out of range`);
  return entry;
}

/**
 * Decode a field section (the payload of an HTTP/3 HEADERS frame) that uses only the static table.
 * Throws {@link QpackError}.
 */
export function decodeFieldSection(bytes: Uint8Array): HeaderField[] {
  const cursor = new Cursor(bytes);
  const requiredInsertCount = cursor.prefixInt(8);
  if (requiredInsertCount !== 0) {
    throw new QpackError("the field section references the dynamic table (Required Insert Count ≠ 0)");
  }
  cursor.prefixInt(7); // sign bit + Delta Base: meaningless without a dynamic table
  const fields: HeaderField[] = [];
  while (cursor.offset < bytes.byteLength) {
    const first = cursor.byte();
    if (first & 0x80) {
      // 1Txxxxxx indexed field line
      if ((first & 0x40) === 0) throw new QpackError("indexed field line references the dynamic table");
      fields.push([...staticEntry(cursor.prefixInt(6))]);
    } else if (first & 0x40) {
      // 01NTxxxx literal with name reference
      if ((first & 0x10) === 0) throw new QpackError("literal field line references a dynamic table name");
      const [name] = staticEntry(cursor.prefixInt(4));
      fields.push([name, cursor.string(0x80, 7)]);
    } else if (first & 0x20) {
      // 001NHxxx literal with literal name
      const name = cursor.string(0x08, 3);
      fields.push([name.toLowerCase(), cursor.string(0x80, 7)]);
    } else {
      // 0001xxxx / 0000xxxx post-base forms
      throw new QpackError("post-base field line references the dynamic table");
    }
  }
  return fields;
}

/** Encode a prefix integer whose first byte carries `flags` in the bits above the prefix. */
export function encodePrefixInt(value: number, prefixBits: number, flags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function encodeString(
  value: string,
  hBit: number,
  prefixBits: number,
  flags: number,
  huffman: boolean,
): number[] {
  const raw = encoder.encode(value);
  const bytes = huffman ? huffmanEncode(raw) : raw;
  return [...encodePrefixInt(bytes.byteLength, prefixBits, flags | (huffman ? hBit : 0)), ...bytes];
}

/** Options for {@link encodeFieldSection}. */
export interface EncodeOptions {
  /** Huffman-code literal strings (a Chromium-like request; responses stay plain). Default false. */
  huffman?: boolean;
}

/**
 * Encode a field section using only the static table: exact matches become indexed field lines,
 * known names become literals with a static name reference, anything else a literal name.
 */
export function encodeFieldSection(fields: readonly HeaderField[], options: EncodeOptions = {}): Uint8Array {
  const huffman = options.huffman ?? false;
  const out: number[] = [0x00, 0x00];
  for (const [rawName, value] of fields) {
    const name = rawName.toLowerCase();
    const exact = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (exact >= 0) {
      out.push(...encodePrefixInt(exact, 6, 0xc0));
      continue;
    }
    const nameIndex = STATIC_TABLE.findIndex(([n]) => n === name);
    if (nameIndex >= 0) {
      out.push(...encodePrefixInt(nameIndex, 4, 0x50));
      out.push(...encodeString(value, 0x80, 7, 0x00, huffman));
      continue;
    }
    out.push(...encodeString(name, 0x08, 3, 0x20, huffman));
    out.push(...encodeString(value, 0x80, 7, 0x00, huffman));
  }
  return Uint8Array.from(out);
}
