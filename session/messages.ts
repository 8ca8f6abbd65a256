/**
 * moq-lite 01–04 control messages: layouts per version (docs/protocol.md §4, §7).
 * Encoders return complete size-prefixed messages; decoders take a {@link BodyReader} over one body.
 *
 * @module
 */

import {
  BodyReader,
  BoundsError,
  DecodeError,
  putVarint,
  putVarint62,
  varintSize,
  Writer,
} from "../codec/mod.ts";

/** moq-lite draft versions. */
export enum Version {
  Lite01 = 0xff0dad01,
  Lite02 = 0xff0dad02,
  Lite03 = 0xff0dad03,
  Lite04 = 0xff0dad04,
  /** moq-lite-05 (wire in `lite05.ts`). */
  Lite05 = 0xff0dad05,
}

/** The version's name as used in config and logs. */
export function versionName(v: Version): string {
  return `moq-lite-0${v - 0xff0dad00}`;
}

/** Whether the version uses the legacy SETUP / session stream / ANNOUNCE_INIT (01/02). */
export function isLegacy(v: Version): boolean {
  return v === Version.Lite01 || v === Version.Lite02;
}

/** Bidirectional stream types (a varint at the start of the stream). */
export enum BidiType {
  Session = 0x00,
  Announce = 0x01,
  Subscribe = 0x02,
  Fetch = 0x03,
  Probe = 0x04,
  Goaway = 0x05,
  ClientSetup = 0x20,
}

/** The only unidirectional stream type: a group. */
export const UNI_GROUP = 0x00;

/** Largest control message the relay accepts. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Longest path or track name the relay accepts, in bytes. */
export const MAX_NAME_BYTES = 1024;
/** Most hops an announcement may carry. */
export const MAX_HOPS = 256;

function sized(w: Writer, body: (w: Writer) => void): Uint8Array {
  const inner = new Writer(32);
  body(inner);
  const b = inner.view();
  return w.varint(b.length).bytes(b).finish();
}

/** Encode a size-prefixed message. */
function message(body: (w: Writer) => void): Uint8Array {
  return sized(new Writer(48), body);
}

// ---------------------------------------------------------------------------------------------
// Legacy SETUP (01/02)

/** A CLIENT_SETUP (its type byte 0x20 already consumed). */
export interface ClientSetup {
  versions: number[];
  /**
   * The parameter section, raw (a count then parameters). Not parsed, as upstream: lite-01/02
   * clients disagree on its encoding (`@moq/lite` 0.2.2 writes draft-14 style, even ids with a bare
   * varint value; `@kixelated/moq` 0.9.4 writes every value length-prefixed) and the relay uses none.
   */
  parameters: Uint8Array;
}

/** Most versions one CLIENT_SETUP may list. */
export const MAX_LEGACY_SETUP_VERSIONS = 64;

/** Decode the u16-length CLIENT_SETUP body: the version list, then the raw parameter section. */
export function decodeClientSetup(r: BodyReader): ClientSetup {
  const count = r.varint();
  if (count > MAX_LEGACY_SETUP_VERSIONS) {
    throw new BoundsError(`CLIENT_SETUP lists ${count} versions (at most ${MAX_LEGACY_SETUP_VERSIONS})`);
  }
  const versions: number[] = [];
  for (let i = 0; i < count; i++) versions.push(r.varint());
  return { versions, parameters: r.rest() };
}

/** SERVER_SETUP selecting `version`, with no parameters. */
export function encodeServerSetup(version: Version): Uint8Array {
  const body = new Writer(16).varint(version).varint(0).finish();
  return new Writer(16).varint(0x21).u16(body.length).bytes(body).finish();
}

/** CLIENT_SETUP offering `versions` (used when the relay dials a peer without ALPN selection). */
export function encodeClientSetup(versions: Version[]): Uint8Array {
  const body = new Writer(32);
  body.varint(versions.length);
  for (const v of versions) body.varint(v);
  body.varint(0);
  const b = body.finish();
  return new Writer(48).varint(0x20).u16(b.length).bytes(b).finish();
}

/** Decode SERVER_SETUP (after its 0x21 type and u16 length). */
export function decodeServerSetup(r: BodyReader): number {
  const version = r.varint();
  const params = r.varint();
  for (let i = 0; i < params; i++) {
    const id = r.varint();
    if (id % 2 === 0) r.varint();
    else r.bytes(r.varint());
  }
  r.end("SERVER_SETUP");
  return version;
}

// ---------------------------------------------------------------------------------------------
// Announce

/** ANNOUNCE_INTEREST. `excludeHop` is a 62-bit origin id (0 = none), kept exact. */
export interface AnnounceInterest {
  prefix: string;
  excludeHop: bigint;
}

/** Encode ANNOUNCE_INTEREST. */
export function encodeAnnounceInterest(v: Version, m: AnnounceInterest): Uint8Array {
  return message((w) => {
    w.string(m.prefix);
    if (v === Version.Lite04) w.varint62(m.excludeHop);
  });
}

/** Decode ANNOUNCE_INTEREST. */
export function decodeAnnounceInterest(v: Version, r: BodyReader): AnnounceInterest {
  const prefix = r.string(MAX_NAME_BYTES);
  const excludeHop = v === Version.Lite04 ? r.varint62("ANNOUNCE_INTEREST exclude hop") : 0n;
  r.end("ANNOUNCE_INTEREST");
  return { prefix, excludeHop };
}

/** Encode ANNOUNCE_INIT (01/02). */
export function encodeAnnounceInit(suffixes: string[]): Uint8Array {
  return message((w) => {
    w.varint(suffixes.length);
    for (const s of suffixes) w.string(s);
  });
}

/** Decode ANNOUNCE_INIT (01/02). */
export function decodeAnnounceInit(r: BodyReader): string[] {
  const count = r.varint();
  if (count > 1_000_000) throw new BoundsError(`ANNOUNCE_INIT lists ${count} broadcasts`);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(r.string(MAX_NAME_BYTES));
  r.end("ANNOUNCE_INIT");
  return out;
}

/**
 * ANNOUNCE (active or ended). `hops` are origin ids (62-bit, kept exact), oldest first (03 carries
 * only the count).
 */
export interface Announce {
  active: boolean;
  suffix: string;
  hops: bigint[];
}

/** Encode ANNOUNCE. */
export function encodeAnnounce(v: Version, m: Announce): Uint8Array {
  return message((w) => {
    w.u8(m.active ? 1 : 0).string(m.suffix);
    if (v === Version.Lite03) w.varint(m.hops.length);
    else if (v === Version.Lite04) {
      w.varint(m.hops.length);
      for (const h of m.hops) w.varint62(h);
    }
  });
}

/** Decode ANNOUNCE. For lite-03 the hop ids are unknown and reported as zeros. */
export function decodeAnnounce(v: Version, r: BodyReader): Announce {
  const status = r.u8();
  if (status > 1) throw new DecodeError(`invalid ANNOUNCE status 0x${status.toString(16)}`);
  const suffix = r.string(MAX_NAME_BYTES);
  const hops: bigint[] = [];
  if (v === Version.Lite03 || v === Version.Lite04) {
    const count = r.varint();
    if (count > MAX_HOPS) throw new BoundsError(`ANNOUNCE carries ${count} hops (at most ${MAX_HOPS})`);
    for (let i = 0; i < count; i++) hops.push(v === Version.Lite04 ? r.varint62("ANNOUNCE hop id") : 0n);
  }
  r.end("ANNOUNCE");
  return { active: status === 1, suffix, hops };
}

// ---------------------------------------------------------------------------------------------
// Subscribe

/** SUBSCRIBE. `startGroup`/`endGroup` are undefined when absent. */
export interface Subscribe {
  id: bigint;
  broadcast: string;
  track: string;
  priority: number;
  ordered: boolean;
  maxLatencyMs: number;
  startGroup?: number;
  endGroup?: number;
}

function putOptGroup(w: Writer, g: number | undefined): void {
  w.varint(g === undefined ? 0 : g + 1);
}

function getOptGroup(r: BodyReader): number | undefined {
  const v = r.varint();
  return v === 0 ? undefined : v - 1;
}

/** Encode SUBSCRIBE. */
export function encodeSubscribe(v: Version, m: Subscribe): Uint8Array {
  return message((w) => {
    w.varint62(m.id).string(m.broadcast).string(m.track).u8(m.priority);
    if (!isLegacy(v)) {
      w.bool(m.ordered).varint(m.maxLatencyMs);
      putOptGroup(w, m.startGroup);
      putOptGroup(w, m.endGroup);
    }
  });
}

/** Decode SUBSCRIBE. */
export function decodeSubscribe(v: Version, r: BodyReader): Subscribe {
  const id = r.varint62();
  const broadcast = r.string(MAX_NAME_BYTES);
  const track = r.string(MAX_NAME_BYTES);
  const priority = r.u8();
  let ordered = false, maxLatencyMs = 0, startGroup: number | undefined, endGroup: number | undefined;
  if (!isLegacy(v)) {
    ordered = r.bool();
    maxLatencyMs = r.varint();
    startGroup = getOptGroup(r);
    endGroup = getOptGroup(r);
  }
  r.end("SUBSCRIBE");
  return { id, broadcast, track, priority, ordered, maxLatencyMs, startGroup, endGroup };
}

/** SUBSCRIBE_OK. */
export interface SubscribeOk {
  priority: number;
  ordered: boolean;
  maxLatencyMs: number;
  startGroup?: number;
  endGroup?: number;
}

/** Encode SUBSCRIBE_OK, including the 03/04 response type varint. */
export function encodeSubscribeOk(v: Version, m: SubscribeOk): Uint8Array {
  if (v === Version.Lite01) return message((w) => w.u8(m.priority));
  if (v === Version.Lite02) return message(() => {});
  const body = message((w) => {
    w.u8(m.priority).bool(m.ordered).varint(m.maxLatencyMs);
    putOptGroup(w, m.startGroup);
    putOptGroup(w, m.endGroup);
  });
  return new Writer(body.length + 1).varint(0).bytes(body).finish();
}

/** Encode SUBSCRIBE_UPDATE (03/04 only). */
export function encodeSubscribeUpdate(m: SubscribeOk): Uint8Array {
  return message((w) => {
    w.u8(m.priority).bool(m.ordered).varint(m.maxLatencyMs);
    putOptGroup(w, m.startGroup);
    putOptGroup(w, m.endGroup);
  });
}

/** Decode a SUBSCRIBE_OK / SUBSCRIBE_UPDATE body (03/04 layout). */
export function decodeSubscribeFields(r: BodyReader, what: string): SubscribeOk {
  const priority = r.u8();
  const ordered = r.bool();
  const maxLatencyMs = r.varint();
  const startGroup = getOptGroup(r);
  const endGroup = getOptGroup(r);
  r.end(what);
  return { priority, ordered, maxLatencyMs, startGroup, endGroup };
}

/** A decoded subscribe response. */
export type SubscribeResponse =
  | { type: "ok"; ok: SubscribeOk }
  | { type: "drop"; start: number; end: number; error: number };

/** Decode SUBSCRIBE_DROP (03/04). */
export function decodeSubscribeDrop(r: BodyReader): { start: number; end: number; error: number } {
  const start = r.varint();
  const end = r.varint();
  const error = r.varint();
  r.end("SUBSCRIBE_DROP");
  return { start, end, error };
}

// ---------------------------------------------------------------------------------------------
// Group

/** GROUP stream header. */
export interface GroupHeader {
  subscribeId: bigint;
  sequence: number;
}

/** Encode the GROUP stream type byte and header message. */
export function encodeGroupHeader(m: GroupHeader): Uint8Array {
  // One exact-size buffer: a relay writes one header per group per subscriber.
  const bodyBytes = varintSize(m.subscribeId) + varintSize(m.sequence);
  const out = new Uint8Array(1 + varintSize(bodyBytes) + bodyBytes);
  out[0] = UNI_GROUP;
  putVarint(out, putVarint62(out, putVarint(out, 1, bodyBytes), m.subscribeId), m.sequence);
  return out;
}

/** Decode a GROUP header body. */
export function decodeGroupHeader(r: BodyReader): GroupHeader {
  const subscribeId = r.varint62();
  const sequence = r.varint();
  r.end("GROUP header");
  return { subscribeId, sequence };
}

// ---------------------------------------------------------------------------------------------
// Probe, Goaway, Fetch, Session info

/** Encode PROBE (03: bitrate; 04: bitrate + rtt). */
export function encodeProbe(v: Version, bitrate: number, rttMs: number): Uint8Array {
  return message((w) => {
    w.varint(bitrate);
    if (v === Version.Lite04) w.varint(rttMs);
  });
}

/** Decode PROBE. */
export function decodeProbe(v: Version, r: BodyReader): { bitrate: number; rttMs: number } {
  const bitrate = r.varint();
  const rttMs = v === Version.Lite04 ? r.varint() : 0;
  r.end("PROBE");
  return { bitrate, rttMs };
}

/** Encode GOAWAY (04). */
export function encodeGoaway(uri: string): Uint8Array {
  return message((w) => w.string(uri));
}

/** Decode GOAWAY (04). */
export function decodeGoaway(r: BodyReader): string {
  const uri = r.string(MAX_NAME_BYTES * 4);
  r.end("GOAWAY");
  return uri;
}

/** Decode SESSION_INFO (01/02). */
export function decodeSessionInfo(r: BodyReader): number {
  const bitrate = r.varint();
  r.end("SESSION_INFO");
  return bitrate;
}

/** Encode a bidi stream type varint. */
export function encodeStreamType(t: BidiType): Uint8Array {
  return new Writer(2).varint(t).finish();
}
