/**
 * Frame codecs for the WebSocket framings (docs/protocol.md §3.4–3.5):
 *
 * - `webtransport`: a raw type byte (`0x08`/`0x09` STREAM, `0x04` RESET_STREAM, `0x05` STOP_SENDING,
 *   `0x1d` APPLICATION_CLOSE), no flow control;
 * - `qmux-00` (draft-ietf-quic-qmux-00): QUIC v1 frames with a varint type, QX_TRANSPORT_PARAMETERS
 *   first, full flow control, and the `@moq/qmux` 0.0.6 quirk that APPLICATION_CLOSE carries a
 *   frame-type varint (decoded in either form, since `@moq/qmux` 0.3 omits it);
 * - `qmux-01` / `qmux-02` (draft-ietf-quic-qmux-01/-02): one WebSocket message is one *record* of
 *   one or more frames; adds PADDING, QX_PING, DATAGRAM, and the `max_idle_timeout`,
 *   `max_datagram_frame_size`, `max_record_size` and `reset_stream_at` transport parameters; closes
 *   follow RFC 9000 §19.19 exactly. `qmux-02` also has RESET_STREAM_AT (draft-ietf-quic-reliable-
 *   stream-reset).
 *
 * Decoding a qmux message returns every frame it holds; a `webtransport` message holds one frame.
 *
 * @module
 */

import { BodyReader, DecodeError } from "../../codec/mod.ts";
import { putVarint, putVarint62, varintLength, varintSize } from "../../codec/mod.ts";
import { truncateUtf8 } from "../../codec/mod.ts";

/** The frame layout negotiated through the WebSocket subprotocol. */
export type Framing = "webtransport" | "qmux-00" | "qmux-01" | "qmux-02";

/** Whether `framing` is a QMux draft (QUIC v1 frames, transport parameters, flow control). */
export function isQmuxFraming(framing: Framing): boolean {
  return framing !== "webtransport";
}

/** Whether `framing` packs frames into records (qmux-01 and later): PADDING, QX_PING, idle timeout. */
export function usesRecords(framing: Framing): boolean {
  return framing === "qmux-01" || framing === "qmux-02";
}

/**
 * Default and minimum `max_record_size` of the record framings (draft-ietf-quic-qmux-01): the
 * largest record (WebSocket message) a peer must accept before it announced more.
 */
export const DEFAULT_MAX_RECORD_SIZE_BYTES = 16_382;

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
  PADDING: 0x00,
  RESET_STREAM_AT: 0x24,
} as const;

/** QX_PING request frame type (qmux-01+), an 8-byte varint. */
export const QX_PING_REQUEST_TYPE = 0x348c67529ef8c7bdn;
/** QX_PING response frame type (qmux-01+), an 8-byte varint. */
export const QX_PING_RESPONSE_TYPE = 0x348c67529ef8c7ben;

/** Transport parameter ids beyond RFC 9000 §18.2's 0x04–0x09 that QMux peers exchange. */
export const TransportParameterId = {
  MAX_IDLE_TIMEOUT: 0x01n,
  MAX_DATAGRAM_FRAME_SIZE: 0x20n,
  RESET_STREAM_AT: 0x1dn,
  MAX_RECORD_SIZE: 0x0571c59429cd0845n,
  /** In-band ALPN: forbidden over WebSocket (the subprotocol carries it). */
  APPLICATION_PROTOCOLS: 0x3d4f9c2a8b1e6075n,
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
  /** 0x01 max_idle_timeout in ms (record framings); absent/0 = no idle timeout from this side. */
  maxIdleTimeoutMs?: number;
  /** 0x20 max_datagram_frame_size (record framings); absent/0 = no DATAGRAM frames accepted. */
  maxDatagramFrameSize?: number;
  /** max_record_size (record framings); absent = {@link DEFAULT_MAX_RECORD_SIZE_BYTES}. */
  maxRecordSize?: number;
  /** 0x1d reset_stream_at (empty value): the sender accepts RESET_STREAM_AT frames. */
  resetStreamAt?: boolean;
}

/** One decoded or to-be-encoded frame. Limits and offsets above 2^53−1 are clamped on decode. */
export type Frame =
  | { type: "stream"; id: number; offset?: number; data: Uint8Array; fin: boolean }
  | { type: "reset_stream"; id: number; code: number; finalSize: number }
  | { type: "reset_stream_at"; id: number; code: number; finalSize: number; reliableSize: number }
  | { type: "stop_sending"; id: number; code: number }
  | { type: "close"; code: number; reason: string; application: boolean }
  | { type: "transport_parameters"; params: TransportParameters }
  | { type: "max_data"; max: number }
  | { type: "max_stream_data"; id: number; max: number }
  | { type: "max_streams"; bidi: boolean; max: number }
  | { type: "data_blocked"; limit: number }
  | { type: "stream_data_blocked"; id: number; limit: number }
  | { type: "streams_blocked"; bidi: boolean; limit: number }
  | { type: "padding"; length: number }
  | { type: "ping"; response: boolean; sequence: number }
  | { type: "datagram"; data: Uint8Array };

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
function packFields(prefix: Uint8Array, fields: Array<number | bigint>, tail?: Uint8Array): Uint8Array {
  let size = prefix.length + (tail?.length ?? 0);
  for (const field of fields) size += varintSize(field);
  const out = new Uint8Array(size);
  out.set(prefix, 0);
  let pos = prefix.length;
  for (const field of fields) {
    pos = typeof field === "bigint" ? putVarint62(out, pos, field) : putVarint(out, pos, field);
  }
  if (tail) out.set(tail, pos);
  return out;
}

const TYPE_PREFIX: Record<number, Uint8Array> = {};
function typePrefix(type: number): Uint8Array {
  // Every frame type we send is < 0x40, so its varint is the single byte itself in both framings.
  return TYPE_PREFIX[type] ??= Uint8Array.of(type);
}

const QX_TP_PREFIX = Uint8Array.of(0xff, 0x51, 0x53, 0x30, 0x0d, 0x0a, 0x0d, 0x0a);

/** Append one `id, length, value` transport parameter with a varint value. */
function pushParam(fields: Array<number | bigint>, id: number | bigint, value: number): void {
  fields.push(id, varintSize(value), value);
}

function encodeTransportParameters(params: TransportParameters): Uint8Array {
  const entries: Array<[number, number]> = [
    [0x04, params.initialMaxData],
    [0x05, params.initialMaxStreamDataBidiLocal],
    [0x06, params.initialMaxStreamDataBidiRemote],
    [0x07, params.initialMaxStreamDataUni],
    [0x08, params.initialMaxStreamsBidi],
    [0x09, params.initialMaxStreamsUni],
  ];
  const fields: Array<number | bigint> = [];
  // Like 0.0.6 and 0.3.3, omit zero values (zero is the default anyway).
  if (params.maxIdleTimeoutMs) {
    pushParam(fields, TransportParameterId.MAX_IDLE_TIMEOUT, params.maxIdleTimeoutMs);
  }
  for (const [id, value] of entries) if (value !== 0) pushParam(fields, id, value);
  if (params.maxDatagramFrameSize) {
    pushParam(fields, TransportParameterId.MAX_DATAGRAM_FRAME_SIZE, params.maxDatagramFrameSize);
  }
  if (params.maxRecordSize) pushParam(fields, TransportParameterId.MAX_RECORD_SIZE, params.maxRecordSize);
  if (params.resetStreamAt) fields.push(TransportParameterId.RESET_STREAM_AT, 0);
  const body = packFields(new Uint8Array(0), fields);
  return packFields(QX_TP_PREFIX, [body.length], body);
}

/** Encode an 8-byte-type frame (QX_PING) with one varint field. */
function encodeLongType(type: bigint, value: number): Uint8Array {
  const out = new Uint8Array(8 + varintSize(value));
  putVarint(out, putVarint62(out, 0, type), value);
  return out;
}

/**
 * Encode one frame. In `webtransport` and `qmux-00` framing the result is the body of one
 * WebSocket message; in the record framings it may be concatenated with others into one record.
 * Throws {@link FrameEncodeError} for frames the framing does not have and for STREAM payloads
 * over {@link MAX_STREAM_PAYLOAD_BYTES}.
 */
export function encodeFrame(frame: Frame, framing: Framing): Uint8Array {
  const qmux = isQmuxFraming(framing);
  const records = usesRecords(framing);
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
      // 0.0.6 ignores OFF and always sends LEN without OFF; do the same (0.3.3 accepts it).
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
      if (frame.application && records) {
        // RFC 9000 §19.19: APPLICATION_CLOSE has no frame-type field.
        return packFields(typePrefix(FrameType.APPLICATION_CLOSE), [frame.code, reason.length], reason);
      }
      const type = frame.application ? FrameType.APPLICATION_CLOSE : FrameType.CONNECTION_CLOSE;
      // CONNECTION_CLOSE carries the frame type that caused it (always 0 here); in qmux-00 so does
      // APPLICATION_CLOSE (the 0.0.6 quirk; 0.3.3 still reads the code from it).
      return packFields(typePrefix(type), [frame.code, 0, reason.length], reason);
    }
  }
  if (!qmux) {
    throw new FrameEncodeError(`${frame.type} frames exist only in qmux framings`);
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
  if (!records) {
    throw new FrameEncodeError(`${frame.type} frames exist only in the record framings (qmux-01+)`);
  }
  switch (frame.type) {
    case "padding":
      if (frame.length < 1) throw new FrameEncodeError("PADDING needs a length of at least 1 byte");
      return new Uint8Array(frame.length);
    case "ping":
      return encodeLongType(frame.response ? QX_PING_RESPONSE_TYPE : QX_PING_REQUEST_TYPE, frame.sequence);
    case "datagram":
      return packFields(typePrefix(FrameType.DATAGRAM_LEN), [frame.data.length], frame.data);
    case "reset_stream_at":
      if (framing !== "qmux-02") throw new FrameEncodeError("RESET_STREAM_AT exists only in qmux-02");
      if (frame.reliableSize > frame.finalSize) {
        throw new FrameEncodeError("RESET_STREAM_AT reliable size must not exceed the final size");
      }
      return packFields(typePrefix(FrameType.RESET_STREAM_AT), [
        frame.id,
        frame.code,
        frame.finalSize,
        frame.reliableSize,
      ]);
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

/** The parameter ids whose repetition is an error (unknown ids may repeat, RFC 9000 §18). */
const RECOGNIZED_PARAMETER_IDS = new Set<bigint>([
  0x01n,
  0x04n,
  0x05n,
  0x06n,
  0x07n,
  0x08n,
  0x09n,
  TransportParameterId.MAX_DATAGRAM_FRAME_SIZE,
  TransportParameterId.RESET_STREAM_AT,
  TransportParameterId.MAX_RECORD_SIZE,
  TransportParameterId.APPLICATION_PROTOCOLS,
]);

/** Whether `id` is a QUIC v1 transport parameter QMux forbids (draft-ietf-quic-qmux-01). */
function isForbiddenParameter(id: bigint): boolean {
  return id === 0x00n || id === 0x02n || id === 0x03n || (id >= 0x0an && id <= 0x10n);
}

/**
 * Decode a QX_TRANSPORT_PARAMETERS body. `strict` (the record framings) rejects repeated
 * recognized ids, forbidden QUIC v1 ids, `application_protocols`, a non-empty `reset_stream_at`
 * and a `max_record_size` below the minimum; qmux-00 stays as lenient as 0.0.6.
 */
function decodeTransportParameters(body: Uint8Array, strict: boolean): TransportParameters {
  const params: TransportParameters = {
    initialMaxData: 0,
    initialMaxStreamDataBidiLocal: 0,
    initialMaxStreamDataBidiRemote: 0,
    initialMaxStreamDataUni: 0,
    initialMaxStreamsBidi: 0,
    initialMaxStreamsUni: 0,
  };
  const seen = new Set<bigint>();
  const cur = new BodyReader(body, "frame");
  while (cur.remaining > 0) {
    const id = cur.varint62("transport parameter id");
    const length = cur.varint("transport parameter length");
    const value = cur.bytes(length, `transport parameter ${hex(id)}`);
    if (strict) {
      if (RECOGNIZED_PARAMETER_IDS.has(id)) {
        if (seen.has(id)) throw new FrameDecodeError(`transport parameter ${hex(id)} appears twice`);
        seen.add(id);
      }
      if (isForbiddenParameter(id)) {
        throw new FrameDecodeError(`transport parameter ${hex(id)} is a QUIC v1 parameter QMux forbids`);
      }
      if (id === TransportParameterId.APPLICATION_PROTOCOLS) {
        throw new FrameDecodeError(
          "application_protocols transport parameter over WebSocket (the subprotocol carries the ALPN)",
        );
      }
      if (id === TransportParameterId.RESET_STREAM_AT) {
        if (length !== 0) throw new FrameDecodeError("reset_stream_at transport parameter must be empty");
        params.resetStreamAt = true;
        continue;
      }
    }
    const known = (id >= 0x04n && id <= 0x09n) ||
      (strict && (id === TransportParameterId.MAX_IDLE_TIMEOUT ||
        id === TransportParameterId.MAX_DATAGRAM_FRAME_SIZE || id === TransportParameterId.MAX_RECORD_SIZE));
    if (!known) continue; // unknown parameters are skipped
    if (length === 0 && !strict) continue;
    const inner = new BodyReader(value, "frame");
    const parsed = inner.clampedVarint(`transport parameter ${hex(id)} value`);
    if (inner.remaining > 0) {
      throw new FrameDecodeError(
        `transport parameter ${hex(id)} has ${inner.remaining} bytes after its value`,
      );
    }
    switch (id) {
      case 0x01n:
        params.maxIdleTimeoutMs = parsed;
        break;
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
      case TransportParameterId.MAX_DATAGRAM_FRAME_SIZE:
        params.maxDatagramFrameSize = parsed;
        break;
      case TransportParameterId.MAX_RECORD_SIZE:
        if (parsed < DEFAULT_MAX_RECORD_SIZE_BYTES) {
          throw new FrameDecodeError(
            `max_record_size ${parsed} is below the minimum ${DEFAULT_MAX_RECORD_SIZE_BYTES}`,
          );
        }
        params.maxRecordSize = parsed;
        break;
    }
  }
  return params;
}

/**
 * Decode a qmux-00 APPLICATION_CLOSE after its type: the 0.0.6 form carries a frame-type varint
 * before the reason length, the RFC 9000 form (0.3.3) does not. The 0.0.6 form wins when it
 * consumes the message exactly; otherwise the RFC form is tried; with neither exact, the 0.0.6
 * form's reading (or its error) stands.
 */
function decodeQmux00ApplicationClose(cur: BodyReader, message: Uint8Array): Frame {
  const code = cur.clampedVarint("close code");
  const tail = message.subarray(cur.position);
  const read = (withFrameType: boolean): { reason: string; used: number } => {
    const inner = new BodyReader(tail, "frame");
    if (withFrameType) inner.clampedVarint("frame type field");
    const reason = decodeReason(inner.bytes(inner.varint("reason length"), "close reason"));
    return { reason, used: inner.position };
  };
  let quirk: { reason: string; used: number } | null = null;
  let quirkError: unknown = null;
  try {
    quirk = read(true);
  } catch (error) {
    quirkError = error;
  }
  let chosen = quirk;
  if (!quirk || quirk.used !== tail.length) {
    try {
      const plain = read(false);
      if (plain.used === tail.length) chosen = plain;
    } catch {
      // Not the RFC form either.
    }
  }
  if (!chosen) throw quirkError;
  cur.bytes(chosen.used, "close reason");
  return { type: "close", code, reason: chosen.reason, application: true };
}

/**
 * Decode one qmux frame at the cursor; `null` for frames that carry nothing to apply (PADDING,
 * and in qmux-00 DATAGRAM and unknown types, which end the message).
 */
function decodeQmuxFrame(cur: BodyReader, message: Uint8Array, framing: Framing): Frame | null {
  const records = usesRecords(framing);
  if (varintLength(cur.peekU8()!) === 8) {
    const type = cur.varint62("frame type");
    switch (type) {
      case QX_TRANSPORT_PARAMETERS_TYPE: {
        const length = cur.varint("transport parameters length");
        return {
          type: "transport_parameters",
          params: decodeTransportParameters(cur.bytes(length, "transport parameters"), records),
        };
      }
      case QX_PING_REQUEST_TYPE:
      case QX_PING_RESPONSE_TYPE:
        return {
          type: "ping",
          response: type === QX_PING_RESPONSE_TYPE,
          sequence: cur.varint("ping sequence"),
        };
    }
    throw new FrameDecodeError(`unknown 8-byte frame type ${hex(type)}: cannot tell where it ends`);
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
    case FrameType.PADDING:
      return null;
    case FrameType.RESET_STREAM:
      return {
        type: "reset_stream",
        id: cur.varint("stream id"),
        code: cur.clampedVarint("error code"),
        finalSize: cur.clampedVarint("final size"),
      };
    case FrameType.RESET_STREAM_AT: {
      const frame: Frame = {
        type: "reset_stream_at",
        id: cur.varint("stream id"),
        code: cur.clampedVarint("error code"),
        finalSize: cur.clampedVarint("final size"),
        reliableSize: cur.clampedVarint("reliable size"),
      };
      if (frame.reliableSize > frame.finalSize) {
        throw new FrameDecodeError(
          `RESET_STREAM_AT reliable size ${frame.reliableSize} exceeds its final size ${frame.finalSize}`,
        );
      }
      return frame;
    }
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
    case FrameType.APPLICATION_CLOSE:
      if (!records) return decodeQmux00ApplicationClose(cur, message);
      {
        const code = cur.clampedVarint("close code");
        const reason = decodeReason(cur.bytes(cur.varint("reason length"), "close reason"));
        return { type: "close", code, reason, application: true };
      }
    case FrameType.CONNECTION_CLOSE: {
      const code = cur.clampedVarint("close code");
      cur.clampedVarint("frame type field");
      const reason = decodeReason(cur.bytes(cur.varint("reason length"), "close reason"));
      return { type: "close", code, reason, application: false };
    }
    case FrameType.DATAGRAM:
    case FrameType.DATAGRAM_LEN: {
      const data = type === FrameType.DATAGRAM_LEN
        ? cur.bytes(cur.varint("datagram length"), "datagram")
        : cur.rest();
      return records ? { type: "datagram", data } : null;
    }
    default:
      if (records) {
        throw new FrameDecodeError(`unknown frame type ${hex(type)} in a ${framing} record`);
      }
      // Unknown frame types are ignored in qmux-00; their length is unknown, so skip the message.
      cur.rest();
      return null;
  }
}

/**
 * Decode every frame in one WebSocket message. `webtransport` framing yields exactly one frame;
 * the qmux framings yield zero or more (PADDING and ignored types are dropped). Throws
 * {@link FrameDecodeError} on an empty message, a truncated field, an unknown type where types
 * must be known (`webtransport`, records) or trailing bytes.
 */
export function decodeFrames(message: Uint8Array, framing: Framing): Frame[] {
  if (message.length === 0) throw new FrameDecodeError("empty WebSocket message (expected one frame)");
  try {
    if (framing === "webtransport") return [decodeWebTransport(message)];
    const cur = new BodyReader(message, "frame");
    const frames: Frame[] = [];
    while (cur.remaining > 0) {
      const frame = decodeQmuxFrame(cur, message, framing);
      if (frame) frames.push(frame);
    }
    return frames;
  } catch (error) {
    // A truncated or oversized field, reported by the codec's reader.
    if (error instanceof DecodeError) throw new FrameDecodeError(error.message);
    throw error;
  }
}
