/**
 * moq-lite-05 wire codec (draft-lcurley-moq-lite-05, as upstream moq-net and `@moq/net` 0.3.4 speak
 * it; see docs/lite05.md): the Setup stream, ANNOUNCE_REQUEST / ANNOUNCE_OK / ANNOUNCE_BROADCAST,
 * the Track stream (TRACK / TRACK_INFO), SUBSCRIBE with the typed START / END / DROP responses,
 * GROUP headers, frames with zigzag-delta timestamps, FETCH, QUIC datagrams, stream type ids and
 * close/reset codes.
 *
 * Same conventions as the lite-01..04 codec in `messages.ts`: encoders return complete
 * size-prefixed messages (typed messages put the type *before* the length); decoders take a
 * {@link BodyReader} over one message body, check every length against a bound and reject trailing
 * bytes. Malformed input raises a {@link DecodeError} subclass naming what was wrong; lengths over
 * a limit raise {@link BoundsError}. Bodies that did not change since lite-04 (SUBSCRIBE,
 * SUBSCRIBE_UPDATE, GROUP header, PROBE, GOAWAY) reuse the `messages.ts` implementation.
 *
 * Ids that the wire carries as full 62-bit varints (subscribe ids, hop ids, timestamps) are
 * `bigint`; counts, group sequences, priorities and durations are `number`.
 *
 * @module
 */

import { BodyReader, BoundsError, DecodeError, varintLength, Writer } from "../codec/mod.ts";
import type { StreamReader } from "../transport/mod.ts";
import {
  decodeGoaway,
  decodeGroupHeader,
  decodeProbe,
  decodeSubscribe,
  decodeSubscribeFields,
  encodeGoaway,
  encodeGroupHeader,
  encodeProbe,
  encodeSubscribe,
  encodeSubscribeUpdate,
  type GroupHeader,
  MAX_MESSAGE_BYTES,
  MAX_NAME_BYTES,
  type Subscribe,
  type SubscribeOk,
  Version,
} from "./messages.ts";

// ---------------------------------------------------------------------------------------------
// Versions, stream types, codes, limits

/** The moq-lite-05 version code (draft-lcurley-moq-lite-05). */
export const LITE05_VERSION = 0xff0dad05;
/** The ALPN / WebTransport protocol / qmux subprotocol suffix that selects moq-lite-05. */
export const LITE05_ALPN = "moq-lite-05";

/** Bidirectional stream types (a varint at the start of the stream). Session (0x0) is gone. */
export enum BidiType05 {
  Announce = 0x1,
  Subscribe = 0x2,
  Fetch = 0x3,
  Probe = 0x4,
  Goaway = 0x5,
  Track = 0x6,
}

/** Unidirectional stream types ("DataType"). */
export enum UniType05 {
  Group = 0x0,
  Setup = 0x1,
}

/**
 * Session close and stream reset codes as lite ≤ 05 uses them (upstream moq-net `Error::to_code`).
 * Stream reset 0 is a plain cancel, not a failure. Application codes are {@link APP_CODE_BASE}` + n`.
 */
export const Code05 = {
  Cancel: 0,
  RequiredExtension: 1,
  Old: 2,
  Timeout: 3,
  Transport: 4,
  Decode: 5,
  Unauthorized: 6,
  Version: 9,
  UnexpectedStream: 10,
  BoundsExceeded: 11,
  Duplicate: 12,
  NotFound: 13,
  WrongSize: 14,
  ProtocolViolation: 15,
  UnexpectedMessage: 16,
  Unsupported: 17,
  Encode: 18,
  TooManyParameters: 19,
  InvalidRole: 20,
  UnknownAlpn: 21,
  Dropped: 24,
  Closed: 25,
  Lagged: 26,
  FrameTooLarge: 27,
  TimestampMismatch: 29,
  Unroutable: 30,
  Evicted: 31,
} as const;

/** Application error `n` travels as code `APP_CODE_BASE + n`. */
export const APP_CODE_BASE = 64;

/** Most parameters a SETUP may carry (upstream's limit). */
export const MAX_SETUP_PARAMS = 64;
/** Longest SETUP Path (`path?query`) accepted, in bytes. */
export const MAX_SETUP_PATH_BYTES = 8192;
/** Most hops an announcement may carry (upstream `MAX_HOPS`). */
export const MAX_HOPS_05 = 32;
/** Most initial announcements an ANNOUNCE_OK may promise. */
export const MAX_ACTIVE_COUNT = 1_000_000;
/** Largest datagram body sent by default (draft-lcurley-moq-lite-05 §6.4 uses 1200 bytes). */
export const MAX_DATAGRAM_BYTES = 1200;
/** Max Latency meaning "no limit" (lite-05 encodes it as 2^53 − 1 ms; larger values clamp to it). */
export const NO_LATENCY_LIMIT_MS = Number.MAX_SAFE_INTEGER;
/** The largest timestamp the wire carries: 2^62 − 1 units. */
export const MAX_TIMESTAMP: bigint = (1n << 62n) - 1n;
/** 2^53 − 1 as a bigint: timestamps up to it are exact as numbers. */
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
/** Zigzag deltas must lie in [−2^61, 2^61 − 1] so the encoded value fits a varint. */
const ZIGZAG_LIMIT = 1n << 61n;

// ---------------------------------------------------------------------------------------------
// Errors

/** A stream began with a type this version does not define; reset that stream, keep the session. */
export class UnknownStreamTypeError extends DecodeError {
  readonly streamType: number;
  constructor(kind: "bidirectional" | "unidirectional", streamType: number) {
    super(`unknown moq-lite-05 ${kind} stream type 0x${streamType.toString(16)}: reset the stream`);
    this.name = "UnknownStreamTypeError";
    this.streamType = streamType;
  }
}

/** A SETUP repeated a parameter id; the peer's encoder is broken, close the session. */
export class DuplicateParameterError extends DecodeError {
  readonly id: bigint;
  constructor(id: bigint) {
    super(`SETUP repeats parameter 0x${id.toString(16)}: each parameter id may appear once`);
    this.name = "DuplicateParameterError";
    this.id = id;
  }
}

/** A known SETUP parameter carried a value of the wrong shape. */
export class SetupParameterError extends DecodeError {
  constructor(message: string) {
    super(message);
    this.name = "SetupParameterError";
  }
}

/** A second SETUP arrived (on the Setup stream, or as a second Setup stream); close the session. */
export class SecondSetupError extends DecodeError {
  constructor(detail: string) {
    super(`${detail}: an endpoint sends exactly one SETUP, then FIN`);
    this.name = "SecondSetupError";
  }
}

/** TRACK_INFO carried timescale 0 (every lite-05 track is timed); reset the Track stream. */
export class InvalidTimescaleError extends DecodeError {
  constructor() {
    super("TRACK_INFO timescale is 0: it must be a non-zero number of units per second");
    this.name = "InvalidTimescaleError";
  }
}

/** A frame timestamp delta moved the timestamp outside [0, 2^62 − 1]; reset the stream. */
export class TimestampRangeError extends DecodeError {
  constructor(previous: bigint, delta: bigint) {
    super(
      `frame timestamp delta ${delta} applied to ${previous} leaves the range 0..2^62-1: ` +
        "the publisher's timestamps are corrupt",
    );
    this.name = "TimestampRangeError";
  }
}

/** A subscribe stream response carried a type other than START (0), END (1) or DROP (2). */
export class UnknownResponseTypeError extends DecodeError {
  readonly type: number;
  constructor(type: number) {
    super(`unknown SUBSCRIBE response type ${type}: lite-05 defines 0 START, 1 END, 2 DROP`);
    this.name = "UnknownResponseTypeError";
    this.type = type;
  }
}

/** ANNOUNCE_BROADCAST carried a status byte other than 0 (ended), 1 (active) or 2 (restart). */
export class AnnounceStatusError extends DecodeError {
  constructor(status: number) {
    super(`invalid ANNOUNCE status 0x${status.toString(16)}: lite-05 defines 0 ended, 1 active, 2 restart`);
    this.name = "AnnounceStatusError";
  }
}

/** The local side asked to encode something the wire cannot carry (a caller bug, not peer input). */
export class EncodeError05 extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EncodeError05";
  }
}

/**
 * The code to close the session (or reset the stream) with for a decode failure of this codec:
 * bounds → BoundsExceeded, unknown stream type → UnexpectedStream, second SETUP → ProtocolViolation,
 * other malformed input → Decode; `null` for errors that are not the peer's fault.
 */
export function codeForError05(err: unknown): number | null {
  if (err instanceof UnknownStreamTypeError) return Code05.UnexpectedStream;
  if (err instanceof SecondSetupError) return Code05.ProtocolViolation;
  if (err instanceof TimestampRangeError || err instanceof BoundsError) return Code05.BoundsExceeded;
  if (err instanceof DecodeError) return Code05.Decode;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Framing helpers

/** Encode a size-prefixed message. */
function message(body: (w: Writer) => void, typePrefix?: number): Uint8Array {
  const inner = new Writer(32);
  body(inner);
  const b = inner.view();
  const out = new Writer(b.length + 16);
  if (typePrefix !== undefined) out.varint(typePrefix);
  return out.varint(b.length).bytes(b).finish();
}

/**
 * Take one size-prefixed message out of `r` (an in-memory buffer of several messages) and return
 * a reader over its body. Raises {@link BoundsError} above `maxBytes`, {@link DecodeError} when
 * truncated.
 */
export function takeMessage(r: BodyReader, what: string, maxBytes = MAX_MESSAGE_BYTES): BodyReader {
  const size = r.varint(`${what} length`);
  if (size > maxBytes) throw new BoundsError(`${what} of ${size} bytes exceeds the ${maxBytes}-byte limit`);
  return new BodyReader(r.bytes(size, what), what);
}

/** Check a bidirectional stream type; unknown types raise {@link UnknownStreamTypeError}. */
export function parseBidiType05(type: number): BidiType05 {
  if (type >= BidiType05.Announce && type <= BidiType05.Track) return type as BidiType05;
  throw new UnknownStreamTypeError("bidirectional", type);
}

/** Check a unidirectional stream type; unknown types raise {@link UnknownStreamTypeError}. */
export function parseUniType05(type: number): UniType05 {
  if (type === UniType05.Group || type === UniType05.Setup) return type as UniType05;
  throw new UnknownStreamTypeError("unidirectional", type);
}

/** The varint that opens a stream of type `t`. */
export function encodeStreamType05(t: BidiType05 | UniType05): Uint8Array {
  return new Writer(2).varint(t).finish();
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Setup stream

/** Probe capability levels (monotonic; unknown values decode as {@link ProbeLevel.Increase}). */
export enum ProbeLevel {
  None = 0,
  Report = 1,
  Increase = 2,
}

/** The client's intended role; `Both` is the absence of the parameter (and any unknown value). */
export enum Role {
  Both = 0,
  Publisher = 1,
  Subscriber = 2,
}

/** SETUP parameter ids. */
export enum SetupParam {
  Probe = 0x1,
  Path = 0x2,
  Role = 0x3,
  Cost = 0x4,
  /** "Origin" in lite-05 code, renamed "Hop" in lite-06. */
  Origin = 0x5,
}

/** One endpoint's SETUP. Absent optional fields are omitted on the wire. */
export interface Setup {
  probe: ProbeLevel;
  /** Request `path?query`, client only, URI-less bindings only; empty means the default. */
  path?: string;
  role: Role;
  /** Link cost the sender declares (used for lite-06 routing; carried on 05). */
  cost?: number;
  /** The sender's hop id; 0 on the wire decodes as absent. */
  origin?: bigint;
}

/** Encode the whole Setup uni stream content: DataType 0x1, then the size-prefixed SETUP (then FIN). */
export function encodeSetupStream(s: Setup): Uint8Array {
  const params: Array<[SetupParam, Uint8Array]> = [];
  if (s.probe !== ProbeLevel.None) params.push([SetupParam.Probe, new Writer(8).varint(s.probe).finish()]);
  if (s.path !== undefined) {
    const path = utf8Encoder.encode(s.path);
    if (path.length > MAX_SETUP_PATH_BYTES) {
      throw new EncodeError05(`SETUP path of ${path.length} bytes exceeds ${MAX_SETUP_PATH_BYTES}`);
    }
    params.push([SetupParam.Path, path]);
  }
  if (s.role !== Role.Both) params.push([SetupParam.Role, new Writer(8).varint(s.role).finish()]);
  if (s.cost !== undefined) params.push([SetupParam.Cost, new Writer(8).varint(s.cost).finish()]);
  if (s.origin !== undefined && s.origin !== 0n) {
    params.push([SetupParam.Origin, new Writer(8).varint62(s.origin).finish()]);
  }
  const msg = message((w) => {
    w.varint(params.length);
    for (const [id, value] of params) w.varint(id).varint(value.length).bytes(value);
  });
  return new Writer(msg.length + 1).varint(UniType05.Setup).bytes(msg).finish();
}

function paramVarint(id: SetupParam, value: Uint8Array): bigint {
  const r = new BodyReader(value, `SETUP parameter 0x${id.toString(16)}`);
  if (value.length === 0) throw new SetupParameterError(`SETUP parameter 0x${id.toString(16)} is empty`);
  const v = r.varint62("its varint value");
  if (r.remaining !== 0) {
    throw new SetupParameterError(
      `SETUP parameter 0x${id.toString(16)} has ${r.remaining} bytes after its varint value`,
    );
  }
  return v;
}

/** Decode a SETUP body (after its length). Unknown parameter ids are skipped. */
export function decodeSetup(r: BodyReader): Setup {
  const count = r.varint("SETUP parameter count");
  if (count > MAX_SETUP_PARAMS) {
    throw new BoundsError(`SETUP carries ${count} parameters (at most ${MAX_SETUP_PARAMS})`);
  }
  const seen = new Set<bigint>();
  const setup: Setup = { probe: ProbeLevel.None, role: Role.Both };
  for (let i = 0; i < count; i++) {
    const wireId = r.varint62("SETUP parameter id");
    if (seen.has(wireId)) throw new DuplicateParameterError(wireId);
    seen.add(wireId);
    const len = r.varint("SETUP parameter length");
    const value = r.bytes(len, `SETUP parameter 0x${wireId.toString(16)}`);
    const id = wireId <= 0xffn ? Number(wireId) : -1;
    switch (id) {
      case SetupParam.Probe: {
        const v = paramVarint(id, value);
        setup.probe = v === 0n ? ProbeLevel.None : v === 1n ? ProbeLevel.Report : ProbeLevel.Increase;
        break;
      }
      case SetupParam.Path:
        if (value.length > MAX_SETUP_PATH_BYTES) {
          throw new BoundsError(`SETUP path of ${value.length} bytes exceeds ${MAX_SETUP_PATH_BYTES}`);
        }
        try {
          setup.path = utf8.decode(value);
        } catch {
          throw new SetupParameterError("SETUP path is not valid UTF-8");
        }
        break;
      case SetupParam.Role: {
        const v = paramVarint(id, value);
        setup.role = v === 1n ? Role.Publisher : v === 2n ? Role.Subscriber : Role.Both;
        break;
      }
      case SetupParam.Cost: {
        const v = paramVarint(id, value);
        setup.cost = v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
        break;
      }
      case SetupParam.Origin: {
        const v = paramVarint(id, value);
        if (v !== 0n) setup.origin = v;
        break;
      }
      default:
        break; // unknown parameters are ignored
    }
  }
  r.end("SETUP");
  return setup;
}

/**
 * Decode a complete Setup stream's content after its DataType (one size-prefixed SETUP, then FIN).
 * Bytes after the SETUP raise {@link SecondSetupError}.
 */
export function decodeSetupStream(afterType: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): Setup {
  const outer = new BodyReader(afterType, "Setup stream");
  const setup = decodeSetup(takeMessage(outer, "SETUP", maxBytes));
  if (outer.remaining !== 0) {
    throw new SecondSetupError(`the Setup stream carries ${outer.remaining} bytes after its SETUP`);
  }
  return setup;
}

/**
 * Read the SETUP from a Setup stream whose DataType was already consumed, and require the FIN
 * right after it ({@link SecondSetupError} otherwise).
 */
export async function readSetupStream(reader: StreamReader, maxBytes = MAX_MESSAGE_BYTES): Promise<Setup> {
  const setup = decodeSetup(await reader.message(maxBytes));
  if (!(await reader.done())) throw new SecondSetupError("the Setup stream continues after its SETUP");
  return setup;
}

/** Holds the peer's one SETUP; a second Setup stream raises {@link SecondSetupError}. */
export class PeerSetupSlot {
  #setup: Setup | undefined;

  /** The peer's SETUP, once received. */
  get setup(): Setup | undefined {
    return this.#setup;
  }

  /** Record the peer's SETUP; throws if one was already recorded. */
  record(setup: Setup): void {
    if (this.#setup !== undefined) throw new SecondSetupError("the peer opened a second Setup stream");
    this.#setup = setup;
  }
}

// ---------------------------------------------------------------------------------------------
// Announce stream

/** ANNOUNCE_REQUEST (lite-04's ANNOUNCE_INTEREST renamed; same body). `excludeHop` 0 = none. */
export interface AnnounceRequest {
  prefix: string;
  excludeHop: bigint;
}

/** Encode ANNOUNCE_REQUEST. */
export function encodeAnnounceRequest(m: AnnounceRequest): Uint8Array {
  return message((w) => w.string(m.prefix).varint62(m.excludeHop));
}

/** Decode ANNOUNCE_REQUEST. */
export function decodeAnnounceRequest(r: BodyReader): AnnounceRequest {
  const prefix = r.string(MAX_NAME_BYTES);
  const excludeHop = r.varint62("ANNOUNCE_REQUEST exclude hop");
  r.end("ANNOUNCE_REQUEST");
  return { prefix, excludeHop };
}

/** ANNOUNCE_OK: the responder's hop id (0 = unknown) and how many ANNOUNCEs follow as the initial set. */
export interface AnnounceOk {
  hop: bigint;
  activeCount: number;
}

/** Encode ANNOUNCE_OK. */
export function encodeAnnounceOk(m: AnnounceOk): Uint8Array {
  return message((w) => w.varint62(m.hop).varint(m.activeCount));
}

/** Decode ANNOUNCE_OK. */
export function decodeAnnounceOk(r: BodyReader): AnnounceOk {
  const hop = r.varint62("ANNOUNCE_OK hop id");
  const activeCount = r.varint("ANNOUNCE_OK active count");
  if (activeCount > MAX_ACTIVE_COUNT) {
    throw new BoundsError(`ANNOUNCE_OK promises ${activeCount} announcements (at most ${MAX_ACTIVE_COUNT})`);
  }
  r.end("ANNOUNCE_OK");
  return { hop, activeCount };
}

/**
 * ANNOUNCE_BROADCAST (same bytes as lite-04's ANNOUNCE). On lite-05 the sender does NOT append its
 * own hop: `hops` is the chain up to the sender, see {@link receivedHops}. A repeated `active` for a
 * live path is a restart (route change); status 2 decodes as active too.
 */
export interface AnnounceBroadcast {
  active: boolean;
  suffix: string;
  hops: bigint[];
}

/** Encode ANNOUNCE_BROADCAST; an ended announcement always carries an empty hop list. */
export function encodeAnnounceBroadcast(m: AnnounceBroadcast): Uint8Array {
  if (m.hops.length > MAX_HOPS_05) {
    throw new EncodeError05(`announcement carries ${m.hops.length} hops (at most ${MAX_HOPS_05})`);
  }
  return message((w) => {
    w.u8(m.active ? 1 : 0).string(m.suffix);
    const hops = m.active ? m.hops : [];
    w.varint(hops.length);
    for (const h of hops) w.varint62(h);
  });
}

/** Decode ANNOUNCE_BROADCAST. */
export function decodeAnnounceBroadcast(r: BodyReader): AnnounceBroadcast {
  const status = r.u8("ANNOUNCE status");
  if (status > 2) throw new AnnounceStatusError(status);
  const suffix = r.string(MAX_NAME_BYTES);
  const count = r.varint("ANNOUNCE hop count");
  if (count > MAX_HOPS_05) throw new BoundsError(`ANNOUNCE carries ${count} hops (at most ${MAX_HOPS_05})`);
  const hops: bigint[] = [];
  for (let i = 0; i < count; i++) hops.push(r.varint62("ANNOUNCE hop id"));
  r.end("ANNOUNCE");
  return { active: status !== 0, suffix, hops };
}

/**
 * The full hop chain of a received lite-05 announcement: its hops plus the responder's hop id from
 * ANNOUNCE_OK (or `fallbackHop`, a locally assigned peer id, when the responder sent 0). Raises
 * {@link BoundsError} when the result exceeds {@link MAX_HOPS_05}.
 */
export function receivedHops(hops: readonly bigint[], okHop: bigint, fallbackHop = 0n): bigint[] {
  const hop = okHop !== 0n ? okHop : fallbackHop;
  const out = hop === 0n ? [...hops] : [...hops, hop];
  if (out.length > MAX_HOPS_05) {
    throw new BoundsError(`announcement hop chain reaches ${out.length} hops (at most ${MAX_HOPS_05})`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Track stream

/** TRACK: the subscriber asks for a track's immutable properties. */
export interface TrackRequest {
  broadcast: string;
  track: string;
}

/** Encode TRACK. */
export function encodeTrack(m: TrackRequest): Uint8Array {
  return message((w) => w.string(m.broadcast).string(m.track));
}

/** Decode TRACK. */
export function decodeTrack(r: BodyReader): TrackRequest {
  const broadcast = r.string(MAX_NAME_BYTES);
  const track = r.string(MAX_NAME_BYTES);
  r.end("TRACK");
  return { broadcast, track };
}

/** TRACK_INFO: publisher priority, ordering, retention (Publisher Max Latency) and timescale. */
export interface TrackInfo {
  priority: number;
  ordered: boolean;
  /** How long a non-latest group is retained, in ms ({@link NO_LATENCY_LIMIT_MS} = no limit). */
  maxLatencyMs: number;
  /** Timestamp units per second, never 0. */
  timescale: number;
}

/** Encode TRACK_INFO; a zero timescale raises {@link EncodeError05}. */
export function encodeTrackInfo(m: TrackInfo): Uint8Array {
  if (m.timescale === 0) throw new EncodeError05("TRACK_INFO timescale must be non-zero");
  return message((w) => w.u8(m.priority).bool(m.ordered).varint(m.maxLatencyMs).varint(m.timescale));
}

/** Decode TRACK_INFO; timescale 0 raises {@link InvalidTimescaleError}. */
export function decodeTrackInfo(r: BodyReader): TrackInfo {
  const priority = r.u8("TRACK_INFO priority");
  const ordered = r.bool();
  const maxLatencyMs = r.clampedVarint("TRACK_INFO max latency");
  const timescale = r.varint("TRACK_INFO timescale");
  if (timescale === 0) throw new InvalidTimescaleError();
  r.end("TRACK_INFO");
  return { priority, ordered, maxLatencyMs, timescale };
}

// ---------------------------------------------------------------------------------------------
// Subscribe stream

export type { GroupHeader, Subscribe, SubscribeOk };

/** Encode SUBSCRIBE (body unchanged from lite-04). */
export function encodeSubscribe05(m: Subscribe): Uint8Array {
  return encodeSubscribe(Version.Lite04, m);
}

/** Decode SUBSCRIBE (body unchanged from lite-04). */
export function decodeSubscribe05(r: BodyReader): Subscribe {
  return decodeSubscribe(Version.Lite04, r);
}

/** Encode SUBSCRIBE_UPDATE (body unchanged from lite-04). */
export function encodeSubscribeUpdate05(m: SubscribeOk): Uint8Array {
  return encodeSubscribeUpdate(m);
}

/** Decode SUBSCRIBE_UPDATE (body unchanged from lite-04). */
export function decodeSubscribeUpdate05(r: BodyReader): SubscribeOk {
  return decodeSubscribeFields(r, "SUBSCRIBE_UPDATE");
}

/** Subscribe response type ids (`Type(i) || Length(i) || body`). */
export enum SubscribeResponseType {
  Start = 0x0,
  End = 0x1,
  Drop = 0x2,
}

/**
 * A lite-05 subscribe response: START (absolute first group), END (exclusive end: first group never
 * delivered) or DROP (inclusive range with an error code). Acceptance is implicit; rejection is a
 * stream reset.
 */
export type SubscribeResponse05 =
  | { type: "start"; group: number }
  | { type: "end"; group: number }
  | { type: "drop"; start: number; end: number; error: number };

/** Encode a subscribe response, type varint first. */
export function encodeSubscribeResponse05(m: SubscribeResponse05): Uint8Array {
  switch (m.type) {
    case "start":
      return message((w) => w.varint(m.group), SubscribeResponseType.Start);
    case "end":
      return message((w) => w.varint(m.group), SubscribeResponseType.End);
    case "drop":
      return message((w) => w.varint(m.start).varint(m.end).varint(m.error), SubscribeResponseType.Drop);
  }
}

/** Check a response type read before the length; unknown types raise {@link UnknownResponseTypeError}. */
export function parseSubscribeResponseType(type: number): SubscribeResponseType {
  if (type === 0 || type === 1 || type === 2) return type as SubscribeResponseType;
  throw new UnknownResponseTypeError(type);
}

/** Decode a subscribe response body of the given type (the type and length already read). */
export function decodeSubscribeResponse05(type: number, r: BodyReader): SubscribeResponse05 {
  switch (parseSubscribeResponseType(type)) {
    case SubscribeResponseType.Start: {
      const group = r.varint("SUBSCRIBE_START group");
      r.end("SUBSCRIBE_START");
      return { type: "start", group };
    }
    case SubscribeResponseType.End: {
      const group = r.varint("SUBSCRIBE_END group");
      r.end("SUBSCRIBE_END");
      return { type: "end", group };
    }
    case SubscribeResponseType.Drop: {
      const start = r.varint("SUBSCRIBE_DROP start");
      const end = r.varint("SUBSCRIBE_DROP end");
      const error = r.clampedVarint("SUBSCRIBE_DROP error");
      r.end("SUBSCRIBE_DROP");
      return { type: "drop", start, end, error };
    }
  }
}

/**
 * Read the next subscribe response from a Subscribe stream, or `null` at a clean FIN between
 * responses. The type is checked before the length is read, so an unknown type fails at once.
 */
export async function readSubscribeResponse05(
  reader: StreamReader,
  maxBytes = MAX_MESSAGE_BYTES,
): Promise<SubscribeResponse05 | null> {
  if (await reader.done()) return null;
  const type = parseSubscribeResponseType(await reader.varint());
  return decodeSubscribeResponse05(type, await reader.message(maxBytes));
}

// ---------------------------------------------------------------------------------------------
// Group stream and frames

/** Encode the GROUP stream's DataType 0x0 and header (unchanged from lite-04). */
export function encodeGroupHeader05(m: GroupHeader): Uint8Array {
  return encodeGroupHeader(m);
}

/** Decode a GROUP header body (unchanged from lite-04). */
export function decodeGroupHeader05(r: BodyReader): GroupHeader {
  return decodeGroupHeader(r);
}

/** Zigzag-map a signed delta in [−2^61, 2^61 − 1]; outside raises {@link EncodeError05}. */
export function zigzagEncode(delta: bigint): bigint {
  if (delta < -ZIGZAG_LIMIT || delta >= ZIGZAG_LIMIT) {
    throw new EncodeError05(`timestamp delta ${delta} is outside [-2^61, 2^61-1]`);
  }
  return delta >= 0n ? delta << 1n : ((-delta) << 1n) - 1n;
}

/**
 * {@link zigzagEncode}`(timestamp − previous)` computed in numbers, for timestamps in 0..2^53 − 1
 * whose result is at most 2^53 − 1 (allocates nothing); −1 otherwise (then use the bigint way).
 */
export function zigzagDeltaSafe(timestamp: bigint, previous: bigint): number {
  if (timestamp > MAX_SAFE_BIGINT || previous > MAX_SAFE_BIGINT || timestamp < 0n || previous < 0n) return -1;
  // Both exact, so is their difference; doubling is exact; an odd result above 2^53 − 1 may round
  // but stays above it.
  const delta = Number(timestamp) - Number(previous);
  const zigzag = delta >= 0 ? delta * 2 : -delta * 2 - 1;
  return zigzag <= Number.MAX_SAFE_INTEGER ? zigzag : -1;
}

/** Inverse of {@link zigzagEncode} for any varint value. */
export function zigzagDecode(value: bigint): bigint {
  return (value >> 1n) ^ -(value & 1n);
}

/**
 * The running timestamp of one group (or fetch) stream, sender side: each frame carries its delta
 * against the previous frame's timestamp, the first against 0. One per stream.
 */
export class FrameTimestampEncoder {
  #prev = 0n;

  /** The zigzag varint value for the next frame at absolute `timestamp` (track timescale units). */
  next(timestamp: bigint): bigint {
    if (timestamp < 0n || timestamp > MAX_TIMESTAMP) {
      throw new EncodeError05(`frame timestamp ${timestamp} is outside 0..2^62-1`);
    }
    const zz = zigzagEncode(timestamp - this.#prev);
    this.#prev = timestamp;
    return zz;
  }
}

/** The running timestamp of one group (or fetch) stream, receiver side. One per stream. */
export class FrameTimestampDecoder {
  #prev = 0n;
  /** `#prev` as a number while it is at most 2^53 − 1, else −1 (then {@link nextSafe} uses bigints). */
  #prevNumber = 0;

  /** The timestamp of the last frame decoded (0 before the first). */
  get last(): bigint {
    return this.#prev;
  }

  /** The absolute timestamp of the next frame from its zigzag varint value. */
  next(zigzag: bigint): bigint {
    const delta = zigzagDecode(zigzag);
    const ts = this.#prev + delta;
    if (ts < 0n || ts > MAX_TIMESTAMP) throw new TimestampRangeError(this.#prev, delta);
    this.#prev = ts;
    this.#prevNumber = ts <= MAX_SAFE_BIGINT ? Number(ts) : -1;
    return ts;
  }

  /**
   * {@link next} for a zigzag value already read as a number (at most 2^53 − 1): while the
   * timestamps stay below 2^53 it is computed without bigint arithmetic (one bigint made per frame,
   * the one the cache keeps). Same results and errors as {@link next}.
   */
  nextSafe(zigzag: number): bigint {
    const prev = this.#prevNumber;
    if (prev >= 0) {
      // zigzag ≤ 2^53 − 1, so zigzag + 1 and the halves are exact; a sum above 2^53 − 1 (even
      // rounded) fails the check and goes the exact way.
      const ts = prev + (zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2);
      if (ts >= 0 && ts <= Number.MAX_SAFE_INTEGER) {
        this.#prevNumber = ts;
        return (this.#prev = BigInt(ts));
      }
    }
    return this.next(BigInt(zigzag));
  }
}

/** A decoded lite-05 frame. `payload` is a view into the input. */
export interface Frame05 {
  timestamp: bigint;
  payload: Uint8Array;
}

/** Append one lite-05 FRAME (`TimestampDelta(i, zigzag) || Size(i) || Payload`) to `w`. */
export function writeFrame05(
  w: Writer,
  clock: FrameTimestampEncoder,
  timestamp: bigint,
  payload: Uint8Array,
): Writer {
  return w.varint62(clock.next(timestamp)).varint(payload.length).bytes(payload);
}

/** Encode one lite-05 FRAME into a fresh buffer. */
export function encodeFrame05(
  clock: FrameTimestampEncoder,
  timestamp: bigint,
  payload: Uint8Array,
): Uint8Array {
  return writeFrame05(new Writer(payload.length + 16), clock, timestamp, payload).finish();
}

/** Decode one FRAME from an in-memory buffer; payloads above `maxBytes` raise {@link BoundsError}. */
export function decodeFrame05(r: BodyReader, clock: FrameTimestampDecoder, maxBytes: number): Frame05 {
  const timestamp = clock.next(r.varint62("frame timestamp delta"));
  const size = r.varint("frame size");
  if (size > maxBytes) throw new BoundsError(`frame of ${size} bytes exceeds the ${maxBytes}-byte limit`);
  return { timestamp, payload: r.bytes(size, "frame payload") };
}

/** Read a frame's zigzag timestamp delta (a full 62-bit varint) from a stream. */
export async function readTimestampDelta05(reader: StreamReader): Promise<bigint> {
  const first = await reader.u8();
  const length = varintLength(first);
  let zz = BigInt(first & 0x3f);
  if (length > 1) {
    const rest = await reader.exact(length - 1);
    for (const b of rest) zz = (zz << 8n) | BigInt(b);
  }
  return zz;
}

/**
 * Read the next FRAME from a group or fetch stream (after the header), or `null` at a clean FIN
 * between frames. Payloads above `maxBytes` raise {@link BoundsError}.
 */
export async function readFrame05(
  reader: StreamReader,
  clock: FrameTimestampDecoder,
  maxBytes: number,
): Promise<Frame05 | null> {
  if (await reader.done()) return null;
  const timestamp = clock.next(await readTimestampDelta05(reader));
  const size = await reader.varint();
  if (size > maxBytes) throw new BoundsError(`frame of ${size} bytes exceeds the ${maxBytes}-byte limit`);
  return { timestamp, payload: await reader.exact(size) };
}

/**
 * The next FRAME of a group stream when it is already buffered in `reader` (read without a
 * promise): returned ENCODED as the relay caches it (`vi53 size` + payload, a view of the received
 * chunk, at most `viewUpToBytes`), its timestamp in `clock.last`. Undefined, nothing consumed, when
 * it is not all buffered (then use {@link readEncodedFrame05}). Payloads above `maxBytes` raise
 * {@link BoundsError}; a timestamp leaving 0..2^62 − 1 raises {@link TimestampRangeError}.
 */
export function bufferedFrame05(
  reader: StreamReader,
  clock: FrameTimestampDecoder,
  maxBytes: number,
  viewUpToBytes: number,
): Uint8Array | undefined {
  const frame = reader.bufferedFrameAfterVarint(maxBytes, viewUpToBytes);
  if (frame !== undefined) clock.nextSafe(reader.bufferedHeader);
  return frame;
}

/**
 * The next FRAME of a group stream, awaited: ENCODED as the relay caches it (see
 * {@link StreamReader.frame}), its timestamp in `clock.last`; `null` at a clean FIN between
 * frames. Same limits as {@link bufferedFrame05}; a stream ending inside a frame raises
 * {@link DecodeError}.
 */
export async function readEncodedFrame05(
  reader: StreamReader,
  clock: FrameTimestampDecoder,
  maxBytes: number,
  viewUpToBytes: number,
): Promise<Uint8Array | null> {
  if (await reader.done()) return null;
  // Waiting for more bytes is the one await a frame that arrives whole (often one per chunk) costs.
  const buffered = bufferedFrame05(reader, clock, maxBytes, viewUpToBytes);
  if (buffered !== undefined) return buffered;
  clock.next(await readTimestampDelta05(reader));
  const frame = await reader.frame(maxBytes, viewUpToBytes);
  if (frame === null) throw new DecodeError("group stream ended between a frame's timestamp and its size");
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Fetch stream

/** FETCH: one group of a track; answered with FRAMEs then FIN (no FETCH_OK, fresh timestamp baseline). */
export interface Fetch05 {
  broadcast: string;
  track: string;
  priority: number;
  group: number;
}

/** Encode FETCH. */
export function encodeFetch05(m: Fetch05): Uint8Array {
  return message((w) => w.string(m.broadcast).string(m.track).u8(m.priority).varint(m.group));
}

/** Decode FETCH. */
export function decodeFetch05(r: BodyReader): Fetch05 {
  const broadcast = r.string(MAX_NAME_BYTES);
  const track = r.string(MAX_NAME_BYTES);
  const priority = r.u8("FETCH priority");
  const group = r.varint("FETCH group");
  r.end("FETCH");
  return { broadcast, track, priority, group };
}

// ---------------------------------------------------------------------------------------------
// Probe, Goaway (unchanged from lite-04)

/** Encode PROBE (`Bitrate(i) || RTT(i ms)`, 0 = unknown). */
export function encodeProbe05(bitrate: number, rttMs: number): Uint8Array {
  return encodeProbe(Version.Lite04, bitrate, rttMs);
}

/** Decode PROBE. */
export function decodeProbe05(r: BodyReader): { bitrate: number; rttMs: number } {
  return decodeProbe(Version.Lite04, r);
}

/** Encode GOAWAY. */
export function encodeGoaway05(uri: string): Uint8Array {
  return encodeGoaway(uri);
}

/** Decode GOAWAY. */
export function decodeGoaway05(r: BodyReader): string {
  return decodeGoaway(r);
}

// ---------------------------------------------------------------------------------------------
// QUIC datagrams

/** A datagram body: one single-frame group. `payload` runs to the datagram's end (a view on decode). */
export interface Datagram05 {
  subscribeId: bigint;
  sequence: number;
  /** Absolute timestamp in the track's timescale. */
  timestamp: bigint;
  payload: Uint8Array;
}

/** Encode a datagram body; above `maxBytes` raises {@link EncodeError05} (send the group on a stream). */
export function encodeDatagram05(d: Datagram05, maxBytes = MAX_DATAGRAM_BYTES): Uint8Array {
  if (d.timestamp < 0n || d.timestamp > MAX_TIMESTAMP) {
    throw new EncodeError05(`datagram timestamp ${d.timestamp} is outside 0..2^62-1`);
  }
  const out = new Writer(d.payload.length + 24)
    .varint62(d.subscribeId)
    .varint(d.sequence)
    .varint62(d.timestamp)
    .bytes(d.payload)
    .finish();
  if (out.length > maxBytes) {
    throw new EncodeError05(`datagram of ${out.length} bytes exceeds the ${maxBytes}-byte limit`);
  }
  return out;
}

/** Decode a datagram body; above `maxBytes` raises {@link BoundsError}. */
export function decodeDatagram05(body: Uint8Array, maxBytes = MAX_DATAGRAM_BYTES): Datagram05 {
  if (body.length > maxBytes) {
    throw new BoundsError(`datagram of ${body.length} bytes exceeds the ${maxBytes}-byte limit`);
  }
  const r = new BodyReader(body, "datagram");
  const subscribeId = r.varint62("datagram subscribe id");
  const sequence = r.varint("datagram group sequence");
  const timestamp = r.varint62("datagram timestamp");
  return { subscribeId, sequence, timestamp, payload: r.rest() };
}
