/**
 * In-band application protocol negotiation for qmux over a plain byte stream, where no TLS ALPN
 * or WebSocket subprotocol exists: each side lists its protocols in the `application_protocols`
 * transport parameter (id `0x3d4f9c2a8b1e6075`, a list of varint-length-prefixed UTF-8 names) of
 * its QX_TRANSPORT_PARAMETERS frame, and the agreed protocol is the first server entry the client
 * also offers. The qmux session code rejects that parameter (it is forbidden over WebSocket), so
 * it is added to the first outgoing record and removed from the first incoming one here.
 *
 * @module
 */

import {
  concatBytes,
  encodeTlv,
  encodeVarint,
  getVarint,
  getVarint62,
  varintLength,
} from "../../codec/mod.ts";
import { QX_TRANSPORT_PARAMETERS_TYPE, TransportParameterId } from "../websocket/mod.ts";
import { RecordStreamError } from "./_record_socket.ts";

/** Most protocol names a peer may list. */
export const MAX_OFFERED_PROTOCOLS = 32;
const MAX_PROTOCOL_NAME_BYTES = 255;

interface Span {
  /** Offset of the parameters inside the record. */
  paramsStart: number;
  /** Offset just past them. */
  paramsEnd: number;
  /** Offset of the frame's length field. */
  lengthStart: number;
}

function varintAt(bytes: Uint8Array, offset: number): { value: number; next: number } {
  if (offset >= bytes.length) throw new RecordStreamError("truncated transport parameters");
  const width = varintLength(bytes[offset]);
  if (offset + width > bytes.length) throw new RecordStreamError("truncated transport parameters");
  return { value: getVarint(bytes, offset), next: offset + width };
}

/** Locate the QX_TRANSPORT_PARAMETERS frame that must open the first record. */
function transportParameters(record: Uint8Array): Span {
  if (record.length === 0) throw new RecordStreamError("the first record is empty");
  const width = varintLength(record[0]);
  if (width > record.length || getVarint62(record, 0) !== QX_TRANSPORT_PARAMETERS_TYPE) {
    throw new RecordStreamError("the first qmux frame is not QX_TRANSPORT_PARAMETERS");
  }
  const length = varintAt(record, width);
  if (length.next + length.value > record.length) {
    throw new RecordStreamError("truncated transport parameters");
  }
  return { lengthStart: width, paramsStart: length.next, paramsEnd: length.next + length.value };
}

/**
 * Remove `application_protocols` from the first record's transport parameters.
 * @returns the record without it, and the listed protocols (empty when absent).
 */
export function takeProtocols(record: Uint8Array): { record: Uint8Array; protocols: string[] } {
  const span = transportParameters(record);
  const kept: Uint8Array[] = [];
  const protocols: string[] = [];
  let offset = span.paramsStart;
  while (offset < span.paramsEnd) {
    const idStart = offset;
    const idWidth = varintLength(record[offset]);
    if (offset + idWidth > span.paramsEnd) throw new RecordStreamError("truncated transport parameters");
    const id = getVarint62(record, offset);
    const length = varintAt(record, offset + idWidth);
    const end = length.next + length.value;
    if (end > span.paramsEnd) throw new RecordStreamError("truncated transport parameters");
    if (id === TransportParameterId.APPLICATION_PROTOCOLS) {
      if (protocols.length > 0) throw new RecordStreamError("application_protocols is repeated");
      let p = length.next;
      while (p < end) {
        const name = varintAt(record, p);
        if (name.value > MAX_PROTOCOL_NAME_BYTES || name.next + name.value > end) {
          throw new RecordStreamError("malformed application_protocols");
        }
        if (protocols.length >= MAX_OFFERED_PROTOCOLS) {
          throw new RecordStreamError(`more than ${MAX_OFFERED_PROTOCOLS} application protocols offered`);
        }
        protocols.push(
          new TextDecoder("utf-8", { fatal: true }).decode(
            record.subarray(name.next, name.next + name.value),
          ),
        );
        p = name.next + name.value;
      }
      if (protocols.length === 0) throw new RecordStreamError("empty application_protocols");
    } else {
      kept.push(record.subarray(idStart, end));
    }
    offset = end;
  }
  const params = concatBytes(kept);
  return {
    record: concatBytes([
      record.subarray(0, span.lengthStart),
      encodeVarint(params.length),
      params,
      record.subarray(span.paramsEnd),
    ]),
    protocols,
  };
}

/** Add `application_protocols = protocols` to the first record's transport parameters. */
export function addProtocols(record: Uint8Array, protocols: readonly string[]): Uint8Array {
  const span = transportParameters(record);
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const value = concatBytes(names.flatMap((n) => [encodeVarint(n.length), n]));
  const param = encodeTlv(TransportParameterId.APPLICATION_PROTOCOLS, value);
  const params = concatBytes([record.subarray(span.paramsStart, span.paramsEnd), param]);
  return concatBytes([
    record.subarray(0, span.lengthStart),
    encodeVarint(params.length),
    params,
    record.subarray(span.paramsEnd),
  ]);
}

/** The first of `server` (preference order) that `client` also lists. */
export function agreeProtocol(server: readonly string[], client: readonly string[]): string | undefined {
  return server.find((p) => client.includes(p));
}
