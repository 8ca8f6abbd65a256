/**
 * Reading moq-transport integers, control frames and objects from a live stream, in the negotiated
 * draft's encoding (QUIC varints through draft-16, leading-ones varints from draft-17 §1.4.1).
 *
 * @module
 */

import { BoundsError, DecodeError, putVarint, varintLength, varintSize } from "../../codec/mod.ts";
import type { StreamReader } from "../../transport/mod.ts";
import { type ControlMessage, decodeControl, MAX_CONTROL_BODY_BYTES } from "./control.ts";
import { type Draft, usesLeadingOnes } from "./draft.ts";
import { IetfReader, leadingOnesLength } from "./wire.ts";

/** One integer in `draft`'s varint encoding. */
export async function readDraftVarint(reader: StreamReader, draft: Draft): Promise<number> {
  if (!usesLeadingOnes(draft)) return await reader.varint();
  const first = await reader.u8();
  const size = leadingOnesLength(first);
  if (size === 1) return first;
  const rest = await reader.exact(size - 1);
  const bytes = new Uint8Array(size);
  bytes[0] = first;
  bytes.set(rest, 1);
  return new IetfReader(bytes, draft, "stream").varint();
}

/** One control frame's type and body (`Type (i) || Length (16) || body`). */
export async function readControlRaw(
  reader: StreamReader,
  draft: Draft,
): Promise<{ type: number; body: Uint8Array }> {
  const type = await readDraftVarint(reader, draft);
  const len = (await reader.u8() << 8) | await reader.u8();
  if (len > MAX_CONTROL_BODY_BYTES) throw new BoundsError(`control message of ${len} bytes is too large`);
  return { type, body: await reader.exact(len) };
}

/** The next control message, or null at a clean end of the stream between messages. */
export async function readControl(reader: StreamReader, draft: Draft): Promise<ControlMessage | null> {
  if (await reader.done()) return null;
  const { type, body } = await readControlRaw(reader, draft);
  return decodeControl(type, body, draft);
}

/** One object read from a subgroup stream, its payload kept as an encoded moq-lite frame. */
export interface IngestObject {
  objectId: number;
  /** `vi53 size || payload` (the relay's cached frame form); absent for a status-only object. */
  frame?: Uint8Array;
  /** The object status when the payload was empty. */
  status?: number;
  /** The extension headers, as sent (a copy), when there were any. */
  ext?: Uint8Array;
}

/**
 * Read one object (after the previous one, `prev` its id) from a subgroup stream whose header said
 * whether objects carry extension headers. Extension headers are skipped (the relay keeps payloads).
 */
export async function readObject(
  reader: StreamReader,
  draft: Draft,
  prev: number | undefined,
  extensions: boolean,
  maxPayload: number,
): Promise<IngestObject> {
  const delta = await readDraftVarint(reader, draft);
  const objectId = prev === undefined ? delta : prev + 1 + delta;
  if (!Number.isSafeInteger(objectId)) throw new DecodeError("object id overflows 2^53-1");
  let ext: Uint8Array | undefined;
  if (extensions) {
    const len = await readDraftVarint(reader, draft);
    if (len > 8192) throw new BoundsError(`object extension headers of ${len} bytes exceed 8192`);
    if (len > 0) ext = (await reader.exact(len)).slice();
  }
  const len = await readDraftVarint(reader, draft);
  if (len > maxPayload) throw new BoundsError(`object of ${len} bytes exceeds the ${maxPayload}-byte limit`);
  if (len === 0) {
    const status = await readDraftVarint(reader, draft);
    return { objectId, status, ext };
  }
  const prefix = varintSize(len);
  const frame = new Uint8Array(prefix + len);
  putVarint(frame, 0, len);
  frame.set(await reader.exact(len), prefix);
  return { objectId, frame, ext };
}

/** The payload length and prefix size of a cached moq-lite frame (`vi53 size || payload`). */
export function framePayload(frame: Uint8Array): { prefix: number; length: number } {
  const prefix = varintLength(frame[0]);
  return { prefix, length: frame.length - prefix };
}
