/**
 * Frame codecs for the two WebSocket framings `@moq/qmux` 0.0.6 speaks (docs/protocol.md §3.4–3.5):
 *
 * - `webtransport`: a raw type byte (`0x08`/`0x09` STREAM, `0x04` RESET_STREAM, `0x05` STOP_SENDING,
 *   `0x1d` APPLICATION_CLOSE), no flow control;
 * - `qmux-00`: QUIC v1 frames with a varint type, QX_TRANSPORT_PARAMETERS first, full flow control,
 *   and the 0.0.6 quirk that APPLICATION_CLOSE carries a frame-type varint.
 *
 * One WebSocket message carries exactly one encoded frame. Decoding a `qmux-00` message returns
 * every frame it holds (newer qmux peers may coalesce); a `webtransport` message holds one frame.
 *
 * @module
 */

import {
  BodyReader,
  DecodeError,
  putVarint,
  truncateUtf8,
  varintLength,
  varintSize,
} from "../../codec/mod.ts";

/** The frame layout negotiated through the WebSocket subprotocol. */
export type Framing = "webtransport" | "qmux-00";

/** Largest STREAM payload per WebSocket message that 0.2.2 accepts (16 384 − 24 bytes). */
export const MAX_STREAM_PAYLOAD_BYTES = 16_360;

/** The 8-byte varint frame type of QX_TRANSPORT_PARAMETERS (`ff 51 53 30 0d 0a 0d 0a`). */
export const QX_TRANSPORT_PARAMETERS_TYPE = 0x3f5153300d0a0d0an;

/** Frame type bytes shared by both framings. */
export const FrameType = {
  RESET_STREAM: 0x04,
  STOP_SENDING: 0x05,
  STREAM: 0x08,
  STREAM_FIN_BIT: 0x01,
  STREAM_LEN_BIT: 0x02,
  STREAM_OFF_BIT: 0x04,
  MAX_DATA: 0x10,
  MAX_STREAM_DATA: 0x11,
  MAX_STREAMS_BIDI: 0x12,
  MAX_STREAMS_UNI: 0x13,
  DATA_BLOCKED: 0x14,
  STREAM_DATA_BLOCKED: 0x15,
  STREAMS_BLOCKED_BIDI: 0x16,
  STREAMS_BLOCKED_UNI: 0x17,
  CONNECTION_CLOSE: 0x1c,
  APPLICATION_CLOSE: 0x1d,
  DATAGRAM: 0x30,
  DATAGRAM_LEN: 0x31,
} as const;

/** The six QUIC transport parameters qmux-00 peers exchange (RFC 9000 §18.2 ids 0x04–0x09). */
export interface TransportParameters {
  /** 0x04 initial_max_data: connection-wide receive window in bytes. */
  initialMaxData: number;
  /** 0x05 initial_max_stream_data_bidi_local: window for bidi streams the sender opens. */
  initialMaxStreamDataBidiLocal: number;
  /** 0x06 initial_max_stream_data_bidi_remote: window for bidi streams the receiver opens. */
  initialMaxStreamDataBidiRemote: number;
  /** 0x07 initial_max_stream_data_uni: window for uni streams the receiver opens. */
  initialMaxStreamDataUni: number;
  /** 0x08 initial_max_streams_bidi: how many bidi streams the receiver may open. */
  initialMaxStreamsBidi: number;
  /** 0x09 initial_max_streams_uni: how many uni streams the receiver may open. */
  initialMaxStreamsUni: number;
}

/** One decoded or to-be-encoded frame. Limits and offsets above 2^53−1 are clamped on decode. */
export type Frame =
  | { type: "stream"; id: number; offset?: number; data: Uint8Array; fin: boolean }
  | { type: "reset_stream"; id: number; code: number; finalSize: number }
  | { type: "stop_sending"; id: number; code: number }
  | { type: "close"; code: number; reason: string; application: boolean }
  | { type: "transport_parameters"; params: TransportParameters }
  | { type: "max_data"; max: number }
  | { type: "max_stream_data"; id: number; max: number }
  | { type: "max_streams"; bidi: boolean; max: number }
  | { type: "data_blocked"; limit: number }
  | { type: "stream_data_blocked"; id: number; limit: number }
  | { type: "streams_blocked"; bidi: boolean; limit: number };

/** Raised when a received WebSocket message is not a valid frame (close the session with code 15). */
export class FrameDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameDecodeError";
  }
}

/** Raised when a frame cannot be expressed in the chosen framing (a bug in the caller). */
export class FrameEncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameEncodeError";
  }
}

/** Longest close reason we put on the wire (longer reasons are cut at a UTF-8 boundary). */
export const MAX_CLOSE_REASON_BYTES = 1024;

const textDecoder = new TextDecoder();

function hex(value: number | bigint): string {
  return "0x" + value.toString(16);
}

/** Cut `reason` to at most {@link MAX_CLOSE_REASON_BYTES} UTF-8 bytes without splitting a character. */
function reasonBytes(reason: string): Uint8Array {
  return truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
}

/** Encode varint fields after a type prefix into one exact-size message. */
function packFields(prefix: Uint8Array, fields: number[], tail?: Uint8Array): Uint8Array {
  let size = prefix.length + (tail?.length ?? 0);
  for (const field of fields) size += varintSize(field);
  const out = new Uint8Array(size);
  out.set(prefix, 0);
  let pos = prefix.length;
  for (const field of fields) pos = putVarint(out, pos, field);
  if (tail) out.set(tail, pos);
  return out;
}

const TYPE_PREFIX: Record<number, Uint8Array> = {};
function typePrefix(type: number): Uint8Array {
  // Every frame type we send is < 0x40, so its varint is the single byte itself in both framings.
  return TYPE_PREFIX[type] ??= Uint8Array.of(type);
}

const QX_TP_PREFIX = Uint8Array.of(0xff, 0x51, 0x53, 0x30, 0x0d, 0x0a, 0x0d, 0x0a);

function encodeTransportParameters(params: TransportParameters): Uint8Array {
  const entries: Array<[number, number]> = [
    [0x04, params.initialMaxData],
    [0x05, params.initialMaxStreamDataBidiLocal],
    [0x06, params.initialMaxStreamDataBidiRemote],
    [0x07, params.initialMaxStreamDataUni],
    [0x08, params.initialMaxStreamsBidi],
    [0x09, params.initialMaxStreamsUni],
  ];
  const fields: number[] = [];
  for (const [id, value] of entries) {
    // Like 0.0.6, omit zero values (zero is the default anyway).
    if (value === 0) continue;
    fields.push(id, varintSize(value), value);
  }
  const body = packFields(new Uint8Array(0), fields);
  return packFields(QX_TP_PREFIX, [body.length], body);
}

/**
 * Encode one frame as the body of one WebSocket message. Throws {@link FrameEncodeError} for
 * flow-control frames in `webtransport` framing and for STREAM payloads over
 * {@link MAX_STREAM_PAYLOAD_BYTES}.
 */
export function encodeFrame(frame: Frame, framing: Framing): Uint8Array {
  const qmux = framing === "qmux-00";
  switch (frame.type) {
    case "stream": {
      if (frame.data.length > MAX_STREAM_PAYLOAD_BYTES) {
        throw new FrameEncodeError(
          `STREAM payload of ${frame.data.length} bytes exceeds ${MAX_STREAM_PAYLOAD_BYTES}; chunk it`,
        );
      }
      if (!qmux) {
        const type = FrameType.STREAM | (frame.fin ? FrameType.STREAM_FIN_BIT : 0);
        return packFields(typePrefix(type), [frame.id], frame.data);
      }
      // 0.0.6 ignores OFF and always sends LEN without OFF; do the same.
      const type = FrameType.STREAM | FrameType.STREAM_LEN_BIT | (frame.fin ? FrameType.STREAM_FIN_BIT : 0);
      return packFields(typePrefix(type), [frame.id, frame.data.length], frame.data);
    }
    case "reset_stream":
      return packFields(
        typePrefix(FrameType.RESET_STREAM),
        qmux ? [frame.id, frame.code, frame.finalSize] : [frame.id, frame.code],
      );
    case "stop_sending":
      return packFields(typePrefix(FrameType.STOP_SENDING), [frame.id, frame.code]);
    case "close": {
      const reason = reasonBytes(frame.reason);
      if (!qmux) {
        if (!frame.application) {
          throw new FrameEncodeError(
            "webtransport framing has no CONNECTION_CLOSE; send an application close",
          );
        }
        return packFields(typePrefix(FrameType.APPLICATION_CLOSE), [frame.code], reason);
      }
      const type = frame.application ? FrameType.APPLICATION_CLOSE : FrameType.CONNECTION_CLOSE;
      // 0.0.6 quirk: both close frames carry a frame-type varint (always 0) before the reason.
      return packFields(typePrefix(type), [frame.code, 0, reason.length], reason);
    }
  }
  if (!qmux) {
    throw new FrameEncodeError(`${frame.type} frames exist only in qmux-00 framing`);
  }
  switch (frame.type) {
    case "transport_parameters":
      return encodeTransportParameters(frame.params);
    case "max_data":
      return packFields(typePrefix(FrameType.MAX_DATA), [frame.max]);
    case "max_stream_data":
      return packFields(typePrefix(FrameType.MAX_STREAM_DATA), [frame.id, frame.max]);
    case "max_streams":
      return packFields(typePrefix(frame.bidi ? FrameType.MAX_STREAMS_BIDI : FrameType.MAX_STREAMS_UNI), [
        frame.max,
      ]);
    case "data_blocked":
      return packFields(typePrefix(FrameType.DATA_BLOCKED), [frame.limit]);
    case "stream_data_blocked":
      return packFields(typePrefix(FrameType.STREAM_DATA_BLOCKED), [frame.id, frame.limit]);
    case "streams_blocked":
      return packFields(
        typePrefix(frame.bidi ? FrameType.STREAMS_BLOCKED_BIDI : FrameType.STREAMS_BLOCKED_UNI),
        [frame.limit],
      );
  }
}

function decodeReason(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

function decodeWebTransport(message: Uint8Array): Frame {
  const cur = new BodyReader(message, "frame");
  const type = cur.u8("frame type");
  let frame: Frame;
  switch (type) {
    case FrameType.STREAM:
    case FrameType.STREAM | FrameType.STREAM_FIN_BIT:
      frame = {
        type: "stream",
        id: cur.varint("stream id"),
        data: new Uint8Array(0),
        fin: type === (FrameType.STREAM | FrameType.STREAM_FIN_BIT),
      };
      frame.data = cur.rest();
      return frame;
    case FrameType.RESET_STREAM:
      frame = {
        type: "reset_stream",
        id: cur.varint("stream id"),
        code: cur.clampedVarint("error code"),
        finalSize: 0,
      };
      break;
    case FrameType.STOP_SENDING:
      frame = { type: "stop_sending", id: cur.varint("stream id"), code: cur.clampedVarint("error code") };
      break;
    case FrameType.APPLICATION_CLOSE: {
      const code = cur.clampedVarint("close code");
      return { type: "close", code, reason: decodeReason(cur.rest()), application: true };
    }
    default:
      throw new FrameDecodeError(`unknown frame type ${hex(type)} in webtransport framing`);
  }
  if (cur.remaining > 0) {
    throw new FrameDecodeError(`${cur.remaining} trailing bytes after a ${frame.type} frame`);
  }
  return frame;
}

function decodeTransportParameters(body: Uint8Array): TransportParameters {
  const params: TransportParameters = {
    initialMaxData: 0,
    initialMaxStreamDataBidiLocal: 0,
    initialMaxStreamDataBidiRemote: 0,
    initialMaxStreamDataUni: 0,
    initialMaxStreamsBidi: 0,
    initialMaxStreamsUni: 0,
  };
  const cur = new BodyReader(body, "frame");
  while (cur.remaining > 0) {
    const id = cur.varint62("transport parameter id");
    const length = cur.varint("transport parameter length");
    const value = cur.bytes(length, `transport parameter ${hex(id)}`);
    if (id < 0x04n || id > 0x09n) continue; // unknown parameters are skipped
    if (length === 0) continue;
    const inner = new BodyReader(value, "frame");
    const parsed = inner.clampedVarint(`transport parameter ${hex(id)} value`);
    if (inner.remaining > 0) {
      throw new FrameDecodeError(
        `transport parameter ${hex(id)} has ${inner.remaining} bytes after its value`,
      );
    }
    switch (id) {
      case 0x04n:
        params.initialMaxData = parsed;
        break;
      case 0x05n:
        params.initialMaxStreamDataBidiLocal = parsed;
        break;
      case 0x06n:
        params.initialMaxStreamDataBidiRemote = parsed;
        break;
      case 0x07n:
        params.initialMaxStreamDataUni = parsed;
        break;
      case 0x08n:
        params.initialMaxStreamsBidi = parsed;
        break;
      case 0x09n:
        params.initialMaxStreamsUni = parsed;
        break;
    }
  }
  return params;
}

/** Decode one qmux-00 frame at the cursor; `null` for types that are ignored (DATAGRAM, unknown). */
function decodeQmuxFrame(cur: BodyReader): Frame | null {
  if (varintLength(cur.peekU8()!) === 8) {
    const type = cur.varint62("frame type");
    if (type !== QX_TRANSPORT_PARAMETERS_TYPE) {
      throw new FrameDecodeError(`unknown 8-byte frame type ${hex(type)}: cannot tell where it ends`);
    }
    const length = cur.varint("transport parameters length");
    return {
      type: "transport_parameters",
      params: decodeTransportParameters(cur.bytes(length, "transport parameters")),
    };
  }
  const type = cur.varint("frame type");
  if (type >= 0x08 && type <= 0x0f) {
    const id = cur.varint("stream id");
    const offset = type & FrameType.STREAM_OFF_BIT ? cur.varint("stream offset") : undefined;
    const data = type & FrameType.STREAM_LEN_BIT
      ? cur.bytes(cur.varint("stream data length"), "stream data")
      : cur.rest();
    const frame: Frame = { type: "stream", id, data, fin: (type & FrameType.STREAM_FIN_BIT) !== 0 };
    if (offset !== undefined) frame.offset = offset;
    return frame;
  }
  switch (type) {
    case FrameType.RESET_STREAM:
      return {
        type: "reset_stream",
        id: cur.varint("stream id"),
        code: cur.clampedVarint("error code"),
        finalSize: cur.clampedVarint("final size"),
      };
    case FrameType.STOP_SENDING:
      return { type: "stop_sending", id: cur.varint("stream id"), code: cur.clampedVarint("error code") };
    case FrameType.MAX_DATA:
      return { type: "max_data", max: cur.clampedVarint("maximum data") };
    case FrameType.MAX_STREAM_DATA:
      return {
        type: "max_stream_data",
        id: cur.varint("stream id"),
        max: cur.clampedVarint("maximum stream data"),
      };
    case FrameType.MAX_STREAMS_BIDI:
    case FrameType.MAX_STREAMS_UNI:
      return {
        type: "max_streams",
        bidi: type === FrameType.MAX_STREAMS_BIDI,
        max: cur.clampedVarint("maximum streams"),
      };
    case FrameType.DATA_BLOCKED:
      return { type: "data_blocked", limit: cur.clampedVarint("data limit") };
    case FrameType.STREAM_DATA_BLOCKED:
      return {
        type: "stream_data_blocked",
        id: cur.varint("stream id"),
        limit: cur.clampedVarint("stream data limit"),
      };
    case FrameType.STREAMS_BLOCKED_BIDI:
    case FrameType.STREAMS_BLOCKED_UNI:
      return {
        type: "streams_blocked",
        bidi: type === FrameType.STREAMS_BLOCKED_BIDI,
        limit: cur.clampedVarint("stream limit"),
      };
    case FrameType.CONNECTION_CLOSE:
    case FrameType.APPLICATION_CLOSE: {
      const code = cur.clampedVarint("close code");
      cur.clampedVarint("frame type field");
      const reason = decodeReason(cur.bytes(cur.varint("reason length"), "close reason"));
      return { type: "close", code, reason, application: type === FrameType.APPLICATION_CLOSE };
    }
    case FrameType.DATAGRAM:
      cur.rest();
      return null;
    case FrameType.DATAGRAM_LEN:
      cur.bytes(cur.varint("datagram length"), "datagram");
      return null;
    default:
      // Unknown frame types are ignored in this mode; their length is unknown, so skip the message.
      cur.rest();
      return null;
  }
}

/**
 * Decode every frame in one WebSocket message. `webtransport` framing yields exactly one frame;
 * `qmux-00` yields zero or more (ignored types are dropped). Throws {@link FrameDecodeError} on an
 * empty message, a truncated field, an unknown `webtransport` type or trailing bytes.
 */
export function decodeFrames(message: Uint8Array, framing: Framing): Frame[] {
  if (message.length === 0) throw new FrameDecodeError("empty WebSocket message (expected one frame)");
  try {
    if (framing === "webtransport") return [decodeWebTransport(message)];
    const cur = new BodyReader(message, "frame");
    const frames: Frame[] = [];
    while (cur.remaining > 0) {
      const frame = decodeQmuxFrame(cur);
      if (frame) frames.push(frame);
    }
    return frames;
  } catch (error) {
    // A truncated or oversized field, reported by the codec's reader.
    if (error instanceof DecodeError) throw new FrameDecodeError(error.message);
    throw error;
  }
}
