/**
 * moq-lite-05 frame timestamps for frames served from the relay cache: each FRAME starts with the
 * zigzag delta of its timestamp against the previous frame on the same stream (the first against
 * 0), in the track's timescale (draft-lcurley-moq-lite-05; docs/lite05.md). The cache keeps one
 * version-neutral timestamp per frame; this module turns it into the lite-05 header once per frame
 * and memoises it on the group, so every lite-05 subscriber writes the same buffer.
 *
 * @module
 */

import { Writer } from "../codec/mod.ts";
import type { Group } from "../relay/mod.ts";
import { zigzagEncode } from "./lite05.ts";

/**
 * The timestamp header of frame `n` of `group` on a stream whose previously written frame had
 * timestamp `prev` (it was frame `n - 1`), or `null` when `n` is the stream's first frame. Shared
 * (memoised) whenever the delta is the group's own (`n` is 0 or follows `n - 1`); a stream that
 * starts mid-group gets its first header encoded for it alone. Undefined when the frame is no
 * longer cached. Throws `EncodeError05` for a delta the wire cannot carry.
 */
export function timestampHeader05(group: Group, n: number, prev: bigint | null): Uint8Array | undefined {
  const ts = group.timestamp(n);
  if (ts === undefined) return undefined;
  if (prev === null && n !== 0) return encodeDelta(ts); // joined mid-group: absolute, not shared
  const memo = group.frameHeader(n);
  if (memo !== undefined) return memo;
  return group.setFrameHeader(n, encodeDelta(ts - (prev ?? 0n)));
}

function encodeDelta(delta: bigint): Uint8Array {
  return new Writer(8).varint62(zigzagEncode(delta)).finish();
}
