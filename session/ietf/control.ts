/**
 * moq-transport control messages, drafts 14–20 (draft-ietf-moq-transport-14 §9 … -20 §10): framing
 * (`Type (i) || Length (16) || body`), the message ids each draft assigns, and every message's body
 * per draft. Encoders return complete frames; {@link decodeControl} takes one body.
 *
 * Drafts 14–16 multiplex everything on one bidi control stream; from 17 each request has its own
 * bidi stream, so responses drop the Request ID and 17 alone adds a Required Request ID Delta.
 *
 * @module
 */

import { BoundsError, DecodeError } from "../../codec/mod.ts";
import { type Draft, responsesOmitRequestId } from "./draft.ts";
import {
  EncodeError,
  IetfReader,
  IetfWriter,
  MessageParam,
  type Param,
  ParameterError,
  readNamespace,
  readParams,
  readProperties,
  readSetupOptions,
  sortParams,
  takeParam,
  writeNamespace,
  writeParams,
  writeProperties,
  writeSetupOptions,
} from "./wire.ts";

/** Largest control message body: the 16-bit length field's maximum. */
export const MAX_CONTROL_BODY_BYTES = 0xffff;
/** Longest track name or reason phrase the codec accepts, in bytes. */
export const MAX_NAME_BYTES = 4096;
/** Most versions a CLIENT_SETUP may list. */
export const MAX_SETUP_VERSIONS = 64;

/** Raised for a message type the negotiated draft does not define on this stream. */
export class UnknownMessageError extends DecodeError {
  /** The message type on the wire. */
  readonly type: number;
  constructor(type: number, draft: Draft) {
    super(`control message type 0x${type.toString(16)} is not defined in draft-${draft}; close the session`);
    this.name = "UnknownMessageError";
    this.type = type;
  }
}

/** A (group, object) position. */
export interface Location {
  group: number;
  object: number;
}

/** Filter types carried by SUBSCRIBE (draft-14 inline, 15–19 in the SUBSCRIPTION_FILTER parameter). */
export const FilterType = {
  NextGroupStart: 0x1,
  LargestObject: 0x2,
  AbsoluteStart: 0x3,
  AbsoluteRange: 0x4,
} as const;

/**
 * A subscription filter. `relative` (start N groups back) and `endObject` exist only in draft-20's
 * field-list form; drafts 14–19 reject them at encode time.
 */
export type Filter =
  | { type: "nextGroup" }
  | { type: "largestObject" }
  | { type: "absoluteStart"; start: Location }
  | { type: "absoluteRange"; start: Location; endGroup: number; endObject?: number }
  | { type: "relative"; groups: number };

/** FETCH types (draft-ietf-moq-transport-14 §9.16). */
export const FetchKind = { Standalone: 0x1, RelativeJoining: 0x2, AbsoluteJoining: 0x3 } as const;

/** What a FETCH asks for. */
export type FetchSpec =
  | { type: "standalone"; namespace: string[]; name: string; start: Location; end: Location }
  | { type: "relativeJoining"; joiningRequestId: number; offset: number }
  | { type: "absoluteJoining"; joiningRequestId: number; group: number };

/** Fields SUBSCRIBE and (draft-14-shaped) TRACK_STATUS share. */
export interface SubscribeFields {
  requestId: number;
  /** Draft-17 only: Required Request ID Delta (encoded as 0 when absent). */
  requiredRequestIdDelta?: number;
  namespace: string[];
  name: string;
  subscriberPriority?: number;
  /** 0 = publisher's choice, 1 ascending, 2 descending. */
  groupOrder?: number;
  forward?: boolean;
  filter?: Filter;
  /** Parameters other than the ones named above. */
  params: Param[];
}

/** Fields SUBSCRIBE_OK and draft-14 TRACK_STATUS_OK share. */
export interface SubscribeOkFields {
  /** Drafts 14–16 only. */
  requestId?: number;
  trackAlias: number;
  expires?: number;
  groupOrder?: number;
  largest?: Location;
  params: Param[];
  /** Track properties (16+). */
  properties: Param[];
}

/** Fields of the draft-14 per-request error messages. */
export interface ErrorFields {
  requestId: number;
  code: number;
  reason: string;
}

/** Every control message, discriminated by `kind`. */
export type ControlMessage =
  | { kind: "clientSetup"; versions: number[]; options: Param[] }
  | { kind: "serverSetup"; version: number; options: Param[] }
  | { kind: "setup"; options: Param[] }
  | {
    kind: "goaway";
    uri: string;
    /** Drafts 17+. */
    timeout?: number;
    /** Draft-18 only: the trailing Request ID (#1559), removed again in 19. */
    requestId?: number;
  }
  | { kind: "maxRequestId"; requestId: number }
  | { kind: "requestsBlocked"; maxRequestId: number }
  | ({ kind: "subscribe" } & SubscribeFields)
  | ({ kind: "subscribeOk" } & SubscribeOkFields)
  | ({ kind: "subscribeError" } & ErrorFields)
  | { kind: "requestError"; requestId?: number; code: number; retryInterval?: number; reason: string }
  | { kind: "requestOk"; requestId?: number; params: Param[]; properties: Param[] }
  | {
    kind: "requestUpdate";
    requestId: number;
    /** Drafts 14–16: the request being updated. */
    existingRequestId?: number;
    requiredRequestIdDelta?: number;
    /** Draft-14 inline fields. */
    start?: Location;
    endGroup?: number;
    subscriberPriority?: number;
    forward?: boolean;
    params: Param[];
  }
  | { kind: "unsubscribe"; requestId: number }
  | { kind: "publishDone"; requestId?: number; statusCode: number; streamCount: number; reason: string }
  | {
    kind: "publish";
    requestId: number;
    requiredRequestIdDelta?: number;
    namespace: string[];
    name: string;
    trackAlias: number;
    groupOrder?: number;
    largest?: Location;
    forward?: boolean;
    params: Param[];
    properties: Param[];
  }
  | {
    kind: "publishOk";
    requestId: number;
    forward?: boolean;
    subscriberPriority?: number;
    groupOrder?: number;
    filter?: Filter;
    params: Param[];
  }
  | ({ kind: "publishError" } & ErrorFields)
  | {
    kind: "publishNamespace";
    requestId: number;
    requiredRequestIdDelta?: number;
    namespace: string[];
    params: Param[];
  }
  | { kind: "publishNamespaceOk"; requestId: number }
  | ({ kind: "publishNamespaceError" } & ErrorFields)
  | { kind: "publishNamespaceDone"; namespace?: string[]; requestId?: number }
  | { kind: "publishNamespaceCancel"; namespace?: string[]; requestId?: number; code: number; reason: string }
  | { kind: "namespace"; suffix: string[]; params?: Param[] }
  | { kind: "namespaceDone"; suffix: string[] }
  | { kind: "publishBlocked"; suffix: string[]; name: string }
  | ({ kind: "trackStatus" } & SubscribeFields)
  | ({ kind: "trackStatusOk" } & SubscribeOkFields)
  | ({ kind: "trackStatusError" } & ErrorFields)
  | {
    kind: "subscribeNamespace";
    requestId: number;
    requiredRequestIdDelta?: number;
    prefix: string[];
    /** Drafts 16–17: which announcements the subscriber wants (default 1). */
    subscribeOptions?: number;
    params: Param[];
  }
  | { kind: "subscribeNamespaceOk"; requestId: number }
  | ({ kind: "subscribeNamespaceError" } & ErrorFields)
  | { kind: "unsubscribeNamespace"; requestId: number }
  | {
    kind: "fetch";
    requestId: number;
    requiredRequestIdDelta?: number;
    subscriberPriority?: number;
    groupOrder?: number;
    spec: FetchSpec;
    params: Param[];
  }
  | {
    kind: "fetchOk";
    requestId?: number;
    groupOrder?: number;
    endOfTrack: boolean;
    endLocation: Location;
    params: Param[];
    properties: Param[];
  }
  | ({ kind: "fetchError" } & ErrorFields)
  | { kind: "fetchCancel"; requestId: number };

/** The `kind` names of {@link ControlMessage}. */
export type ControlKind = ControlMessage["kind"];

/** The message of one kind. */
export type ControlOf<K extends ControlKind> = Extract<ControlMessage, { kind: K }>;

// ---------------------------------------------------------------------------------------------
// Ids per draft

type IdRule = { id: number; from: Draft; to: Draft };

const ID_RULES: Record<ControlKind, IdRule[]> = {
  clientSetup: [{ id: 0x20, from: 14, to: 16 }],
  serverSetup: [{ id: 0x21, from: 14, to: 16 }],
  setup: [{ id: 0x2f00, from: 17, to: 20 }],
  goaway: [{ id: 0x10, from: 14, to: 20 }],
  maxRequestId: [{ id: 0x15, from: 14, to: 16 }],
  requestsBlocked: [{ id: 0x1a, from: 14, to: 16 }],
  requestUpdate: [{ id: 0x02, from: 14, to: 20 }],
  subscribe: [{ id: 0x03, from: 14, to: 20 }],
  subscribeOk: [{ id: 0x04, from: 14, to: 20 }],
  subscribeError: [{ id: 0x05, from: 14, to: 14 }],
  requestError: [{ id: 0x05, from: 15, to: 20 }],
  publishNamespace: [{ id: 0x06, from: 14, to: 20 }],
  publishNamespaceOk: [{ id: 0x07, from: 14, to: 14 }],
  requestOk: [{ id: 0x07, from: 15, to: 20 }],
  publishNamespaceError: [{ id: 0x08, from: 14, to: 14 }],
  namespace: [{ id: 0x08, from: 16, to: 20 }],
  publishNamespaceDone: [{ id: 0x09, from: 14, to: 16 }],
  unsubscribe: [{ id: 0x0a, from: 14, to: 16 }],
  publishDone: [{ id: 0x0b, from: 14, to: 20 }],
  publishNamespaceCancel: [{ id: 0x0c, from: 14, to: 16 }],
  trackStatus: [{ id: 0x0d, from: 14, to: 20 }],
  trackStatusOk: [{ id: 0x0e, from: 14, to: 14 }],
  namespaceDone: [{ id: 0x0e, from: 16, to: 20 }],
  trackStatusError: [{ id: 0x0f, from: 14, to: 14 }],
  publishBlocked: [{ id: 0x0f, from: 17, to: 20 }],
  subscribeNamespace: [{ id: 0x11, from: 14, to: 17 }, { id: 0x50, from: 18, to: 20 }],
  subscribeNamespaceOk: [{ id: 0x12, from: 14, to: 14 }],
  subscribeNamespaceError: [{ id: 0x13, from: 14, to: 14 }],
  unsubscribeNamespace: [{ id: 0x14, from: 14, to: 15 }],
  fetch: [{ id: 0x16, from: 14, to: 20 }],
  fetchCancel: [{ id: 0x17, from: 14, to: 16 }],
  fetchOk: [{ id: 0x18, from: 14, to: 20 }],
  fetchError: [{ id: 0x19, from: 14, to: 14 }],
  publish: [{ id: 0x1d, from: 14, to: 20 }],
  publishOk: [{ id: 0x1e, from: 14, to: 16 }],
  publishError: [{ id: 0x1f, from: 14, to: 14 }],
};

/** SUBSCRIBE_TRACKS (draft-18+), recognised only to be refused. */
export const SUBSCRIBE_TRACKS_ID = 0x51;

/** The wire id of `kind` in `draft`, or undefined when the draft does not define it. */
export function controlId(kind: ControlKind, draft: Draft): number | undefined {
  for (const r of ID_RULES[kind]) if (draft >= r.from && draft <= r.to) return r.id;
  return undefined;
}

const KIND_BY_ID: Map<number, ControlKind>[] = [];
function kindsOf(draft: Draft): Map<number, ControlKind> {
  let m = KIND_BY_ID[draft];
  if (!m) {
    m = new Map();
    for (const kind of Object.keys(ID_RULES) as ControlKind[]) {
      const id = controlId(kind, draft);
      if (id !== undefined) m.set(id, kind);
    }
    KIND_BY_ID[draft] = m;
  }
  return m;
}

/** The kind of message type `type` in `draft`, or undefined. */
export function controlKind(type: number, draft: Draft): ControlKind | undefined {
  return kindsOf(draft).get(type);
}

/** Every kind `draft` defines. */
export function controlKinds(draft: Draft): ControlKind[] {
  return [...kindsOf(draft).values()];
}

// ---------------------------------------------------------------------------------------------
// Framing

/** One framed control message split from a buffer. */
export interface ControlFrame {
  /** The message type. */
  type: number;
  /** The body (a view into the input). */
  body: Uint8Array;
  /** Bytes the frame took, header included. */
  size: number;
}

/**
 * Split the first control frame from `buf`, or return null when `buf` does not hold a whole frame
 * yet (feed more bytes and retry).
 */
export function readControlFrame(buf: Uint8Array, draft: Draft): ControlFrame | null {
  const r = new IetfReader(buf, draft, "control frame");
  let type: number;
  let len: number;
  try {
    type = r.varint("message type");
    len = r.u16("message length");
  } catch (e) {
    if (e instanceof DecodeError && /truncated/.test(e.message)) return null;
    throw e;
  }
  if (r.remaining < len) return null;
  const start = r.position;
  return { type, body: buf.subarray(start, start + len), size: start + len };
}

/** Encode `msg` for `draft` as a complete frame: type, 16-bit length, body. */
export function encodeControl(msg: ControlMessage, draft: Draft): Uint8Array {
  const id = controlId(msg.kind, draft);
  if (id === undefined) throw new EncodeError(`${msg.kind} does not exist in draft-${draft}`);
  const body = new IetfWriter(draft, 64);
  encodeBody(body, msg);
  const b = body.view();
  if (b.length > MAX_CONTROL_BODY_BYTES) {
    throw new EncodeError(`${msg.kind} body is ${b.length} bytes; at most 65535 fit the length field`);
  }
  const w = new IetfWriter(draft, b.length + 12);
  return w.varint(id).u16(b.length).bytes(b).finish();
}

/**
 * Decode one control message body of wire type `type` for `draft`. The whole body must be consumed.
 * Throws {@link UnknownMessageError}, {@link DecodeError}, {@link BoundsError} or
 * {@link ParameterError}.
 */
export function decodeControl(type: number, body: Uint8Array, draft: Draft): ControlMessage {
  if (type === SUBSCRIBE_TRACKS_ID && draft >= 18) {
    throw new UnknownMessageError(type, draft);
  }
  const kind = controlKind(type, draft);
  if (kind === undefined) throw new UnknownMessageError(type, draft);
  if (body.length > MAX_CONTROL_BODY_BYTES) throw new BoundsError(`control message body exceeds 65535 bytes`);
  const r = new IetfReader(body, draft, kind);
  const msg = decodeBody(r, kind);
  r.end(kind);
  return msg;
}

/** Decode a whole frame (type, length, body) that must fill `buf` exactly. */
export function decodeControlFrame(buf: Uint8Array, draft: Draft): ControlMessage {
  const f = readControlFrame(buf, draft);
  if (f === null) throw new DecodeError("control frame truncated");
  if (f.size !== buf.length) throw new DecodeError(`control frame has ${buf.length - f.size} trailing bytes`);
  return decodeControl(f.type, f.body, draft);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

function needRequestId(id: number | undefined, kind: string, draft: Draft): number {
  if (id === undefined) throw new EncodeError(`${kind} needs a requestId in draft-${draft}`);
  return id;
}

function writeLocation(w: IetfWriter, l: Location): void {
  w.varint(l.group).varint(l.object);
}

function readLocation(r: IetfReader, what: string): Location {
  return { group: r.varint(`${what} group`), object: r.varint(`${what} object`) };
}

function locationBytes(draft: Draft, l: Location): Uint8Array {
  const w = new IetfWriter(draft, 16);
  writeLocation(w, l);
  return w.finish();
}

function locationFrom(draft: Draft, bytes: Uint8Array, what: string): Location {
  const r = new IetfReader(bytes, draft, what);
  const l = readLocation(r, what);
  r.end(what);
  return l;
}

function writeGroupOrder(w: IetfWriter, v: number | undefined, dflt: number): void {
  w.u8(v ?? dflt);
}

function readGroupOrder(r: IetfReader): number {
  const v = r.u8("group order");
  if (v > 2) throw new DecodeError(`group order ${v} is invalid (0, 1 or 2)`);
  return v;
}

function checkGroupOrderParam(p: Param | undefined): number | undefined {
  if (p === undefined) return undefined;
  const v = p.value as number;
  if (v > 2) throw new ParameterError(`GROUP_ORDER ${v} is invalid (0, 1 or 2)`);
  return v;
}

function writeRrid(w: IetfWriter, delta: number | undefined): void {
  if (w.draft === 17) w.varint(delta ?? 0);
}

function readRrid(r: IetfReader): number | undefined {
  return r.draft === 17 ? r.varint("required request id delta") : undefined;
}

function writeError(w: IetfWriter, m: ErrorFields): void {
  w.varint(m.requestId).varint(m.code).string(m.reason);
}

function readError(r: IetfReader): ErrorFields {
  return {
    requestId: r.varint("request id"),
    code: r.varint("error code"),
    reason: r.string("reason phrase", MAX_NAME_BYTES),
  };
}

/** Encode `params` plus named extras, sorted from draft-16 on. */
function withExtras(w: IetfWriter, params: readonly Param[], extras: Param[]): void {
  for (const p of params) {
    if (extras.some((e) => e.type === p.type)) {
      throw new EncodeError(`parameter 0x${p.type.toString(16)} duplicates a named field; drop one`);
    }
  }
  const all = [...extras, ...params];
  writeParams(w, w.draft >= 16 ? sortParams(all) : all);
}

// Filters ---------------------------------------------------------------------------------------

function writeFilterTag(w: IetfWriter, f: Filter): void {
  switch (f.type) {
    case "nextGroup":
      w.varint(FilterType.NextGroupStart);
      return;
    case "largestObject":
      w.varint(FilterType.LargestObject);
      return;
    case "absoluteStart":
      w.varint(FilterType.AbsoluteStart);
      writeLocation(w, f.start);
      return;
    case "absoluteRange":
      if (f.endObject !== undefined) throw new EncodeError(`an end object needs draft-20`);
      if (f.endGroup < f.start.group) throw new EncodeError(`filter range ends before it starts`);
      w.varint(FilterType.AbsoluteRange);
      writeLocation(w, f.start);
      // Drafts 14–16 carry the end group itself; 17–19 the distance from the start group.
      w.varint(w.draft <= 16 ? f.endGroup : f.endGroup - f.start.group);
      return;
    case "relative":
      throw new EncodeError(`a relative filter needs draft-20`);
  }
}

function readFilterTag(r: IetfReader): Filter {
  const tag = r.varint("filter type");
  switch (tag) {
    case FilterType.NextGroupStart:
      return { type: "nextGroup" };
    case FilterType.LargestObject:
      return { type: "largestObject" };
    case FilterType.AbsoluteStart:
      return { type: "absoluteStart", start: readLocation(r, "start") };
    case FilterType.AbsoluteRange: {
      const start = readLocation(r, "start");
      const end = r.varint("end group");
      const endGroup = r.draft <= 16 ? end : start.group + end;
      if (endGroup < start.group) throw new DecodeError(`filter range ends before it starts`);
      if (!Number.isSafeInteger(endGroup)) throw new DecodeError(`filter end group overflows`);
      return { type: "absoluteRange", start, endGroup };
    }
    default:
      throw new DecodeError(`filter type ${tag} is invalid (1 to 4)`);
  }
}

/** Draft-20 LOCATION_FILTER: up to four varints (start group, start object, end delta, end object). */
function writeFilterFields(w: IetfWriter, f: Filter): void {
  switch (f.type) {
    case "nextGroup":
      w.varint(0);
      return;
    case "relative":
      if (f.groups === 0) throw new EncodeError(`relative 0 is the nextGroup filter`);
      w.varint(f.groups);
      return;
    case "largestObject":
      w.varint(0).varint(0);
      return;
    case "absoluteStart":
      if (f.start.group === 0 && f.start.object === 0) {
        throw new EncodeError(`absolute start 0/0 reads as largestObject in draft-20; use a range`);
      }
      writeLocation(w, f.start);
      return;
    case "absoluteRange":
      if (f.endGroup < f.start.group) throw new EncodeError(`filter range ends before it starts`);
      writeLocation(w, f.start);
      w.varint(f.endGroup - f.start.group);
      if (f.endObject !== undefined) w.varint(f.endObject);
      return;
  }
}

function readFilterFields(r: IetfReader): Filter {
  const fields: number[] = [];
  while (r.remaining > 0) {
    if (fields.length === 4) throw new DecodeError(`LOCATION_FILTER has more than four fields`);
    fields.push(r.varint("filter field"));
  }
  switch (fields.length) {
    case 0:
      throw new DecodeError(`LOCATION_FILTER is empty; omit the parameter instead`);
    case 1:
      return fields[0] === 0 ? { type: "nextGroup" } : { type: "relative", groups: fields[0] };
    case 2:
      if (fields[0] === 0 && fields[1] === 0) return { type: "largestObject" };
      return { type: "absoluteStart", start: { group: fields[0], object: fields[1] } };
    default: {
      const start = { group: fields[0], object: fields[1] };
      const endGroup = start.group + fields[2];
      if (!Number.isSafeInteger(endGroup)) throw new DecodeError(`filter end group overflows`);
      return fields.length === 4
        ? { type: "absoluteRange", start, endGroup, endObject: fields[3] }
        : { type: "absoluteRange", start, endGroup };
    }
  }
}

function filterBytes(draft: Draft, f: Filter): Uint8Array {
  const w = new IetfWriter(draft, 16);
  if (draft >= 20) writeFilterFields(w, f);
  else writeFilterTag(w, f);
  return w.finish();
}

function filterFrom(draft: Draft, bytes: Uint8Array): Filter {
  const r = new IetfReader(bytes, draft, "subscription filter");
  const f = draft >= 20 ? readFilterFields(r) : readFilterTag(r);
  r.end("subscription filter");
  return f;
}

// ---------------------------------------------------------------------------------------------
// Bodies

function encodeSubscribeFields(w: IetfWriter, m: SubscribeFields): void {
  w.varint(m.requestId);
  writeRrid(w, m.requiredRequestIdDelta);
  writeNamespace(w, m.namespace);
  w.string(m.name);
  if (w.draft === 14) {
    w.u8(m.subscriberPriority ?? 128);
    writeGroupOrder(w, m.groupOrder, 0);
    w.bool(m.forward ?? true);
    writeFilterTag(w, m.filter ?? { type: "largestObject" });
    writeParams(w, m.params);
    return;
  }
  const extras: Param[] = [];
  if (m.subscriberPriority !== undefined) {
    extras.push({ type: MessageParam.SubscriberPriority, value: m.subscriberPriority });
  }
  if (m.groupOrder !== undefined) extras.push({ type: MessageParam.GroupOrder, value: m.groupOrder });
  if (m.forward !== undefined) extras.push({ type: MessageParam.Forward, value: m.forward ? 1 : 0 });
  if (m.filter !== undefined) {
    extras.push({ type: MessageParam.SubscriptionFilter, value: filterBytes(w.draft, m.filter) });
  }
  withExtras(w, m.params, extras);
}

function decodeSubscribeFields(r: IetfReader): SubscribeFields {
  const requestId = r.varint("request id");
  const requiredRequestIdDelta = readRrid(r);
  const namespace = readNamespace(r);
  const name = r.string("track name", MAX_NAME_BYTES);
  const m: SubscribeFields = { requestId, namespace, name, params: [] };
  if (requiredRequestIdDelta !== undefined) m.requiredRequestIdDelta = requiredRequestIdDelta;
  if (r.draft === 14) {
    m.subscriberPriority = r.u8("subscriber priority");
    m.groupOrder = readGroupOrder(r);
    m.forward = r.bool("forward");
    m.filter = readFilterTag(r);
    m.params = readParams(r);
    return m;
  }
  const params = readParams(r);
  const prio = takeParam(params, MessageParam.SubscriberPriority);
  if (prio) m.subscriberPriority = prio.value as number;
  const order = checkGroupOrderParam(takeParam(params, MessageParam.GroupOrder));
  if (order !== undefined) m.groupOrder = order;
  const fwd = takeParam(params, MessageParam.Forward);
  if (fwd) {
    if (fwd.value !== 0 && fwd.value !== 1) throw new ParameterError(`FORWARD must be 0 or 1`);
    m.forward = fwd.value === 1;
  }
  const filter = takeParam(params, MessageParam.SubscriptionFilter);
  if (filter) m.filter = filterFrom(r.draft, filter.value as Uint8Array);
  if (r.draft < 20) {
    for (const t of [MessageParam.FillParameters, MessageParam.IncludeProperties]) {
      if (params.some((p) => p.type === t)) {
        throw new ParameterError(`parameter 0x${t.toString(16)} needs draft-20`);
      }
    }
  }
  m.params = params;
  return m;
}

function encodeSubscribeOkFields(w: IetfWriter, m: SubscribeOkFields, kind: string): void {
  if (!responsesOmitRequestId(w.draft)) w.varint(needRequestId(m.requestId, kind, w.draft));
  w.varint(m.trackAlias);
  if (w.draft === 14) {
    w.varint(m.expires ?? 0);
    writeGroupOrder(w, m.groupOrder, 2);
    w.bool(m.largest !== undefined);
    if (m.largest) writeLocation(w, m.largest);
    writeParams(w, m.params);
    if (m.properties.length > 0) throw new EncodeError(`track properties need draft-16`);
    return;
  }
  const extras: Param[] = [];
  if (m.expires !== undefined) extras.push({ type: MessageParam.Expires, value: m.expires });
  if (m.largest !== undefined) {
    extras.push({ type: MessageParam.LargestObject, value: locationBytes(w.draft, m.largest) });
  }
  if (m.groupOrder !== undefined) extras.push({ type: MessageParam.GroupOrder, value: m.groupOrder });
  withExtras(w, m.params, extras);
  writeTrackProperties(w, m.properties);
}

function writeTrackProperties(w: IetfWriter, props: Param[]): void {
  if (w.draft < 16) {
    if (props.length > 0) throw new EncodeError(`track properties need draft-16`);
    return;
  }
  writeProperties(w, props);
}

function readTrackProperties(r: IetfReader): Param[] {
  return r.draft >= 16 ? readProperties(r, "track property") : [];
}

function decodeSubscribeOkFields(r: IetfReader): SubscribeOkFields {
  const m: SubscribeOkFields = { trackAlias: 0, params: [], properties: [] };
  if (!responsesOmitRequestId(r.draft)) m.requestId = r.varint("request id");
  m.trackAlias = r.varint("track alias");
  if (r.draft === 14) {
    m.expires = r.varint("expires");
    m.groupOrder = readGroupOrder(r);
    if (r.bool("content exists")) m.largest = readLocation(r, "largest");
    m.params = readParams(r);
    return m;
  }
  const params = readParams(r);
  const expires = takeParam(params, MessageParam.Expires);
  if (expires) m.expires = expires.value as number;
  const largest = takeParam(params, MessageParam.LargestObject);
  if (largest) m.largest = locationFrom(r.draft, largest.value as Uint8Array, "LARGEST_OBJECT");
  const order = checkGroupOrderParam(takeParam(params, MessageParam.GroupOrder));
  if (order !== undefined) m.groupOrder = order;
  m.params = params;
  m.properties = readTrackProperties(r);
  return m;
}

function writeFetchSpec(w: IetfWriter, s: FetchSpec): void {
  switch (s.type) {
    case "standalone":
      w.varint(FetchKind.Standalone);
      writeNamespace(w, s.namespace);
      w.string(s.name);
      writeLocation(w, s.start);
      writeLocation(w, s.end);
      return;
    case "relativeJoining":
      w.varint(FetchKind.RelativeJoining).varint(s.joiningRequestId).varint(s.offset);
      return;
    case "absoluteJoining":
      w.varint(FetchKind.AbsoluteJoining).varint(s.joiningRequestId).varint(s.group);
      return;
  }
}

function readFetchSpec(r: IetfReader): FetchSpec {
  const t = r.varint("fetch type");
  switch (t) {
    case FetchKind.Standalone: {
      const namespace = readNamespace(r);
      const name = r.string("track name", MAX_NAME_BYTES);
      const start = readLocation(r, "start");
      const end = readLocation(r, "end");
      if (end.group < start.group) throw new DecodeError(`FETCH range ends before it starts`);
      return { type: "standalone", namespace, name, start, end };
    }
    case FetchKind.RelativeJoining:
      return {
        type: "relativeJoining",
        joiningRequestId: r.varint("joining request id"),
        offset: r.varint("joining start"),
      };
    case FetchKind.AbsoluteJoining:
      return {
        type: "absoluteJoining",
        joiningRequestId: r.varint("joining request id"),
        group: r.varint("joining start"),
      };
    default:
      throw new DecodeError(`fetch type ${t} is invalid (1 to 3)`);
  }
}

function encodeBody(w: IetfWriter, m: ControlMessage): void {
  const d = w.draft;
  switch (m.kind) {
    case "clientSetup":
      if (d === 14) {
        if (m.versions.length > MAX_SETUP_VERSIONS) throw new EncodeError(`too many versions`);
        w.varint(m.versions.length);
        for (const v of m.versions) w.varint(v);
      }
      writeSetupOptions(w, m.options);
      return;
    case "serverSetup":
      if (d === 14) w.varint(m.version);
      writeSetupOptions(w, m.options);
      return;
    case "setup":
      writeSetupOptions(w, m.options);
      return;
    case "goaway":
      w.string(m.uri);
      if (d >= 17) w.varint(m.timeout ?? 0);
      if (d === 18) w.varint(m.requestId ?? 0);
      return;
    case "maxRequestId":
      w.varint(m.requestId);
      return;
    case "requestsBlocked":
      w.varint(m.maxRequestId);
      return;
    case "subscribe":
    case "trackStatus":
      if (m.kind === "trackStatus" && d >= 15) {
        w.varint(m.requestId);
        writeRrid(w, m.requiredRequestIdDelta);
        writeNamespace(w, m.namespace);
        w.string(m.name);
        writeParams(w, m.params);
        return;
      }
      encodeSubscribeFields(w, m);
      return;
    case "subscribeOk":
    case "trackStatusOk":
      encodeSubscribeOkFields(w, m, m.kind);
      return;
    case "subscribeError":
    case "publishError":
    case "publishNamespaceError":
    case "subscribeNamespaceError":
    case "trackStatusError":
    case "fetchError":
      writeError(w, m);
      return;
    case "requestError":
      if (!responsesOmitRequestId(d)) w.varint(needRequestId(m.requestId, m.kind, d));
      w.varint(m.code);
      if (d >= 16) w.varint(m.retryInterval ?? 0);
      w.string(m.reason);
      return;
    case "requestOk":
      if (!responsesOmitRequestId(d)) w.varint(needRequestId(m.requestId, m.kind, d));
      writeParams(w, m.params);
      writeTrackProperties(w, m.properties);
      return;
    case "requestUpdate": {
      w.varint(m.requestId);
      if (d <= 16) w.varint(m.existingRequestId ?? 0);
      writeRrid(w, m.requiredRequestIdDelta);
      if (d === 14) {
        writeLocation(w, m.start ?? { group: 0, object: 0 });
        w.varint(m.endGroup ?? 0);
        w.u8(m.subscriberPriority ?? 128);
        w.bool(m.forward ?? true);
        writeParams(w, m.params);
        return;
      }
      const extras: Param[] = [];
      if (m.subscriberPriority !== undefined) {
        extras.push({ type: MessageParam.SubscriberPriority, value: m.subscriberPriority });
      }
      if (m.forward !== undefined) extras.push({ type: MessageParam.Forward, value: m.forward ? 1 : 0 });
      if (m.start !== undefined || m.endGroup !== undefined) {
        throw new EncodeError(`REQUEST_UPDATE carries start/end inline only in draft-14`);
      }
      withExtras(w, m.params, extras);
      return;
    }
    case "unsubscribe":
    case "fetchCancel":
    case "unsubscribeNamespace":
    case "publishNamespaceOk":
    case "subscribeNamespaceOk":
      w.varint(m.requestId);
      return;
    case "publishDone":
      if (!responsesOmitRequestId(d)) w.varint(needRequestId(m.requestId, m.kind, d));
      w.varint(m.statusCode).varint(m.streamCount).string(m.reason);
      return;
    case "publish": {
      w.varint(m.requestId);
      writeRrid(w, m.requiredRequestIdDelta);
      writeNamespace(w, m.namespace);
      w.string(m.name);
      w.varint(m.trackAlias);
      if (d === 14) {
        writeGroupOrder(w, m.groupOrder, 2);
        w.bool(m.largest !== undefined);
        if (m.largest) writeLocation(w, m.largest);
        w.bool(m.forward ?? true);
        writeParams(w, m.params);
        if (m.properties.length > 0) throw new EncodeError(`track properties need draft-16`);
        return;
      }
      const extras: Param[] = [];
      if (m.largest !== undefined) {
        extras.push({ type: MessageParam.LargestObject, value: locationBytes(d, m.largest) });
      }
      if (m.forward !== undefined) extras.push({ type: MessageParam.Forward, value: m.forward ? 1 : 0 });
      if (m.groupOrder !== undefined) extras.push({ type: MessageParam.GroupOrder, value: m.groupOrder });
      withExtras(w, m.params, extras);
      writeTrackProperties(w, m.properties);
      return;
    }
    case "publishOk": {
      w.varint(m.requestId);
      if (d === 14) {
        w.bool(m.forward ?? true).u8(m.subscriberPriority ?? 128);
        writeGroupOrder(w, m.groupOrder, 0);
        writeFilterTag(w, m.filter ?? { type: "largestObject" });
        writeParams(w, m.params);
        return;
      }
      const extras: Param[] = [];
      if (m.forward !== undefined) extras.push({ type: MessageParam.Forward, value: m.forward ? 1 : 0 });
      if (m.subscriberPriority !== undefined) {
        extras.push({ type: MessageParam.SubscriberPriority, value: m.subscriberPriority });
      }
      if (m.filter !== undefined) {
        extras.push({ type: MessageParam.SubscriptionFilter, value: filterBytes(d, m.filter) });
      }
      if (m.groupOrder !== undefined) extras.push({ type: MessageParam.GroupOrder, value: m.groupOrder });
      withExtras(w, m.params, extras);
      return;
    }
    case "publishNamespace":
      w.varint(m.requestId);
      writeRrid(w, m.requiredRequestIdDelta);
      writeNamespace(w, m.namespace);
      writeParams(w, m.params);
      return;
    case "publishNamespaceDone":
      if (d === 16) w.varint(needRequestId(m.requestId, m.kind, d));
      else writeNamespace(w, m.namespace ?? []);
      return;
    case "publishNamespaceCancel":
      if (d === 16) w.varint(needRequestId(m.requestId, m.kind, d));
      else writeNamespace(w, m.namespace ?? []);
      w.varint(m.code).string(m.reason);
      return;
    case "namespace":
      writeNamespace(w, m.suffix);
      if (m.params !== undefined) writeParams(w, m.params);
      return;
    case "namespaceDone":
      writeNamespace(w, m.suffix);
      return;
    case "publishBlocked":
      writeNamespace(w, m.suffix);
      w.string(m.name);
      return;
    case "subscribeNamespace":
      w.varint(m.requestId);
      writeRrid(w, m.requiredRequestIdDelta);
      writeNamespace(w, m.prefix);
      if (d === 16 || d === 17) w.varint(m.subscribeOptions ?? 1);
      writeParams(w, m.params);
      return;
    case "fetch": {
      w.varint(m.requestId);
      writeRrid(w, m.requiredRequestIdDelta);
      if (d === 14) {
        w.u8(m.subscriberPriority ?? 128);
        writeGroupOrder(w, m.groupOrder, 0);
        writeFetchSpec(w, m.spec);
        writeParams(w, m.params);
        return;
      }
      const extras: Param[] = [];
      if (d >= 20) {
        // Draft-20 drops the Fetch Type: the track is inline, the range rides in LOCATION_FILTER.
        if (m.spec.type !== "standalone") throw new EncodeError(`draft-20 has no joining FETCH`);
        writeNamespace(w, m.spec.namespace);
        w.string(m.spec.name);
        const range: Filter = { type: "absoluteRange", start: m.spec.start, endGroup: m.spec.end.group };
        range.endObject = m.spec.end.object;
        extras.push({ type: MessageParam.SubscriptionFilter, value: filterBytes(d, range) });
      } else writeFetchSpec(w, m.spec);
      if (m.subscriberPriority !== undefined) {
        extras.push({ type: MessageParam.SubscriberPriority, value: m.subscriberPriority });
      }
      if (m.groupOrder !== undefined) extras.push({ type: MessageParam.GroupOrder, value: m.groupOrder });
      withExtras(w, m.params, extras);
      return;
    }
    case "fetchOk": {
      if (!responsesOmitRequestId(d)) w.varint(needRequestId(m.requestId, m.kind, d));
      if (d === 14) writeGroupOrder(w, m.groupOrder, 2);
      w.bool(m.endOfTrack);
      writeLocation(w, m.endLocation);
      if (d === 14) {
        writeParams(w, m.params);
        if (m.properties.length > 0) throw new EncodeError(`track properties need draft-16`);
        return;
      }
      const extras: Param[] = [];
      if (m.groupOrder !== undefined) extras.push({ type: MessageParam.GroupOrder, value: m.groupOrder });
      withExtras(w, m.params, extras);
      writeTrackProperties(w, m.properties);
      return;
    }
  }
}

function decodeBody(r: IetfReader, kind: ControlKind): ControlMessage {
  const d = r.draft;
  switch (kind) {
    case "clientSetup": {
      const versions: number[] = [];
      if (d === 14) {
        const n = r.varint("version count");
        if (n > MAX_SETUP_VERSIONS) throw new BoundsError(`CLIENT_SETUP lists ${n} versions (at most 64)`);
        for (let i = 0; i < n; i++) versions.push(r.varint("version"));
      }
      return { kind, versions, options: readSetupOptions(r) };
    }
    case "serverSetup": {
      const version = d === 14 ? r.varint("selected version") : 0;
      return { kind, version, options: readSetupOptions(r) };
    }
    case "setup":
      return { kind, options: readSetupOptions(r) };
    case "goaway": {
      const uri = r.string("new session uri", MAX_NAME_BYTES);
      if (d < 17) return { kind, uri };
      const m: ControlOf<"goaway"> = { kind, uri, timeout: r.varint("timeout") };
      if (d === 18 && r.remaining > 0) m.requestId = r.varint("request id");
      return m;
    }
    case "maxRequestId":
      return { kind, requestId: r.varint("request id") };
    case "requestsBlocked":
      return { kind, maxRequestId: r.varint("maximum request id") };
    case "subscribe":
      return { kind, ...decodeSubscribeFields(r) };
    case "trackStatus": {
      if (d === 14) return { kind, ...decodeSubscribeFields(r) };
      const requestId = r.varint("request id");
      const rrid = readRrid(r);
      const namespace = readNamespace(r);
      const name = r.string("track name", MAX_NAME_BYTES);
      const m: ControlOf<"trackStatus"> = { kind, requestId, namespace, name, params: readParams(r) };
      if (rrid !== undefined) m.requiredRequestIdDelta = rrid;
      return m;
    }
    case "subscribeOk":
    case "trackStatusOk":
      return { kind, ...decodeSubscribeOkFields(r) };
    case "subscribeError":
    case "publishError":
    case "publishNamespaceError":
    case "subscribeNamespaceError":
    case "trackStatusError":
    case "fetchError":
      return { kind, ...readError(r) };
    case "requestError": {
      const requestId = responsesOmitRequestId(d) ? undefined : r.varint("request id");
      const code = r.varint("error code");
      const retryInterval = d >= 16 ? r.varint("retry interval") : undefined;
      const reason = r.string("reason phrase", MAX_NAME_BYTES);
      const m: ControlOf<"requestError"> = { kind, code, reason };
      if (requestId !== undefined) m.requestId = requestId;
      if (retryInterval !== undefined) m.retryInterval = retryInterval;
      return m;
    }
    case "requestOk": {
      const m: ControlOf<"requestOk"> = { kind, params: [], properties: [] };
      if (!responsesOmitRequestId(d)) m.requestId = r.varint("request id");
      m.params = readParams(r);
      m.properties = readTrackProperties(r);
      return m;
    }
    case "requestUpdate": {
      const m: ControlOf<"requestUpdate"> = { kind, requestId: r.varint("request id"), params: [] };
      if (d <= 16) m.existingRequestId = r.varint("existing request id");
      const rrid = readRrid(r);
      if (rrid !== undefined) m.requiredRequestIdDelta = rrid;
      if (d === 14) {
        m.start = readLocation(r, "start");
        m.endGroup = r.varint("end group");
        m.subscriberPriority = r.u8("subscriber priority");
        m.forward = r.bool("forward");
        m.params = readParams(r);
        return m;
      }
      const params = readParams(r);
      const prio = takeParam(params, MessageParam.SubscriberPriority);
      if (prio) m.subscriberPriority = prio.value as number;
      const fwd = takeParam(params, MessageParam.Forward);
      if (fwd) m.forward = fwd.value === 1;
      m.params = params;
      return m;
    }
    case "unsubscribe":
    case "fetchCancel":
    case "unsubscribeNamespace":
    case "publishNamespaceOk":
    case "subscribeNamespaceOk":
      return { kind, requestId: r.varint("request id") };
    case "publishDone": {
      const requestId = responsesOmitRequestId(d) ? undefined : r.varint("request id");
      const statusCode = r.varint("status code");
      const streamCount = r.varint("stream count");
      const reason = r.string("reason phrase", MAX_NAME_BYTES);
      const m: ControlOf<"publishDone"> = { kind, statusCode, streamCount, reason };
      if (requestId !== undefined) m.requestId = requestId;
      return m;
    }
    case "publish": {
      const requestId = r.varint("request id");
      const rrid = readRrid(r);
      const namespace = readNamespace(r);
      const name = r.string("track name", MAX_NAME_BYTES);
      const trackAlias = r.varint("track alias");
      const m: ControlOf<"publish"> = {
        kind,
        requestId,
        namespace,
        name,
        trackAlias,
        params: [],
        properties: [],
      };
      if (rrid !== undefined) m.requiredRequestIdDelta = rrid;
      if (d === 14) {
        m.groupOrder = readGroupOrder(r);
        if (r.bool("content exists")) m.largest = readLocation(r, "largest");
        m.forward = r.bool("forward");
        m.params = readParams(r);
        return m;
      }
      const params = readParams(r);
      const largest = takeParam(params, MessageParam.LargestObject);
      if (largest) m.largest = locationFrom(d, largest.value as Uint8Array, "LARGEST_OBJECT");
      const fwd = takeParam(params, MessageParam.Forward);
      if (fwd) m.forward = fwd.value === 1;
      const order = checkGroupOrderParam(takeParam(params, MessageParam.GroupOrder));
      if (order !== undefined) m.groupOrder = order;
      m.params = params;
      m.properties = readTrackProperties(r);
      return m;
    }
    case "publishOk": {
      const requestId = r.varint("request id");
      if (d === 14) {
        const forward = r.bool("forward");
        const subscriberPriority = r.u8("subscriber priority");
        const groupOrder = readGroupOrder(r);
        const filter = readFilterTag(r);
        return { kind, requestId, forward, subscriberPriority, groupOrder, filter, params: readParams(r) };
      }
      const params = readParams(r);
      const m: ControlOf<"publishOk"> = { kind, requestId, params };
      const fwd = takeParam(params, MessageParam.Forward);
      if (fwd) m.forward = fwd.value === 1;
      const prio = takeParam(params, MessageParam.SubscriberPriority);
      if (prio) m.subscriberPriority = prio.value as number;
      const filter = takeParam(params, MessageParam.SubscriptionFilter);
      if (filter) m.filter = filterFrom(d, filter.value as Uint8Array);
      const order = checkGroupOrderParam(takeParam(params, MessageParam.GroupOrder));
      if (order !== undefined) m.groupOrder = order;
      return m;
    }
    case "publishNamespace": {
      const requestId = r.varint("request id");
      const rrid = readRrid(r);
      const m: ControlOf<"publishNamespace"> = { kind, requestId, namespace: readNamespace(r), params: [] };
      if (rrid !== undefined) m.requiredRequestIdDelta = rrid;
      m.params = readParams(r);
      return m;
    }
    case "publishNamespaceDone":
      return d === 16 ? { kind, requestId: r.varint("request id") } : { kind, namespace: readNamespace(r) };
    case "publishNamespaceCancel": {
      const m: ControlOf<"publishNamespaceCancel"> = d === 16
        ? { kind, requestId: r.varint("request id"), code: 0, reason: "" }
        : { kind, namespace: readNamespace(r), code: 0, reason: "" };
      m.code = r.varint("error code");
      m.reason = r.string("reason phrase", MAX_NAME_BYTES);
      return m;
    }
    case "namespace": {
      const suffix = readNamespace(r, "namespace suffix");
      return r.remaining > 0 ? { kind, suffix, params: readParams(r) } : { kind, suffix };
    }
    case "namespaceDone":
      return { kind, suffix: readNamespace(r, "namespace suffix") };
    case "publishBlocked":
      return {
        kind,
        suffix: readNamespace(r, "namespace suffix"),
        name: r.string("track name", MAX_NAME_BYTES),
      };
    case "subscribeNamespace": {
      const requestId = r.varint("request id");
      const rrid = readRrid(r);
      const m: ControlOf<"subscribeNamespace"> = {
        kind,
        requestId,
        prefix: readNamespace(r, "namespace prefix"),
        params: [],
      };
      if (rrid !== undefined) m.requiredRequestIdDelta = rrid;
      if (d === 16 || d === 17) m.subscribeOptions = r.varint("subscribe options");
      m.params = readParams(r);
      return m;
    }
    case "fetch": {
      const requestId = r.varint("request id");
      const rrid = readRrid(r);
      if (d === 14) {
        const subscriberPriority = r.u8("subscriber priority");
        const groupOrder = readGroupOrder(r);
        const spec = readFetchSpec(r);
        return { kind, requestId, subscriberPriority, groupOrder, spec, params: readParams(r) };
      }
      let spec: FetchSpec;
      let params: Param[];
      if (d >= 20) {
        const namespace = readNamespace(r);
        const name = r.string("track name", MAX_NAME_BYTES);
        params = readParams(r);
        const raw = takeParam(params, MessageParam.SubscriptionFilter);
        const f = raw && filterFrom(d, raw.value as Uint8Array);
        if (f?.type !== "absoluteRange" || f.endObject === undefined) {
          throw new DecodeError(`draft-20 FETCH needs a four-field LOCATION_FILTER range`);
        }
        const end = { group: f.endGroup, object: f.endObject };
        spec = { type: "standalone", namespace, name, start: f.start, end };
      } else {
        spec = readFetchSpec(r);
        params = readParams(r);
      }
      const m: ControlOf<"fetch"> = { kind, requestId, spec, params };
      if (rrid !== undefined) m.requiredRequestIdDelta = rrid;
      const prio = takeParam(params, MessageParam.SubscriberPriority);
      if (prio) m.subscriberPriority = prio.value as number;
      const order = checkGroupOrderParam(takeParam(params, MessageParam.GroupOrder));
      if (order !== undefined) m.groupOrder = order;
      return m;
    }
    case "fetchOk": {
      const m: ControlOf<"fetchOk"> = {
        kind,
        endOfTrack: false,
        endLocation: { group: 0, object: 0 },
        params: [],
        properties: [],
      };
      if (!responsesOmitRequestId(d)) m.requestId = r.varint("request id");
      if (d === 14) m.groupOrder = readGroupOrder(r);
      m.endOfTrack = r.bool("end of track");
      m.endLocation = readLocation(r, "end location");
      const params = readParams(r);
      if (d > 14) {
        const order = checkGroupOrderParam(takeParam(params, MessageParam.GroupOrder));
        if (order !== undefined) m.groupOrder = order;
      }
      m.params = params;
      m.properties = readTrackProperties(r);
      return m;
    }
  }
}
