/**
 * Media-like load: groups of {@link FRAMES_PER_GROUP} frames at {@link FRAMES_PER_SECOND} frames/s,
 * a ~100 KiB key frame then delta frames of a few KiB to ~60 KiB (about 1 MiB per group, so
 * ~1 MiB/s at the nominal rate). Every frame payload starts with the publisher's send time (a
 * float64, ms since the epoch) so receivers can measure publish → receive latency.
 *
 * @module
 */

import { putVarint, varintSize } from "../codec/mod.ts";

/** Frames per group (one group ≈ one second of video). */
export const FRAMES_PER_GROUP = 30;
/** Nominal frame rate. */
export const FRAMES_PER_SECOND = 30;
/** Size of a group's first (key) frame. */
export const KEY_FRAME_BYTES = 100 * 1024;
/** Smallest delta frame. */
export const MIN_DELTA_FRAME_BYTES = 4 * 1024;
/** Largest delta frame. */
export const MAX_DELTA_FRAME_BYTES = 60 * 1024;
/** Bytes of the send timestamp at the start of every payload. */
export const STAMP_BYTES = 8;

/** Payload size of frame `index` (0-based) of group `sequence`: deterministic pseudo-random deltas. */
export function frameSize(sequence: number, index: number): number {
  if (index === 0) return KEY_FRAME_BYTES;
  let x = (Math.imul(sequence + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x2c1b3c6d) >>> 0;
  x = (x ^ (x >>> 12)) >>> 0;
  const span = MAX_DELTA_FRAME_BYTES - MIN_DELTA_FRAME_BYTES;
  return MIN_DELTA_FRAME_BYTES + (x % (span + 1));
}

/** Payload bytes of one whole group. */
export function groupBytes(sequence: number): number {
  let total = 0;
  for (let i = 0; i < FRAMES_PER_GROUP; i++) total += frameSize(sequence, i);
  return total;
}

/** Average payload bytes per second at the nominal rate (rate multiplier 1). */
export function nominalBytesPerSecond(): number {
  let total = 0;
  const groups = 16;
  for (let g = 0; g < groups; g++) total += groupBytes(g);
  return (total / (groups * FRAMES_PER_GROUP)) * FRAMES_PER_SECOND;
}

/** Wall-clock time in ms since the epoch with sub-millisecond resolution (comparable across processes). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * One encoded moq-lite frame (`vi53 size` + payload) whose payload starts with the current time.
 * The rest of the payload is zeros.
 */
export function encodeStampedFrame(payloadBytes: number, stampMs: number = nowMs()): Uint8Array {
  const size = Math.max(STAMP_BYTES, payloadBytes);
  const prefix = varintSize(size);
  const out = new Uint8Array(prefix + size);
  putVarint(out, 0, size);
  new DataView(out.buffer, prefix, STAMP_BYTES).setFloat64(0, stampMs);
  return out;
}
