/**
 * HTTP/3 constants and framing (RFC 9114) for the WebTransport subset: frames, stream types, the
 * server's control stream with its SETTINGS, and error codes.
 *
 * @module
 */

import { BufferedReader } from "./_buffered_reader.ts";
import { concatBytes, decodeVarint, encodeTlv, encodeVarint } from "../../codec/mod.ts";

/** HTTP/3 frame types used here (RFC 9114 §7.2). */
export const FRAME = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
} as const;

/** HTTP/2 frame types that are reserved (a connection error) in HTTP/3. */
export const RESERVED_H2_FRAMES: ReadonlySet<number> = new Set([0x02, 0x06, 0x08, 0x09]);

/** Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2, WebTransport draft-02). */
export const UNI_STREAM = {
  CONTROL: 0x00,
  PUSH: 0x01,
  QPACK_ENCODER: 0x02,
  QPACK_DECODER: 0x03,
  WEBTRANSPORT: 0x54,
} as const;

/** The first varint of a WebTransport bidirectional stream (draft-02 `WEBTRANSPORT_STREAM`). */
export const WEBTRANSPORT_BIDI_SIGNAL = 0x41;

/** SETTINGS identifiers. */
export const SETTING = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
  ENABLE_CONNECT_PROTOCOL: 0x08,
  H3_DATAGRAM: 0x33,
  H3_DATAGRAM_DRAFT04: 0xffd277,
  ENABLE_WEBTRANSPORT_DRAFT02: 0x2b603742,
} as const;

/** HTTP/3 error codes (RFC 9114 §8.1, RFC 9204 §6). */
export const H3_ERROR = {
  NO_ERROR: 0x100,
  GENERAL_PROTOCOL_ERROR: 0x101,
  INTERNAL_ERROR: 0x102,
  STREAM_CREATION_ERROR: 0x103,
  CLOSED_CRITICAL_STREAM: 0x104,
  FRAME_UNEXPECTED: 0x105,
  FRAME_ERROR: 0x106,
  EXCESSIVE_LOAD: 0x107,
  ID_ERROR: 0x108,
  SETTINGS_ERROR: 0x109,
  MISSING_SETTINGS: 0x10a,
  REQUEST_REJECTED: 0x10b,
  REQUEST_CANCELLED: 0x10c,
  REQUEST_INCOMPLETE: 0x10d,
  MESSAGE_ERROR: 0x10e,
  CONNECT_ERROR: 0x10f,
  VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
} as const;

/** Whether an HTTP/3 frame type is reserved GREASE (`0x1f·N + 0x21`). */
export function isGreaseFrameType(type: number): boolean {
  return type >= 0x21 && (type - 0x21) % 0x1f === 0;
}

/** Encode one HTTP/3 frame: type, length, payload. */
export function encodeH3Frame(type: number, payload: Uint8Array): Uint8Array {
  return encodeTlv(type, payload);
}

/** Encode a SETTINGS payload from `[id, value]` pairs. */
export function encodeSettings(settings: ReadonlyArray<readonly [number, number]>): Uint8Array {
  return concatBytes(settings.flatMap(([id, value]) => [encodeVarint(id), encodeVarint(value)]));
}

/** Raised when SETTINGS are malformed (H3_SETTINGS_ERROR / H3_FRAME_ERROR). */
export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

/** Parse a SETTINGS payload; duplicate identifiers are an error (RFC 9114 §7.2.4). */
export function parseSettings(payload: Uint8Array): Map<number, number> {
  const settings = new Map<number, number>();
  let offset = 0;
  while (offset < payload.byteLength) {
    const id = decodeVarint(payload, offset);
    if (!id) throw new SettingsError("truncated SETTINGS identifier");
    offset += id.length;
    const value = decodeVarint(payload, offset);
    if (!value) throw new SettingsError("truncated SETTINGS value");
    offset += value.length;
    if (settings.has(id.value)) {
      throw new SettingsError(`duplicate SETTINGS identifier 0x${id.value.toString(16)}`);
    }
    settings.set(id.value, value.value);
  }
  return settings;
}

/**
 * The server's SETTINGS, exactly the 14-byte set proven with Chromium 156 (docs/webtransport.md §5):
 * ENABLE_CONNECT_PROTOCOL, H3_DATAGRAM (RFC and draft-04 ids) and ENABLE_WEBTRANSPORT (draft-02).
 * No QPACK table capacity (= 0), so peers never use the dynamic table.
 */
export const SERVER_SETTINGS: ReadonlyArray<readonly [number, number]> = [
  [SETTING.ENABLE_CONNECT_PROTOCOL, 1],
  [SETTING.H3_DATAGRAM, 1],
  [SETTING.H3_DATAGRAM_DRAFT04, 1],
  [SETTING.ENABLE_WEBTRANSPORT_DRAFT02, 1],
];

/** The bytes the server writes on its control stream: stream type CONTROL + SETTINGS (17 bytes). */
export function controlStreamPreamble(settings = SERVER_SETTINGS): Uint8Array {
  return concatBytes([
    Uint8Array.of(UNI_STREAM.CONTROL),
    encodeH3Frame(FRAME.SETTINGS, encodeSettings(settings)),
  ]);
}

/** A frame header read from a stream. */
export interface FrameHeader {
  type: number;
  length: number;
}

/** Raised for malformed HTTP/3 framing (H3_FRAME_ERROR). */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/**
 * Read the next frame header, or `null` at a clean end of stream. `firstType` supplies a type that
 * was already read (the first varint of a request stream).
 */
export async function readFrameHeader(
  reader: BufferedReader,
  firstType?: number,
): Promise<FrameHeader | null> {
  const type = firstType ?? await reader.readVarint();
  if (type === null) return null;
  const length = await reader.readVarint();
  if (length === null) throw new FrameError("the stream ended inside a frame header");
  return { type, length };
}
