/**
 * A small DER (ASN.1 Distinguished Encoding Rules) writer and reader: just what X.509 certificate
 * generation, PEM handling and key/certificate matching need.
 *
 * @module
 */

/** Raised when DER input is malformed. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/** ASN.1 universal tags used here. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const textEncoder = new TextEncoder();

/** Bytes backed by a plain `ArrayBuffer` (what WebCrypto accepts). */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Concatenate byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Bytes {
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

function encodeLength(length: number): Bytes {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV: `tag`, DER length, `content`. */
export function tlv(tag: number, content: Uint8Array): Bytes {
  return concatBytes(Uint8Array.of(tag), encodeLength(content.byteLength), content);
}

/** SEQUENCE of already-encoded elements. */
export function sequence(...elements: Uint8Array[]): Bytes {
  return tlv(TAG.SEQUENCE, concatBytes(...elements));
}

/** SET of already-encoded elements (callers pass one element or pre-sorted ones). */
export function set(...elements: Uint8Array[]): Bytes {
  return tlv(TAG.SET, concatBytes(...elements));
}

/** A non-negative INTEGER from its big-endian magnitude (leading zeros trimmed, sign byte added). */
export function unsignedInteger(magnitude: Uint8Array): Bytes {
  let start = 0;
  while (start < magnitude.byteLength - 1 && magnitude[start] === 0) start++;
  let bytes: Uint8Array = magnitude.subarray(start);
  if (bytes.byteLength === 0) bytes = Uint8Array.of(0);
  if (bytes[0] & 0x80) bytes = concatBytes(Uint8Array.of(0), bytes);
  return tlv(TAG.INTEGER, bytes);
}

/** A small non-negative INTEGER. */
export function smallInteger(value: number): Bytes {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new DerError(`not a small non-negative integer: ${value}`);
  }
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return unsignedInteger(Uint8Array.from(bytes));
}

/** BOOLEAN. */
export function boolean(value: boolean): Bytes {
  return tlv(TAG.BOOLEAN, Uint8Array.of(value ? 0xff : 0x00));
}

/** NULL. */
export function derNull(): Bytes {
  return Uint8Array.of(TAG.NULL, 0);
}

/** OBJECT IDENTIFIER from dotted text (`1.2.840.10045.2.1`). */
export function oid(dotted: string): Bytes {
  const arcs = dotted.split(".").map((arc) => {
    if (!/^\d+$/.test(arc)) throw new DerError(`invalid OID "${dotted}"`);
    return Number(arc);
  });
  if (arcs.length < 2 || arcs[0] > 2) throw new DerError(`invalid OID "${dotted}"`);
  const out: number[] = [];
  const pushArc = (arc: number) => {
    const groups: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
      groups.unshift(0x80 | (rest & 0x7f));
    }
    out.push(...groups);
  };
  pushArc(arcs[0] * 40 + arcs[1]);
  for (const arc of arcs.slice(2)) pushArc(arc);
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** Decode the content bytes of an OBJECT IDENTIFIER to dotted text. */
export function decodeOid(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        arcs.push(first, value - first * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join(".");
}

/** UTF8String. */
export function utf8String(text: string): Bytes {
  return tlv(TAG.UTF8_STRING, textEncoder.encode(text));
}

/** BIT STRING with no unused bits. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Bytes {
  return tlv(TAG.BIT_STRING, concatBytes(Uint8Array.of(unusedBits), bytes));
}

/** OCTET STRING. */
export function octetString(bytes: Uint8Array): Bytes {
  return tlv(TAG.OCTET_STRING, bytes);
}

/** `[n] EXPLICIT` wrapper (constructed context tag). */
export function explicit(tagNumber: number, inner: Uint8Array): Bytes {
  return tlv(0xa0 | tagNumber, inner);
}

/** `[n] IMPLICIT` primitive value (context tag, primitive). */
export function implicitPrimitive(tagNumber: number, content: Uint8Array): Bytes {
  return tlv(0x80 | tagNumber, content);
}

/**
 * An X.509 Time: UTCTime for years 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5),
 * whole seconds, `Z`.
 */
export function x509Time(ms: number): Bytes {
  const date = new Date(Math.floor(ms / 1000) * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const year = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}` +
    `${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) {
    return tlv(TAG.UTC_TIME, textEncoder.encode(`${pad(year % 100)}${rest}`));
  }
  return tlv(TAG.GENERALIZED_TIME, textEncoder.encode(`${pad(year, 4)}${rest}`));
}

/** A decoded TLV: its tag, where its content lies in the input, and where it ends. */
export interface DerElement {
  tag: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content (= the element's end). */
  end: number;
  /** Offset of the tag byte. */
  start: number;
}

/** Read the TLV starting at `offset` (definite lengths only, as DER requires). */
export function readElement(bytes: Uint8Array, offset: number, limit = bytes.byteLength): DerElement {
  if (offset + 2 > limit) throw new DerError("truncated DER element");
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte DER tags are not supported");
  let length = bytes[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported DER length encoding");
    if (contentStart + count > limit) throw new DerError("truncated DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[contentStart + i];
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError("DER element runs past its container");
  return { tag, contentStart, end, start: offset };
}

/** The child elements of a constructed element. */
export function readChildren(bytes: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readElement(bytes, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The content bytes of an element. */
export function contentOf(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.contentStart, element.end);
}

/** The whole encoding (tag + length + content) of an element. */
export function encodingOf(bytes: Uint8Array, element: DerElement): Uint8Array {
  return bytes.subarray(element.start, element.end);
}
