/**
 * Draft-aware primitives for the moq-transport codec: the two integer encodings (QUIC varints for
 * drafts 14–16, leading-ones varints from draft-17 §1.4.1), a bounded reader and a writer over them,
 * namespace tuples, key-value parameters and properties.
 *
 * @module
 */

import { BoundsError, DecodeError } from "../../codec/mod.ts";
import { getVarint, varintLength } from "../../codec/mod.ts";
import { Writer } from "../../codec/mod.ts";
import { deltaTypes, type Draft, usesLeadingOnes } from "./draft.ts";

/** Longest leading-ones varint, in bytes. */
export const MAX_LEADING_ONES_BYTES = 9;
/** Most fields a namespace tuple may carry (draft-ietf-moq-transport-14 §2.4.1). */
export const MAX_NAMESPACE_FIELDS = 32;
/** Most bytes a full track name (namespace fields plus track name) may take. */
export const MAX_FULL_NAME_BYTES = 4096;
/** Most parameters (or properties) one message may carry. */
export const MAX_PARAMETERS = 64;
/** Longest parameter value, reason phrase or setup option the codec accepts, in bytes. */
export const MAX_VALUE_BYTES = 8192;

/** Raised when a parameter is duplicated, has the wrong form or cannot appear in this draft. */
export class ParameterError extends DecodeError {
  constructor(message: string) {
    super(message);
    this.name = "ParameterError";
  }
}

/** Raised when a value cannot be encoded in the requested draft; fix the caller. */
export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EncodeError";
  }
}

// ---------------------------------------------------------------------------------------------
// Leading-ones varints (draft-ietf-moq-transport-17 §1.4.1)

/** Encoded size of `value` as a leading-ones varint (the 7-byte form is never produced). */
export function leadingOnesSize(value: number): 1 | 2 | 3 | 4 | 5 | 6 | 8 | 9 {
  if (value < 2 ** 7) return 1;
  if (value < 2 ** 14) return 2;
  if (value < 2 ** 21) return 3;
  if (value < 2 ** 28) return 4;
  if (value < 2 ** 35) return 5;
  if (value < 2 ** 42) return 6;
  if (value < 2 ** 56) return 8;
  return 9;
}

/**
 * Write `value` (0 ≤ value ≤ 2^53 − 1) as a leading-ones varint into `out` at `offset`; returns the
 * offset after it. The 7-byte form (reserved in draft-17) is skipped: values of 42–56 bits take 8.
 */
export function putLeadingOnes(out: Uint8Array, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new EncodeError(`cannot encode ${value} as a varint: pass an integer from 0 to 2^53-1`);
  }
  const size = leadingOnesSize(value);
  // Prefix: (size - 1) one bits, then a zero bit (except the 8- and 9-byte forms).
  const valueBytes = size === 9 ? 8 : size === 8 ? 7 : size - 1;
  let v = value;
  for (let i = size - 1; i >= size - valueBytes; i--) {
    out[offset + i] = v % 256;
    v = Math.floor(v / 256);
  }
  if (size === 9) out[offset] = 0xff;
  else if (size === 8) out[offset] = 0xfe;
  else out[offset] = ((0xff00 >> (size - 1)) & 0xff) | v;
  return offset + size;
}

/** Length in bytes of the leading-ones varint whose first byte is `first`. */
export function leadingOnesLength(first: number): number {
  let ones = 0;
  while (ones < 8 && (first & (0x80 >> ones)) !== 0) ones++;
  return ones + 1;
}

// ---------------------------------------------------------------------------------------------
// Reader

const textDecoder = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

/**
 * A bounded cursor over one message body (or stream chunk) whose integers use the draft's varint
 * encoding. Truncation raises {@link DecodeError}; lengths above limits raise {@link BoundsError}.
 */
export class IetfReader {
  readonly #buf: Uint8Array;
  readonly #unit: string;
  #pos = 0;
  /** The draft whose encodings this reader applies. */
  readonly draft: Draft;

  /** Read `buf` with `draft`'s encodings; `unit` names the input in error messages. */
  constructor(buf: Uint8Array, draft: Draft, unit = "message") {
    this.#buf = buf;
    this.draft = draft;
    this.#unit = unit;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  /** Bytes read so far. */
  get position(): number {
    return this.#pos;
  }

  /** An integer in the draft's varint encoding; values above 2^53 − 1 are rejected. */
  varint(what = "a varint"): number {
    if (this.#pos >= this.#buf.length) throw new DecodeError(`${this.#unit} truncated: missing ${what}`);
    const first = this.#buf[this.#pos];
    if (!usesLeadingOnes(this.draft)) {
      const size = varintLength(first);
      if (this.#pos + size > this.#buf.length) {
        throw new DecodeError(`${this.#unit} truncated inside ${what}`);
      }
      const value = getVarint(this.#buf, this.#pos);
      if (!Number.isSafeInteger(value)) throw new DecodeError(`${what} is larger than 2^53-1`);
      this.#pos += size;
      return value;
    }
    const size = leadingOnesLength(first);
    if (size === 7 && this.draft === 17) {
      throw new DecodeError(`${what} uses the 1111110x varint prefix, reserved in draft-17`);
    }
    if (this.#pos + size > this.#buf.length) throw new DecodeError(`${this.#unit} truncated inside ${what}`);
    const valueBytes = size - 1;
    let value = size >= 8 ? 0 : first & (0xff >> size);
    for (let i = 1; i <= valueBytes; i++) value = value * 256 + this.#buf[this.#pos + i];
    if (!Number.isSafeInteger(value)) throw new DecodeError(`${what} is larger than 2^53-1`);
    this.#pos += size;
    return value;
  }

  /** One raw byte. */
  u8(what = "a byte field"): number {
    if (this.#pos >= this.#buf.length) throw new DecodeError(`${this.#unit} truncated: missing ${what}`);
    return this.#buf[this.#pos++];
  }

  /** A byte that must be 0 or 1. */
  bool(what = "a bool field"): boolean {
    const b = this.u8(what);
    if (b > 1) throw new DecodeError(`${what} is 0x${b.toString(16)}, must be 0 or 1`);
    return b === 1;
  }

  /** Two bytes big-endian. */
  u16(what = "a 16-bit field"): number {
    return (this.u8(what) << 8) | this.u8(what);
  }

  /** `n` raw bytes (a view). */
  bytes(n: number, what = "a field"): Uint8Array {
    if (n > this.remaining) {
      throw new DecodeError(`${this.#unit} truncated: ${what} needs ${n} bytes, ${this.remaining} left`);
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** A length-prefixed byte string of at most `max` bytes (a view). */
  lengthPrefixed(what: string, max = MAX_VALUE_BYTES): Uint8Array {
    const len = this.varint(`${what} length`);
    if (len > max) throw new BoundsError(`${what} of ${len} bytes exceeds the ${max}-byte limit`);
    return this.bytes(len, what);
  }

  /** A length-prefixed UTF-8 string of at most `max` bytes. */
  string(what: string, max = MAX_VALUE_BYTES): string {
    const bytes = this.lengthPrefixed(what, max);
    try {
      return textDecoder.decode(bytes);
    } catch {
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
  }

  /** Everything not read yet (a view). */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  /** Assert that the whole input was consumed. */
  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${what} has ${this.remaining} trailing bytes`);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

/** A growable buffer whose integers use the draft's varint encoding. */
export class IetfWriter {
  readonly #w: Writer;
  readonly #scratch = new Uint8Array(MAX_LEADING_ONES_BYTES);
  /** The draft whose encodings this writer applies. */
  readonly draft: Draft;

  /** Start an empty buffer for `draft`. */
  constructor(draft: Draft, capacity = 64) {
    this.draft = draft;
    this.#w = new Writer(capacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#w.length;
  }

  /** An integer (0 to 2^53 − 1) in the draft's varint encoding. */
  varint(value: number): this {
    if (usesLeadingOnes(this.draft)) {
      const n = putLeadingOnes(this.#scratch, 0, value);
      this.#w.bytes(this.#scratch.subarray(0, n));
    } else {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new EncodeError(`cannot encode ${value} as a varint: pass an integer from 0 to 2^53-1`);
      }
      this.#w.varint(value);
    }
    return this;
  }

  /** One raw byte (0–255). */
  u8(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new EncodeError(`${value} does not fit in a byte field: pass 0 to 255`);
    }
    this.#w.u8(value);
    return this;
  }

  /** A bool byte. */
  bool(value: boolean): this {
    this.#w.u8(value ? 1 : 0);
    return this;
  }

  /** Two bytes big-endian. */
  u16(value: number): this {
    this.#w.u16(value);
    return this;
  }

  /** Raw bytes. */
  bytes(data: Uint8Array): this {
    this.#w.bytes(data);
    return this;
  }

  /** A varint length then the bytes. */
  lengthPrefixed(data: Uint8Array): this {
    return this.varint(data.length).bytes(data);
  }

  /** A varint length then the UTF-8 bytes of `value`. */
  string(value: string): this {
    return this.lengthPrefixed(textEncoder.encode(value));
  }

  /** The written bytes (a view, valid until the next write). */
  view(): Uint8Array {
    return this.#w.view();
  }

  /** A copy of the written bytes. */
  finish(): Uint8Array {
    return this.#w.finish();
  }
}

/** Encode `value` as a single varint in `draft`'s encoding. */
export function encodeDraftVarint(draft: Draft, value: number): Uint8Array {
  return new IetfWriter(draft, 9).varint(value).finish();
}

// ---------------------------------------------------------------------------------------------
// Namespace tuples and names

/** Write a namespace tuple (count then length-prefixed fields). */
export function writeNamespace(w: IetfWriter, ns: readonly string[]): void {
  if (ns.length > MAX_NAMESPACE_FIELDS) {
    throw new EncodeError(`namespace has ${ns.length} fields; at most ${MAX_NAMESPACE_FIELDS} fit`);
  }
  w.varint(ns.length);
  for (const field of ns) w.string(field);
}

/** Read a namespace tuple of at most 32 fields and 4096 bytes. */
export function readNamespace(r: IetfReader, what = "namespace"): string[] {
  const count = r.varint(`${what} field count`);
  if (count > MAX_NAMESPACE_FIELDS) {
    throw new BoundsError(`${what} has ${count} fields (at most ${MAX_NAMESPACE_FIELDS})`);
  }
  const out: string[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const field = r.string(`${what} field`, MAX_FULL_NAME_BYTES);
    total += textEncoder.encode(field).length;
    if (total > MAX_FULL_NAME_BYTES) {
      throw new BoundsError(`${what} exceeds ${MAX_FULL_NAME_BYTES} bytes`);
    }
    out.push(field);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parameters, setup options and properties

/**
 * One key-value pair. Even types carry an integer (`number`); odd types carry bytes. In drafts 17+
 * message parameters are definition-specific: a few even types are a single byte (priorities, group
 * order) or a bool, still held as a `number`.
 */
export interface Param {
  /** The parameter type (key). */
  type: number;
  /** An integer for even types, bytes for odd ones. */
  value: number | Uint8Array;
}

/** How a draft-17+ message parameter's value is laid out. */
type ParamForm = "varint" | "u8" | "bool" | "bytes";

/** Well-known message parameter types (draft-ietf-moq-transport-15 … -20 parameter registries). */
export const MessageParam = {
  DeliveryTimeout: 0x02,
  AuthorizationToken: 0x03,
  MaxCacheDuration: 0x04,
  SubgroupDeliveryTimeout: 0x06,
  Expires: 0x08,
  LargestObject: 0x09,
  PublisherPriority: 0x0e,
  Forward: 0x10,
  SubscriberPriority: 0x20,
  SubscriptionFilter: 0x21,
  GroupOrder: 0x22,
  FillParameters: 0x23,
  IncludeProperties: 0x35,
  HopPath: 0x40b57,
  RouteCost: 0x40b58,
} as const;

/** Setup option types (draft-ietf-moq-transport-14 … -20 setup parameter registries, MoQ extensions). */
export const SetupOption = {
  Path: 0x01,
  MaxRequestId: 0x02,
  AuthorizationToken: 0x03,
  MaxAuthTokenCacheSize: 0x04,
  Authority: 0x05,
  Implementation: 0x07,
  RelayHops: 0x40b55,
  RelayCost: 0x40b56,
  Solicit: 0x40b5a,
} as const;

/** The draft-17+ layout of an even message parameter type, or undefined when unknown. */
function evenForm(type: number): ParamForm | undefined {
  switch (type) {
    case MessageParam.DeliveryTimeout:
    case MessageParam.MaxCacheDuration:
    case MessageParam.SubgroupDeliveryTimeout:
    case MessageParam.Expires:
    case MessageParam.RouteCost:
      return "varint";
    case MessageParam.PublisherPriority:
    case MessageParam.SubscriberPriority:
    case MessageParam.GroupOrder:
      return "u8";
    case MessageParam.Forward:
      return "bool";
    default:
      return undefined;
  }
}

function formOf(type: number, draft: Draft, typed: boolean): ParamForm {
  if (type % 2 === 1) return "bytes";
  if (!typed || draft < 17) return "varint";
  const form = evenForm(type);
  if (form === undefined) {
    throw new ParameterError(
      `message parameter 0x${type.toString(16)} is unknown; draft-${draft} gives it no skippable form`,
    );
  }
  return form;
}

function writePairs(w: IetfWriter, params: readonly Param[], typed: boolean): void {
  const delta = deltaTypes(w.draft);
  let prev = 0;
  const seen = new Set<number>();
  for (const p of params) {
    if (seen.has(p.type)) throw new EncodeError(`parameter 0x${p.type.toString(16)} given twice`);
    seen.add(p.type);
    if (delta && p.type < prev) {
      throw new EncodeError(`draft-${w.draft} needs parameters sorted by type; sort them first`);
    }
    w.varint(delta ? p.type - prev : p.type);
    prev = p.type;
    const form = formOf(p.type, w.draft, typed);
    if (form === "bytes") {
      if (!(p.value instanceof Uint8Array)) {
        throw new EncodeError(`parameter 0x${p.type.toString(16)} is odd: give it bytes`);
      }
      w.lengthPrefixed(p.value);
      continue;
    }
    if (typeof p.value !== "number") {
      throw new EncodeError(`parameter 0x${p.type.toString(16)} is even: give it a number`);
    }
    if (form === "varint") w.varint(p.value);
    else if (form === "u8") w.u8(p.value);
    else {
      if (p.value !== 0 && p.value !== 1) throw new EncodeError(`bool parameter must be 0 or 1`);
      w.u8(p.value);
    }
  }
}

function readPair(
  r: IetfReader,
  i: number,
  prev: number,
  seen: Set<number>,
  typed: boolean,
  what: string,
): Param {
  const raw = r.varint(`${what} type`);
  const type = deltaTypes(r.draft) && i > 0 ? prev + raw : raw;
  if (!Number.isSafeInteger(type)) throw new ParameterError(`${what} type overflows`);
  if (seen.has(type)) throw new ParameterError(`${what} 0x${type.toString(16)} appears twice`);
  seen.add(type);
  const form = formOf(type, r.draft, typed);
  switch (form) {
    case "bytes":
      return { type, value: r.lengthPrefixed(`${what} 0x${type.toString(16)}`) };
    case "varint":
      return { type, value: r.varint(`${what} 0x${type.toString(16)}`) };
    case "u8":
      return { type, value: r.u8(`${what} 0x${type.toString(16)}`) };
    case "bool":
      return { type, value: r.bool(`${what} 0x${type.toString(16)}`) ? 1 : 0 };
  }
}

/** Write message parameters: a count, then pairs (delta types from 16, typed forms from 17). */
export function writeParams(w: IetfWriter, params: readonly Param[]): void {
  if (params.length > MAX_PARAMETERS) throw new EncodeError(`${params.length} parameters; at most 64`);
  w.varint(params.length);
  writePairs(w, params, true);
}

/** Read count-prefixed message parameters; duplicates and (17+) unknown even types are rejected. */
export function readParams(r: IetfReader): Param[] {
  const count = r.varint("parameter count");
  if (count > MAX_PARAMETERS) {
    throw new BoundsError(`${count} parameters exceed the limit of ${MAX_PARAMETERS}`);
  }
  const out: Param[] = [];
  const seen = new Set<number>();
  let prev = 0;
  for (let i = 0; i < count; i++) {
    const p = readPair(r, i, prev, seen, true, "parameter");
    prev = p.type;
    out.push(p);
  }
  return out;
}

/**
 * Write setup options: count-prefixed pairs (14–16; delta types in 16) or, from 17, pairs running
 * to the end of the SETUP message. Even types carry varints, odd types bytes.
 */
export function writeSetupOptions(w: IetfWriter, options: readonly Param[]): void {
  if (options.length > MAX_PARAMETERS) throw new EncodeError(`${options.length} setup options; at most 64`);
  if (w.draft <= 16) w.varint(options.length);
  writePairs(w, options, false);
}

/** Read setup options (see {@link writeSetupOptions}); duplicates are rejected. */
export function readSetupOptions(r: IetfReader): Param[] {
  const out: Param[] = [];
  const seen = new Set<number>();
  let prev = 0;
  const counted = r.draft <= 16;
  const count = counted ? r.varint("setup option count") : 0;
  if (count > MAX_PARAMETERS) {
    throw new BoundsError(`${count} setup options exceed the limit of ${MAX_PARAMETERS}`);
  }
  for (let i = 0; counted ? i < count : r.remaining > 0; i++) {
    if (i >= MAX_PARAMETERS) throw new BoundsError(`more than ${MAX_PARAMETERS} setup options`);
    const p = readPair(r, i, prev, seen, false, "setup option");
    prev = p.type;
    out.push(p);
  }
  return out;
}

/**
 * Write properties (track properties of 16+, object extension headers): pairs with no count, even
 * types carrying varints and odd types bytes; types are delta-encoded from draft-16.
 */
export function writeProperties(w: IetfWriter, props: readonly Param[]): void {
  if (props.length > MAX_PARAMETERS) throw new EncodeError(`${props.length} properties; at most 64`);
  writePairs(w, props, false);
}

/** Read properties until the reader is exhausted. */
export function readProperties(r: IetfReader, what = "property"): Param[] {
  const out: Param[] = [];
  const seen = new Set<number>();
  let prev = 0;
  for (let i = 0; r.remaining > 0; i++) {
    if (i >= MAX_PARAMETERS) throw new BoundsError(`more than ${MAX_PARAMETERS} ${what}s`);
    const p = readPair(r, i, prev, seen, false, what);
    prev = p.type;
    out.push(p);
  }
  return out;
}

/** Remove and return the parameter of `type` from `params`. */
export function takeParam(params: Param[], type: number): Param | undefined {
  const i = params.findIndex((p) => p.type === type);
  if (i < 0) return undefined;
  return params.splice(i, 1)[0];
}

/** Sort parameters by type (drafts 16+ need sorted, delta-encoded types). */
export function sortParams(params: Param[]): Param[] {
  return params.sort((a, b) => a.type - b.type);
}
