/**
 * moq-lite-05 frames for frames served from the relay cache: each FRAME starts with the zigzag
 * delta of its timestamp against the previous frame on the same stream (the first against 0), in
 * the track's timescale (draft-lcurley-moq-lite-05; docs/lite05.md), then the cached `vi53 size` +
 * payload.
 *
 * Those bytes depend on the frame and its predecessor in the group only, never on the subscriber,
 * except for the first frame of a stream that starts mid-group (its delta is against 0: the
 * absolute timestamp). So each group keeps one lite-05 encoding of its frames ({@link Encoded05},
 * in {@link Group.encoding}), built once per frame the first time a lite-05 subscriber needs it and
 * shared by all of them: each frame is copied once, header and frame back to back (small frames
 * into shared chunks, so a run of them goes out as one write of one view; a large frame into a
 * buffer of its own), and every lite-05 subscriber writes it as lite-04 subscribers write the
 * cache: one write per run ({@link run05}), no per-subscriber copy. The copy costs one memcpy per
 * frame and the frame's bytes again in the cache budget while the group is cached; writing a
 * header apart instead would cost every subscriber an extra transport write (a WebSocket message
 * of its own, or a per-subscriber copy where the QUIC send path coalesces small writes).
 *
 * @module
 */

import { MAX_VARINT_BYTES, putVarint, putVarint62, varintLength, Writer } from "../codec/mod.ts";
import {
  FRAME_CHUNK_MAX_BYTES,
  FRAME_HEADER_OVERHEAD_BYTES,
  FRAME_OVERHEAD_BYTES,
  frameCost,
  type Group,
  SMALL_FRAME_BYTES,
} from "../relay/mod.ts";
import { zigzagDeltaSafe, zigzagEncode } from "./lite05.ts";

/**
 * What one {@link Encoded05} costs beyond its entries (the object, its entry lists, its run memo),
 * charged to the group's budget once.
 */
export const ENCODED05_OVERHEAD_BYTES = 512;
/** What one encoded frame costs beyond its bytes: its view (as a memoised header's) and its list slot. */
export const ENCODED05_ENTRY_OVERHEAD_BYTES = FRAME_HEADER_OVERHEAD_BYTES + 8;
/** Smallest shared chunk of encoded frames (chunks start small and double). */
const CHUNK_MIN_BYTES = 512;

/**
 * Consecutive frames of a group in moq-lite-05 framing, as one subscriber writes them: {@link bytes}
 * (one write), then {@link tail} when it is not null (the cached frame after a header encoded for
 * one stream alone). Shared by every lite-05 reader at the same frame: treat it as read-only.
 */
export interface Run05 {
  /** The first frame's number. */
  readonly start: number;
  /** How many frames the run holds (at least one). */
  readonly count: number;
  /** The run's lite-05 bytes (headers and frames back to back), or a header alone (see {@link tail}). */
  readonly bytes: Uint8Array;
  /** A stream's first frame starting mid-group: its cached bytes after its header; null otherwise. */
  readonly tail: Uint8Array | null;
  /** The frames' cached bytes (`vi53 size` + payload each, no timestamp), as stats count them. */
  readonly frameBytes: number;
  /** The frames' cost in the group's terms ({@link frameCost} each, summed). */
  readonly cost: number;
}

/**
 * The moq-lite-05 encoding of one group's frames, shared by its lite-05 subscribers. Entry `i` is
 * frame `first + i`: header and frame back to back, in a shared chunk for small frames, in a buffer
 * of its own for large ones. It starts at the frame after the first cached one when the group already
 * dropped frames (that frame's predecessor, and so its delta, is gone), and it drops entries of
 * frames the group dropped as it grows, so it never holds more frames than the group (its cost is
 * charged to the group with {@link Group.chargeMeta}).
 */
export class Encoded05 {
  readonly #group: Group;
  /** The frame number of `#entries[#head]`. */
  #first: number;
  #entries: (Uint8Array | undefined)[] = [];
  #head = 0;
  /** The timestamp of frame `#first + entries - 1` (the last encoded), or of `#first - 1`. */
  #prev: bigint;
  #chunk: Uint8Array | null = null;
  #chunkUsed = 0;
  /** The run last handed out and the number of entries it saw (readers in step share it). */
  #run: Run05 | null = null;
  #runEnd = 0;

  /** Start encoding `group` from its first cached frame whose predecessor is known. */
  constructor(group: Group) {
    this.#group = group;
    const start = group.dropped;
    this.#first = start === 0 ? 0 : start + 1;
    this.#prev = start === 0 ? 0n : group.timestamp(start) ?? 0n;
    group.chargeMeta(ENCODED05_OVERHEAD_BYTES);
  }

  /** The shared encoding of `group`, created on first use. */
  static of(group: Group): Encoded05 {
    const existing = group.encoding;
    if (existing instanceof Encoded05) return existing;
    const created = new Encoded05(group);
    group.encoding = created;
    return created;
  }

  /** One past the last encoded frame. */
  get #end(): number {
    return this.#first + this.#entries.length - this.#head;
  }

  /**
   * The longest run from frame `n` on whose lite-05 bytes lie back to back (at least frame `n`),
   * encoding newly cached frames first; undefined when frame `n` is no longer encoded or cached
   * (lagged; also a reader left at the group's first cached frame after the group dropped every
   * frame this encoding held: that frame's delta went with its predecessor).
   * Throws `EncodeError05` when frame `n`'s timestamp delta is beyond what the wire carries.
   */
  run(n: number): Run05 | undefined {
    const error = this.#extend();
    const end = this.#end;
    if (n >= end && error !== null) throw error;
    const memo = this.#run;
    if (memo !== null && memo.start === n && this.#runEnd === end) return memo;
    if (n < this.#first || n >= end || n < this.#group.dropped) return undefined;
    const entries = this.#entries;
    let i = this.#head + n - this.#first;
    const first = entries[i]!;
    let frameBytes = first.length - varintLength(first[0]);
    let count = 1;
    const buffer = first.buffer;
    let stop = first.byteOffset + first.byteLength;
    for (i++; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.buffer !== buffer || e.byteOffset !== stop) break; // large frames lie alone
      stop += e.byteLength;
      frameBytes += e.length - varintLength(e[0]);
      count++;
    }
    const bytes = count === 1 ? first : new Uint8Array(buffer, first.byteOffset, stop - first.byteOffset);
    const run: Run05 = {
      start: n,
      count,
      bytes,
      tail: null,
      frameBytes,
      cost: frameBytes + count * FRAME_OVERHEAD_BYTES,
    };
    this.#run = run;
    this.#runEnd = end;
    return run;
  }

  /**
   * Drop the entries of frames the group dropped, then encode every newly cached frame; returns
   * what stopped the encoding at a frame the wire cannot carry (null when every frame was encoded).
   */
  #extend(): unknown {
    const group = this.#group;
    let refund = 0;
    while (this.#first < group.dropped && this.#head < this.#entries.length) {
      refund += this.#entries[this.#head]!.length + ENCODED05_ENTRY_OVERHEAD_BYTES;
      this.#entries[this.#head] = undefined; // let it go now
      this.#head++;
      this.#first++;
      this.#run = null;
    }
    if (this.#head === this.#entries.length && this.#first < group.dropped) {
      // Every entry is gone and so is the predecessor of the next frame: start again after it.
      this.#first = group.dropped + 1;
      this.#prev = group.timestamp(group.dropped) ?? 0n;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    let charge = 0;
    try {
      for (let n = this.#end; n < group.frameCount; n++) {
        const frame = group.frame(n)!;
        const ts = group.timestamp(n)!;
        // In numbers while the timestamps allow (no bigint made per frame); else exact, and
        // throws (nothing stored) for a delta beyond 62 bits.
        const safe = zigzagDeltaSafe(ts, this.#prev);
        const zigzag = safe >= 0 ? safe : zigzagEncode(ts - this.#prev);
        let entry: Uint8Array;
        if (frame.length > SMALL_FRAME_BYTES) {
          const w = new Writer(MAX_VARINT_BYTES);
          const header = (typeof zigzag === "number" ? w.varint(zigzag) : w.varint62(zigzag)).finish();
          entry = new Uint8Array(header.length + frame.length);
          entry.set(header);
          entry.set(frame, header.length);
        } else {
          const chunk = this.#reserve(MAX_VARINT_BYTES + frame.length);
          const at = this.#chunkUsed;
          const headerEnd = typeof zigzag === "number"
            ? putVarint(chunk, at, zigzag)
            : putVarint62(chunk, at, zigzag);
          chunk.set(frame, headerEnd);
          this.#chunkUsed = headerEnd + frame.length;
          entry = chunk.subarray(at, this.#chunkUsed);
        }
        this.#prev = ts;
        this.#entries.push(entry);
        charge += entry.length + ENCODED05_ENTRY_OVERHEAD_BYTES;
      }
    } catch (err) {
      // The frames before it are encoded and still served; readers of this one fail.
      return err;
    } finally {
      if (group.state !== "open") this.#chunk = null; // no more frames: the free tail is not needed
      if (charge !== refund) group.chargeMeta(charge - refund);
    }
    return null;
  }

  /** A chunk with at least `bytes` free. */
  #reserve(bytes: number): Uint8Array {
    const chunk = this.#chunk;
    if (chunk !== null && chunk.length - this.#chunkUsed >= bytes) return chunk;
    const previous = chunk?.length ?? 0;
    const size = Math.max(bytes, Math.min(FRAME_CHUNK_MAX_BYTES, Math.max(CHUNK_MIN_BYTES, previous * 2)));
    this.#chunkUsed = 0;
    return (this.#chunk = new Uint8Array(size));
  }
}

/**
 * The run of frames from frame `n` a lite-05 subscriber writes next; `first` when `n` is the first
 * frame of its stream. Shared with every other lite-05 subscriber, except for the first frame of a
 * stream that starts mid-group (`first` and `n > 0`: its absolute timestamp, encoded for it alone).
 * Undefined when frame `n` is no longer cached (the subscriber lagged).
 */
export function run05(group: Group, n: number, first: boolean): Run05 | undefined {
  if (first && n !== 0) {
    // Its delta against 0: the absolute timestamp.
    const frame = group.frame(n);
    const ts = group.timestamp(n);
    if (frame === undefined || ts === undefined) return undefined;
    return {
      start: n,
      count: 1,
      bytes: encodeDelta(ts),
      tail: frame,
      frameBytes: frame.length,
      cost: frameCost(frame.length),
    };
  }
  return Encoded05.of(group).run(n);
}

function encodeDelta(delta: bigint): Uint8Array {
  return new Writer(MAX_VARINT_BYTES).varint62(zigzagEncode(delta)).finish();
}
