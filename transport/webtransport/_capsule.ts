/**
 * Capsules (RFC 9297 §3.2) on the WebTransport CONNECT stream, carried inside HTTP/3 DATA frames:
 * CLOSE_WEBTRANSPORT_SESSION and DRAIN_WEBTRANSPORT_SESSION; everything else (GREASE included) is
 * skipped without buffering it.
 *
 * @module
 */

import { concatBytes, decodeVarint, encodeTlv, truncateUtf8 } from "../../codec/mod.ts";
import { encodeH3Frame, FRAME } from "./h3.ts";

/** Capsule types. */
export const CAPSULE = {
  CLOSE_WEBTRANSPORT_SESSION: 0x2843,
  DRAIN_WEBTRANSPORT_SESSION: 0x78ae,
} as const;

/** Largest accepted CLOSE reason in bytes (draft: 1024). */
export const MAX_CLOSE_REASON_BYTES = 1024;
/** Largest known capsule buffered whole (CLOSE is 4 + 1024 bytes). */
export const MAX_BUFFERED_CAPSULE_BYTES = 4096;

/** Raised for a malformed capsule. */
export class CapsuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CapsuleError";
  }
}

/** A decoded capsule the session cares about. */
export type Capsule =
  | { type: "close"; code: number; reason: string }
  | { type: "drain" };

const KNOWN = new Set<number>([CAPSULE.CLOSE_WEBTRANSPORT_SESSION, CAPSULE.DRAIN_WEBTRANSPORT_SESSION]);
const utf8 = new TextDecoder();

/** Encode a capsule: type, length, payload. */
export function encodeCapsule(type: number, payload: Uint8Array): Uint8Array {
  return encodeTlv(type, payload);
}

/** CLOSE_WEBTRANSPORT_SESSION wrapped in an HTTP/3 DATA frame, ready to write on the CONNECT stream. */
export function encodeCloseSessionData(code: number, reason: string): Uint8Array {
  const reasonBytes = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
  const payload = new Uint8Array(4 + reasonBytes.byteLength);
  new DataView(payload.buffer).setUint32(0, code >>> 0);
  payload.set(reasonBytes, 4);
  return encodeH3Frame(FRAME.DATA, encodeCapsule(CAPSULE.CLOSE_WEBTRANSPORT_SESSION, payload));
}

/**
 * An incremental capsule parser: feed it the payloads of DATA frames (capsules may span frames)
 * and it returns the complete known capsules.
 */
export class CapsuleParser {
  #buffer: Uint8Array = new Uint8Array(0);
  /** Bytes of an unknown capsule still to skip. */
  #skipping = 0;

  /** Feed bytes; returns the capsules completed by them. Throws {@link CapsuleError}. */
  push(bytes: Uint8Array): Capsule[] {
    let input = bytes;
    if (this.#skipping > 0) {
      const n = Math.min(this.#skipping, input.byteLength);
      this.#skipping -= n;
      input = input.subarray(n);
    }
    if (input.byteLength === 0) return [];
    if (this.#buffer.byteLength > 0) input = concatBytes([this.#buffer, input]);
    const capsules: Capsule[] = [];
    let offset = 0;
    while (offset < input.byteLength) {
      const type = decodeVarint(input, offset);
      if (!type) break;
      const length = decodeVarint(input, offset + type.length);
      if (!length) break;
      const payloadStart = offset + type.length + length.length;
      if (!KNOWN.has(type.value)) {
        const available = input.byteLength - payloadStart;
        if (available < length.value) {
          this.#skipping = length.value - available;
          offset = input.byteLength;
          break;
        }
        offset = payloadStart + length.value;
        continue;
      }
      if (length.value > MAX_BUFFERED_CAPSULE_BYTES) {
        throw new CapsuleError(`capsule 0x${type.value.toString(16)} of ${length.value} bytes is too large`);
      }
      if (input.byteLength - payloadStart < length.value) break;
      const payload = input.subarray(payloadStart, payloadStart + length.value);
      offset = payloadStart + length.value;
      capsules.push(decodeKnown(type.value, payload));
    }
    this.#buffer = offset < input.byteLength ? input.slice(offset) : new Uint8Array(0);
    if (this.#buffer.byteLength > MAX_BUFFERED_CAPSULE_BYTES + 16) {
      throw new CapsuleError("capsule buffer overflow");
    }
    return capsules;
  }

  /** True when no partial capsule is pending (a FIN here is clean). */
  get idle(): boolean {
    return this.#buffer.byteLength === 0 && this.#skipping === 0;
  }
}

function decodeKnown(type: number, payload: Uint8Array): Capsule {
  if (type === CAPSULE.DRAIN_WEBTRANSPORT_SESSION) return { type: "drain" };
  if (payload.byteLength < 4) {
    throw new CapsuleError("CLOSE_WEBTRANSPORT_SESSION shorter than its 4-byte code");
  }
  if (payload.byteLength > 4 + MAX_CLOSE_REASON_BYTES) {
    throw new CapsuleError("CLOSE_WEBTRANSPORT_SESSION reason longer than 1024 bytes");
  }
  const code = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
  return { type: "close", code, reason: utf8.decode(payload.subarray(4)) };
}
