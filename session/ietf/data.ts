/**
 * moq-transport data plane, drafts 14–20 (draft-ietf-moq-transport-14 §10 … -20): unidirectional
 * stream headers (SUBGROUP_HEADER in all its type variants, FETCH_HEADER), the objects on them
 * (delta-coded object ids, extension headers, object status) and OBJECT_DATAGRAM / status datagrams.
 *
 * Streams arrive in pieces: the `read*` functions take the bytes buffered so far and return null
 * when they end inside the item (feed more and retry); malformed input throws {@link DecodeError}.
 *
 * @module
 */

import { BoundsError, DecodeError } from "../../codec/mod.ts";
import type { Draft } from "./draft.ts";
import {
  EncodeError,
  IetfReader,
  IetfWriter,
  MAX_VALUE_BYTES,
  type Param,
  readProperties,
  writeProperties,
} from "./wire.ts";

/** Default cap on one object's payload, in bytes (callers pass their own budget). */
export const MAX_OBJECT_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** FETCH_HEADER stream type. */
export const FETCH_HEADER_TYPE = 0x05;

/** Object status values (draft-ietf-moq-transport-14 §10.2.1.1; DoesNotExist only through 16). */
export const ObjectStatus = {
  Normal: 0x0,
  DoesNotExist: 0x1,
  EndOfGroup: 0x3,
  EndOfTrack: 0x4,
} as const;

/** Whether `status` is an object status `draft` assigns (DoesNotExist is gone from 17). */
export function isObjectStatus(status: number, draft: Draft): boolean {
  return status === 0x0 || status === 0x3 || status === 0x4 || (status === 0x1 && draft <= 16);
}

/** Where a subgroup header gets its Subgroup ID. */
export type SubgroupIdMode = "zero" | "firstObject" | "explicit";

/** A decoded SUBGROUP_HEADER. */
export interface SubgroupHeader {
  kind: "subgroup";
  trackAlias: number;
  group: number;
  subgroupIdMode: SubgroupIdMode;
  /** Present when `subgroupIdMode` is `explicit`. */
  subgroup?: number;
  /** Absent in the 0x30-range types: the publisher priority is inherited. */
  publisherPriority?: number;
  /** Objects carry an extension headers length. */
  extensions: boolean;
  /** The subgroup contains the group's last object. */
  endOfGroup: boolean;
  /** The 0x40 type bit of draft-18+; always false before. */
  firstObjectBit: boolean;
}

/** A decoded FETCH_HEADER. */
export interface FetchHeader {
  kind: "fetch";
  requestId: number;
}

/** A unidirectional data stream header. */
export type StreamHeader = SubgroupHeader | FetchHeader;

/** The SUBGROUP_HEADER stream type for a header's flags in `draft`. */
export function subgroupType(h: SubgroupHeader, draft: Draft): number {
  if (h.publisherPriority === undefined && draft < 15) {
    throw new EncodeError(`draft-14 subgroup headers always carry a publisher priority`);
  }
  let t = h.publisherPriority === undefined ? 0x30 : 0x10;
  if (h.extensions) t |= 0x01;
  if (h.subgroupIdMode === "firstObject") t |= 0x02;
  if (h.subgroupIdMode === "explicit") t |= 0x04;
  if (h.endOfGroup) t |= 0x08;
  if (h.firstObjectBit) {
    if (draft < 18) throw new EncodeError(`the first-object type bit needs draft-18`);
    t |= 0x40;
  }
  return t;
}

/** Whether `type` is a SUBGROUP_HEADER stream type in `draft` (the 0x30 range arrives in 15). */
export function isSubgroupType(type: number, draft: Draft): boolean {
  const t = draft >= 18 ? type & ~0x40 : type;
  return ((t >= 0x10 && t <= 0x1d) || (draft >= 15 && t >= 0x30 && t <= 0x3d)) && (t & 0x06) !== 0x06;
}

/** Encode a stream header (stream type then fields). */
export function encodeStreamHeader(h: StreamHeader, draft: Draft): Uint8Array {
  const w = new IetfWriter(draft, 24);
  if (h.kind === "fetch") return w.varint(FETCH_HEADER_TYPE).varint(h.requestId).finish();
  if ((h.subgroupIdMode === "explicit") !== (h.subgroup !== undefined)) {
    throw new EncodeError(`give a subgroup id exactly when subgroupIdMode is explicit`);
  }
  w.varint(subgroupType(h, draft)).varint(h.trackAlias).varint(h.group);
  if (h.subgroup !== undefined) w.varint(h.subgroup);
  if (h.publisherPriority !== undefined) w.u8(h.publisherPriority);
  return w.finish();
}

function truncated(e: unknown): boolean {
  return e instanceof DecodeError && !(e instanceof BoundsError) && /truncated/.test(e.message);
}

/** Run `f` over `buf`; null when it ran out of bytes, else the value and bytes used. */
function attempt<T>(buf: Uint8Array, draft: Draft, unit: string, f: (r: IetfReader) => T): {
  value: T;
  size: number;
} | null {
  const r = new IetfReader(buf, draft, unit);
  try {
    const value = f(r);
    return { value, size: r.position };
  } catch (e) {
    if (truncated(e)) return null;
    throw e;
  }
}

/**
 * Read a stream header from the start of a unidirectional stream; null when `buf` is too short.
 * Unknown stream types throw {@link DecodeError}.
 */
export function readStreamHeader(
  buf: Uint8Array,
  draft: Draft,
): { header: StreamHeader; size: number } | null {
  const res = attempt(buf, draft, "stream header", (r) => decodeStreamHeader(r));
  return res && { header: res.value, size: res.size };
}

function decodeStreamHeader(r: IetfReader): StreamHeader {
  const type = r.varint("stream type");
  if (type === FETCH_HEADER_TYPE) return { kind: "fetch", requestId: r.varint("request id") };
  if (!isSubgroupType(type, r.draft)) {
    throw new DecodeError(`stream type 0x${type.toString(16)} is not a data stream in draft-${r.draft}`);
  }
  const firstObjectBit = r.draft >= 18 && (type & 0x40) !== 0;
  const t = type & ~0x40;
  const mode: SubgroupIdMode = (t & 0x04) !== 0 ? "explicit" : (t & 0x02) !== 0 ? "firstObject" : "zero";
  const h: SubgroupHeader = {
    kind: "subgroup",
    trackAlias: r.varint("track alias"),
    group: r.varint("group id"),
    subgroupIdMode: mode,
    extensions: (t & 0x01) !== 0,
    endOfGroup: (t & 0x08) !== 0,
    firstObjectBit,
  };
  if (mode === "explicit") h.subgroup = r.varint("subgroup id");
  if (t < 0x30) h.publisherPriority = r.u8("publisher priority");
  return h;
}

/** One object as carried on a subgroup or fetch stream. */
export interface DataObject {
  objectId: number;
  /** Extension headers (object properties); empty when none. */
  extensions: Param[];
  /** Set when the payload is empty and a status was sent. */
  status?: number;
  payload: Uint8Array;
}

function writeExtensions(w: IetfWriter, ext: Param[]): void {
  const inner = new IetfWriter(w.draft, 16);
  writeProperties(inner, ext);
  w.lengthPrefixed(inner.view());
}

function readExtensions(r: IetfReader): Param[] {
  const bytes = r.lengthPrefixed("extension headers", MAX_VALUE_BYTES);
  return readProperties(new IetfReader(bytes, r.draft, "extension headers"), "extension header");
}

function writePayload(w: IetfWriter, o: DataObject): void {
  w.varint(o.payload.length);
  if (o.payload.length === 0) w.varint(o.status ?? ObjectStatus.Normal);
  else if (o.status !== undefined && o.status !== ObjectStatus.Normal) {
    throw new EncodeError(`an object with a payload has status Normal; drop the status`);
  } else w.bytes(o.payload);
}

function readPayload(r: IetfReader, o: DataObject, maxPayload: number): void {
  const len = r.varint("payload length");
  if (len > maxPayload) {
    throw new BoundsError(`object payload of ${len} bytes exceeds the ${maxPayload}-byte limit`);
  }
  if (len === 0) {
    const status = r.varint("object status");
    if (!isObjectStatus(status, r.draft)) throw new DecodeError(`object status ${status} is invalid`);
    o.status = status;
    o.payload = new Uint8Array(0);
    return;
  }
  o.payload = r.bytes(len, "object payload");
}

/**
 * Encode one object of a subgroup stream. `prevObjectId` is the previous object's id on this stream
 * (undefined for the first); ids must increase. The Object ID Delta is the id for the first object
 * and `id − prev − 1` after.
 */
export function encodeSubgroupObject(
  h: SubgroupHeader,
  o: DataObject,
  prevObjectId: number | undefined,
  draft: Draft,
): Uint8Array {
  if (prevObjectId !== undefined && o.objectId <= prevObjectId) {
    throw new EncodeError(
      `object ids must increase on a subgroup stream (${o.objectId} after ${prevObjectId})`,
    );
  }
  const w = new IetfWriter(draft, o.payload.length + 16);
  w.varint(prevObjectId === undefined ? o.objectId : o.objectId - prevObjectId - 1);
  if (h.extensions) writeExtensions(w, o.extensions);
  else if (o.extensions.length > 0) throw new EncodeError(`this subgroup type carries no extension headers`);
  writePayload(w, o);
  return w.finish();
}

/** Read one subgroup object; null when `buf` ends inside it. */
export function readSubgroupObject(
  buf: Uint8Array,
  h: SubgroupHeader,
  prevObjectId: number | undefined,
  draft: Draft,
  maxPayload = MAX_OBJECT_PAYLOAD_BYTES,
): { object: DataObject; size: number } | null {
  const res = attempt(buf, draft, "subgroup object", (r) => {
    const delta = r.varint("object id delta");
    const objectId = prevObjectId === undefined ? delta : prevObjectId + 1 + delta;
    if (!Number.isSafeInteger(objectId)) throw new DecodeError(`object id overflows`);
    const o: DataObject = { objectId, extensions: [], payload: new Uint8Array(0) };
    if (h.extensions) o.extensions = readExtensions(r);
    readPayload(r, o, maxPayload);
    return o;
  });
  return res && { object: res.value, size: res.size };
}

// ---------------------------------------------------------------------------------------------
// Fetch stream objects

/** An object on a FETCH stream: it names its own position. */
export interface FetchObject extends DataObject {
  group: number;
  subgroup: number;
  publisherPriority: number;
}

/** Draft-15+ fetch object serialization flags. */
const FetchFlag = {
  SubgroupMask: 0x03,
  ObjectId: 0x04,
  GroupId: 0x08,
  Priority: 0x10,
  Extensions: 0x20,
} as const;

/**
 * Encode one FETCH stream object. Draft-14 writes every field; from 15 a flags varint says
 * which fields differ from the previous object (`prev`, undefined for the first).
 */
export function encodeFetchObject(o: FetchObject, prev: FetchObject | undefined, draft: Draft): Uint8Array {
  const w = new IetfWriter(draft, o.payload.length + 24);
  if (draft === 14) {
    w.varint(o.group).varint(o.subgroup).varint(o.objectId).u8(o.publisherPriority);
    writeExtensions(w, o.extensions);
    writePayload(w, o);
    return w.finish();
  }
  let flags = 0;
  const sameGroup = prev !== undefined && prev.group === o.group;
  let subgroupMode = 3;
  if (o.subgroup === 0) subgroupMode = 0;
  else if (sameGroup && prev.subgroup === o.subgroup) subgroupMode = 1;
  else if (sameGroup && prev.subgroup + 1 === o.subgroup) subgroupMode = 2;
  flags |= subgroupMode;
  if (!sameGroup) flags |= FetchFlag.GroupId;
  if (!sameGroup || prev.objectId + 1 !== o.objectId) flags |= FetchFlag.ObjectId;
  if (prev === undefined || prev.publisherPriority !== o.publisherPriority) flags |= FetchFlag.Priority;
  if (o.extensions.length > 0) flags |= FetchFlag.Extensions;
  w.varint(flags);
  if (flags & FetchFlag.GroupId) w.varint(o.group);
  if (subgroupMode === 3) w.varint(o.subgroup);
  if (flags & FetchFlag.ObjectId) w.varint(o.objectId);
  if (flags & FetchFlag.Priority) w.u8(o.publisherPriority);
  if (flags & FetchFlag.Extensions) writeExtensions(w, o.extensions);
  writePayload(w, o);
  return w.finish();
}

/** Read one FETCH stream object; null when `buf` ends inside it. */
export function readFetchObject(
  buf: Uint8Array,
  prev: FetchObject | undefined,
  draft: Draft,
  maxPayload = MAX_OBJECT_PAYLOAD_BYTES,
): { object: FetchObject; size: number } | null {
  const res = attempt(buf, draft, "fetch object", (r): FetchObject => {
    if (draft === 14) {
      const o: FetchObject = {
        group: r.varint("group id"),
        subgroup: r.varint("subgroup id"),
        objectId: r.varint("object id"),
        publisherPriority: r.u8("publisher priority"),
        extensions: [],
        payload: new Uint8Array(0),
      };
      o.extensions = readExtensions(r);
      readPayload(r, o, maxPayload);
      return o;
    }
    const flags = r.varint("serialization flags");
    if (flags > 0x3f) throw new DecodeError(`fetch object flags 0x${flags.toString(16)} are invalid`);
    const needPrev = (what: string): FetchObject => {
      if (prev === undefined) throw new DecodeError(`the first fetch object must carry its ${what}`);
      return prev;
    };
    const group = flags & FetchFlag.GroupId ? r.varint("group id") : needPrev("group id").group;
    const mode = flags & FetchFlag.SubgroupMask;
    let subgroup: number;
    if (mode === 0) subgroup = 0;
    else if (mode === 3) subgroup = r.varint("subgroup id");
    else subgroup = needPrev("subgroup id").subgroup + (mode === 2 ? 1 : 0);
    const objectId = flags & FetchFlag.ObjectId ? r.varint("object id") : needPrev("object id").objectId + 1;
    const publisherPriority = flags & FetchFlag.Priority
      ? r.u8("publisher priority")
      : needPrev("priority").publisherPriority;
    const o: FetchObject = {
      group,
      subgroup,
      objectId,
      publisherPriority,
      extensions: [],
      payload: new Uint8Array(0),
    };
    if (flags & FetchFlag.Extensions) o.extensions = readExtensions(r);
    readPayload(r, o, maxPayload);
    return o;
  });
  return res && { object: res.value, size: res.size };
}

// ---------------------------------------------------------------------------------------------
// Datagrams

/** One OBJECT_DATAGRAM (payload) or status datagram. */
export interface Datagram {
  trackAlias: number;
  group: number;
  objectId: number;
  /** Absent when the type's 0x08 bit says the priority is inherited. */
  publisherPriority?: number;
  extensions: Param[];
  /** Set for a status datagram (no payload). */
  status?: number;
  /** Payload of an object datagram (empty for a status datagram). */
  payload: Uint8Array;
  /** The object is the last of its group (payload datagrams only). */
  endOfGroup: boolean;
}

const DG_EXT = 0x01;
const DG_END_OF_GROUP = 0x02;
const DG_NO_OBJECT_ID = 0x04;
const DG_NO_PRIORITY = 0x08;
const DG_STATUS = 0x20;

/** Encode a datagram (the whole QUIC datagram payload). */
export function encodeDatagram(d: Datagram, draft: Draft): Uint8Array {
  let t = d.status !== undefined ? DG_STATUS : 0;
  if (d.extensions.length > 0) t |= DG_EXT;
  if (d.endOfGroup) {
    if (d.status !== undefined) throw new EncodeError(`a status datagram has no end-of-group form`);
    t |= DG_END_OF_GROUP;
  }
  if (d.objectId === 0) t |= DG_NO_OBJECT_ID;
  if (d.publisherPriority === undefined) {
    if (draft < 15) throw new EncodeError(`draft-14 datagrams always carry a publisher priority`);
    t |= DG_NO_PRIORITY;
  }
  const w = new IetfWriter(draft, d.payload.length + 24);
  w.varint(t).varint(d.trackAlias).varint(d.group);
  if (!(t & DG_NO_OBJECT_ID)) w.varint(d.objectId);
  if (d.publisherPriority !== undefined) w.u8(d.publisherPriority);
  if (t & DG_EXT) writeExtensions(w, d.extensions);
  if (d.status !== undefined) {
    if (d.payload.length > 0) throw new EncodeError(`a status datagram carries no payload`);
    w.varint(d.status);
  } else w.bytes(d.payload);
  return w.finish();
}

/** Decode a whole datagram. */
export function decodeDatagram(buf: Uint8Array, draft: Draft): Datagram {
  const r = new IetfReader(buf, draft, "datagram");
  const t = r.varint("datagram type");
  const status = (t & 0xf0) === DG_STATUS;
  const low = t & 0x0f;
  const allowed = draft >= 15 ? 0x0f : 0x07;
  if ((!status && (t & 0xf0) !== 0) || (low & ~allowed) !== 0 || (status && (low & DG_END_OF_GROUP))) {
    throw new DecodeError(`datagram type 0x${t.toString(16)} is invalid in draft-${draft}`);
  }
  const d: Datagram = {
    trackAlias: r.varint("track alias"),
    group: r.varint("group id"),
    objectId: 0,
    extensions: [],
    payload: new Uint8Array(0),
    endOfGroup: (low & DG_END_OF_GROUP) !== 0,
  };
  if (!(low & DG_NO_OBJECT_ID)) d.objectId = r.varint("object id");
  if (!(low & DG_NO_PRIORITY)) d.publisherPriority = r.u8("publisher priority");
  if (low & DG_EXT) d.extensions = readExtensions(r);
  if (status) {
    const s = r.varint("object status");
    if (!isObjectStatus(s, draft)) throw new DecodeError(`object status ${s} is invalid`);
    d.status = s;
    r.end("status datagram");
  } else d.payload = r.rest();
  return d;
}
