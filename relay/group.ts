/**
 * One group of a track: an ordered list of frames, shared by every subscriber.
 *
 * Frames are stored ENCODED (`vi53 size` + payload, exactly as they go on a GROUP stream), so a
 * subscriber forwards the very same `Uint8Array` the publisher's bytes were stored in: one buffer
 * per frame for all subscribers, no per-subscriber copy or allocation.
 *
 * Budgets count what memory really costs, not only payload: every cached frame is charged
 * {@link FRAME_OVERHEAD_BYTES} on top of its bytes and every group {@link GROUP_OVERHEAD_BYTES}, so
 * zero-length frames (one byte on the wire) cannot make a "32 MiB" group hold millions of objects.
 * Small frames are copied into shared chunk buffers and kept as views into them (a view costs a
 * small object; a buffer of its own costs a backing store), and a group caches at most
 * {@link MAX_GROUP_FRAMES} frames.
 *
 * Every frame also carries a timestamp in its track's timescale (`TrackInfo.timescale`): the
 * publisher's own when its wire version has one, else the arrival time in milliseconds. It is a
 * `bigint` (62-bit wire values survive exactly) and is version-neutral; a session whose wire needs a
 * per-frame header derived from it (moq-lite-05's zigzag delta) keeps its own re-encoding of the
 * group in {@link Group.encoding}, shared by the subscribers of that version.
 *
 * @module
 */

/** Most bytes (cost: encoded bytes plus per-frame overhead) cached per group; oldest frames go first. */
export const MAX_GROUP_CACHE_BYTES = 32 * 1024 * 1024;
/** Most frames cached per group; beyond that the oldest frames are dropped. */
export const MAX_GROUP_FRAMES = 32_768;
/**
 * What one cached frame costs beyond its bytes: the view object, its timestamp (a heap `bigint`)
 * and its slots in the frame and timestamp lists. Measured with `Deno.memoryUsage()` (with a third list then) over
 * 300,000 zero-length frames (Deno 2.9.6): 155 bytes per frame.
 */
export const FRAME_OVERHEAD_BYTES = 160;
/**
 * What one view into a shared buffer costs beyond its bytes (a session layer's per-frame entry in
 * its {@link Group.encoding}, say). Measured as above: 104 bytes per view.
 */
export const FRAME_HEADER_OVERHEAD_BYTES = 112;
/** What one group costs beyond its frames: the group object, its frame list and waiters. */
export const GROUP_OVERHEAD_BYTES = 1024;
/**
 * Frames up to this many encoded bytes are copied into a shared chunk instead of kept alone. Frames
 * copied one after the other into one chunk lie back to back, exactly as on a GROUP stream, so a
 * run of them goes out as one write ({@link Group.run}).
 */
export const SMALL_FRAME_BYTES = 4 * 1024;
/** Largest shared chunk for small frames (chunks start small and double). */
export const FRAME_CHUNK_MAX_BYTES = 64 * 1024;
const FRAME_CHUNK_MIN_BYTES = 512;

/** The budget cost of one cached frame of `encodedBytes`. */
export function frameCost(encodedBytes: number): number {
  return encodedBytes + FRAME_OVERHEAD_BYTES;
}

/**
 * Told of every change of a group's cached cost (`cost`, what the budget counts) and of its
 * cached encoded bytes (`bytes`, what the frames hold).
 */
export type GroupBudget = (cost: number, bytes: number) => void;

/** A group's lifecycle. */
export type GroupState = "open" | "done" | "aborted";

/**
 * Consecutive cached frames stored back to back: {@link bytes} is exactly what a GROUP stream
 * carries for frames `start` .. `start + count - 1` (each `vi53 size` + payload). Shared by every
 * reader that asks for the same run: treat it as read-only.
 */
export interface FrameRun {
  /** The first frame's number. */
  readonly start: number;
  /** How many frames the run holds (at least one). */
  readonly count: number;
  /** The frames' encoded bytes, back to back (a view of the cache, never a copy). */
  readonly bytes: Uint8Array;
  /** The frames' cost ({@link frameCost} each, summed). */
  readonly cost: number;
}

/** A cached group. Writers append; readers index frames and await {@link Group.changed}. */
export class Group {
  /** The group sequence number. */
  readonly sequence: number;
  /** When the group was created (ms since epoch, `Date.now()`), for cache expiry. */
  readonly createdAtMs: number;
  /** How many leading frames were dropped to stay under the group's budgets. */
  dropped = 0;
  /** Cost of the cached frames ({@link frameCost} each), the group overhead excluded. */
  bytes = 0;
  /** Encoded bytes of the cached frames (what the frames themselves hold, without overhead). */
  encodedBytes = 0;
  /** Cost of every frame ever appended, dropped ones included (readers compare with what they sent). */
  totalBytes = 0;
  /** Current state. */
  state: GroupState = "open";
  /** The reset code when aborted. */
  abortCode = 0;
  /**
   * The publisher sent this single-frame group as a QUIC datagram: it may be forwarded the same way
   * to subscribers whose transport and version carry datagrams (streams elsewhere).
   */
  viaDatagram = false;
  /**
   * What the publishing session's protocol knows of this group beyond its frames (moq-transport:
   * subgroup id, object ids, priority), for subscribers of the same protocol. Opaque to the relay;
   * whoever sets it keeps its size bounded.
   */
  meta: unknown = undefined;
  /**
   * A session layer's re-encoding of this group's frames for a wire version whose frames differ
   * from the cached ones (moq-lite-05: a timestamp delta before each frame), built once and shared
   * by every subscriber of that version. Opaque to the relay: its owner charges it to the budget
   * with {@link chargeMeta} and keeps it no larger than the cached frames it re-encodes.
   */
  encoding: unknown = undefined;

  /** Bytes of {@link meta} (and session-layer memos) charged to the budget by {@link chargeMeta}. */
  #metaBytes = 0;
  /** Cached frames; `#frames[#head + i]` is frame number `dropped + i`. */
  #frames: (Uint8Array | undefined)[] = [];
  /** Each cached frame's timestamp (same indexing as `#frames`). */
  #stamps: (bigint | undefined)[] = [];
  #head = 0;
  #chunk: Uint8Array | null = null;
  #chunkUsed = 0;
  /** Called with the cost and encoded-byte deltas whenever the cache changes (the cache's budget). */
  readonly #onBytes: GroupBudget;
  #released = false;
  #wake: (() => void) | null = null;
  #changed: Promise<void> | null = null;
  /** Frames were appended without waking readers (see {@link Group.append}'s `wake`). */
  #unwoken = false;
  /** The run last handed out by {@link Group.run} (readers in step share it), with the frame count it saw. */
  #run: FrameRun | null = null;
  #runFrameCount = 0;
  /** The run last handed out by {@link Group.prefixedRun}, with the run and prefix it was made of. */
  #prefixed: { key: bigint; run: FrameRun } | null = null;
  /** The last arrival time stamped (ms) and its bigint, shared by frames of the same millisecond. */
  #arrivalMs = -1;
  #arrivalStamp = 0n;
  /** Size of the first shared chunk (see the constructor). */
  readonly #chunkHintBytes: number;
  /** Encoded bytes of every small frame appended (copied into shared chunks), dropped ones included. */
  compactedBytes = 0;
  /** Readers that may still read this group (see {@link Group.hold}). */
  #holds = 0;
  /**
   * Told when the last hold is let go ({@link Group.unhold}): the track decides whether the group
   * is still worth reading. One shared function per track, not one per group.
   */
  onIdle: ((group: Group) => void) | null = null;
  /**
   * Told once when the group is {@link Group.abandon abandoned}: its writer stops reading it from
   * upstream (STOP_SENDING). Set by whoever feeds the group.
   */
  onAbandon: (() => void) | null = null;
  /** Some reader looked at the frames ({@link Group.frame}, {@link Group.run} or {@link Group.changed}). */
  #read = false;
  /** Told once, at the first read (see {@link Group.read}). One shared function per track. */
  onRead: ((group: Group) => void) | null = null;

  /**
   * @param sequence the group sequence number
   * @param onBytes told of every change of the group's cost
   * @param chunkHintBytes how many bytes of small frames the group will likely hold (the previous
   *   group's {@link Group.compactedBytes}): the first shared chunk is that large (at most
   *   {@link FRAME_CHUNK_MAX_BYTES}), so a group like the last one lies in one chunk and goes out
   *   as one run. What it may leave unused never exceeds what the previous group held.
   */
  constructor(sequence: number, onBytes: GroupBudget = () => {}, chunkHintBytes = 0) {
    this.#chunkHintBytes = Math.min(FRAME_CHUNK_MAX_BYTES, chunkHintBytes);
    this.sequence = sequence;
    this.createdAtMs = Date.now();
    this.#onBytes = onBytes;
    onBytes(GROUP_OVERHEAD_BYTES, 0);
  }

  /** Total frames ever appended. */
  get frameCount(): number {
    return this.dropped + this.#frames.length - this.#head;
  }

  /** Frames still cached. */
  get cachedFrames(): number {
    return this.#frames.length - this.#head;
  }

  /** Encoded frame number `n` (counting from the group's first frame), or undefined if not cached. */
  frame(n: number): Uint8Array | undefined {
    if (!this.#read) this.#touch();
    if (n < this.dropped) return undefined;
    return this.#frames[this.#head + n - this.dropped];
  }

  /** The timestamp of frame number `n` (track timescale units), or undefined if not cached. */
  timestamp(n: number): bigint | undefined {
    if (n < this.dropped) return undefined;
    return this.#stamps[this.#head + n - this.dropped];
  }

  /**
   * The longest run of cached frames from frame `n` on that lie back to back in one buffer (at
   * least frame `n` itself), or undefined when frame `n` is not cached. Readers at the same frame
   * share one run object while no frame was appended: a fan-out writes one view per subscriber,
   * no copy and no allocation each.
   */
  run(n: number): FrameRun | undefined {
    if (!this.#read) this.#touch();
    const memo = this.#run;
    const total = this.frameCount;
    if (memo !== null && memo.start === n && this.#runFrameCount === total) return memo;
    if (n < this.dropped || n >= total) return undefined;
    const frames = this.#frames;
    let i = this.#head + n - this.dropped;
    const first = frames[i]!;
    const buffer = first.buffer;
    let end = first.byteOffset + first.byteLength;
    let count = 1;
    for (i++; i < frames.length; i++) {
      const f = frames[i]!;
      if (f.buffer !== buffer || f.byteOffset !== end) break;
      end = f.byteOffset + f.byteLength;
      count++;
    }
    const bytes = count === 1 ? first : new Uint8Array(buffer, first.byteOffset, end - first.byteOffset);
    const run: FrameRun = { start: n, count, bytes, cost: bytes.byteLength + count * FRAME_OVERHEAD_BYTES };
    this.#run = run;
    this.#runFrameCount = total;
    return run;
  }

  /**
   * A prefix (a stream header, say) followed by {@link Group.run}(n)'s bytes in one buffer, so a
   * reader hands both to its transport as one write: or undefined when frame `n` is not cached, the
   * two exceed `maxBytes`, or the group is released. `prefixOf` makes the prefix; readers passing
   * the same `prefixKey` must want the same prefix, and they share one buffer at the same frame and
   * run length (one copy per group, not one per reader, and the prefix is made only for the first).
   * One is kept at a time, charged to the budget, until the group is aborted, released or nobody
   * {@link Group.hold holds} it.
   */
  prefixedRun(
    n: number,
    prefixKey: bigint,
    prefixOf: (group: Group) => Uint8Array,
    maxBytes: number,
  ): FrameRun | undefined {
    const of = this.run(n);
    if (of === undefined || this.#released) return undefined;
    const memo = this.#prefixed;
    // Frames never change once appended: the same first frame and count are the same bytes.
    if (memo !== null && memo.run.start === n && memo.run.count === of.count && memo.key === prefixKey) {
      return memo.run;
    }
    const prefix = prefixOf(this);
    if (prefix.length + of.bytes.length > maxBytes) return undefined;
    const bytes = new Uint8Array(prefix.length + of.bytes.length);
    bytes.set(prefix);
    bytes.set(of.bytes, prefix.length);
    const run: FrameRun = { start: of.start, count: of.count, bytes, cost: of.cost };
    this.#dropPrefixed();
    this.#prefixed = { key: prefixKey, run };
    this.#onBytes(bytes.length, 0);
    return run;
  }

  /** Let go of the {@link Group.prefixedRun} memo (its cost leaves the budget). */
  #dropPrefixed(): void {
    const memo = this.#prefixed;
    if (memo === null) return;
    this.#prefixed = null;
    if (!this.#released) this.#onBytes(-memo.run.bytes.length, 0);
  }

  /** Charge `bytes` (negative: refund) of protocol data kept with the group ({@link meta}) to the budget. */
  chargeMeta(bytes: number): void {
    if (this.#released) return;
    this.#metaBytes += bytes;
    this.#onBytes(bytes, 0);
  }

  /**
   * A promise resolved at the next change (frame appended, finished or aborted). One promise is
   * shared by every waiting reader.
   */
  changed(): Promise<void> {
    if (!this.#read) this.#touch();
    if (this.state !== "open") return Promise.resolve();
    if (!this.#changed) this.#changed = new Promise((resolve) => (this.#wake = resolve));
    return this.#changed;
  }

  /** Wake readers for frames appended with `wake` false (no-op when there are none). */
  wake(): void {
    if (this.#unwoken) this.#notify();
  }

  #notify(): void {
    this.#unwoken = false;
    const wake = this.#wake;
    this.#wake = null;
    this.#changed = null;
    wake?.();
  }

  /** Keep a small frame in a shared chunk; returns the view that stands for it. */
  #compact(encoded: Uint8Array): Uint8Array {
    const n = encoded.length;
    let chunk = this.#chunk;
    if (chunk === null || chunk.length - this.#chunkUsed < n) {
      // The hinted size first, then doubling from the previous chunk, never smaller than the
      // frame (n ≤ SMALL_FRAME_BYTES).
      const previous = chunk?.length ?? 0;
      const size = Math.max(
        n,
        previous === 0 ? this.#chunkHintBytes : 0,
        Math.min(FRAME_CHUNK_MAX_BYTES, Math.max(FRAME_CHUNK_MIN_BYTES, previous * 2)),
      );
      chunk = this.#chunk = new Uint8Array(size);
      this.#chunkUsed = 0;
    }
    const view = chunk.subarray(this.#chunkUsed, this.#chunkUsed + n);
    view.set(encoded);
    this.#chunkUsed += n;
    this.compactedBytes += n;
    return view;
  }

  /**
   * Append one encoded frame with its timestamp (track timescale units; default: the arrival time
   * in ms). Ignored once the group is no longer open. Small frames are copied (the caller may
   * reuse `encodedFrame`); larger ones are kept as given (the caller must not). With `wake` false
   * readers are not woken yet: a writer that has several frames at hand appends them all, then
   * calls {@link Group.wake} once (finishing or aborting the group wakes them too), so every
   * reader wakes once per batch instead of once per frame.
   */
  append(encodedFrame: Uint8Array, timestamp?: bigint, wake = true): void {
    if (this.state !== "open") return;
    if (timestamp === undefined) {
      // Arrival time: frames arriving within one millisecond share one bigint.
      const now = Date.now();
      if (now !== this.#arrivalMs) {
        this.#arrivalMs = now;
        this.#arrivalStamp = BigInt(now);
      }
      timestamp = this.#arrivalStamp;
    }
    const stored = encodedFrame.length <= SMALL_FRAME_BYTES ? this.#compact(encodedFrame) : encodedFrame;
    this.#frames.push(stored);
    this.#stamps.push(timestamp);
    const cost = frameCost(stored.length);
    this.bytes += cost;
    this.totalBytes += cost;
    let delta = cost;
    let encodedDelta = stored.length;
    this.encodedBytes += stored.length;
    // Each iteration drops one frame, and at least one (the newest) always stays.
    while (
      (this.bytes > MAX_GROUP_CACHE_BYTES || this.cachedFrames > MAX_GROUP_FRAMES) &&
      this.cachedFrames > 1
    ) {
      const old = this.#frames[this.#head]!;
      this.#frames[this.#head] = undefined; // let it go now
      this.#stamps[this.#head] = undefined;
      this.#head++;
      this.dropped++;
      this.#run = null;
      const oldCost = frameCost(old.length);
      this.bytes -= oldCost;
      delta -= oldCost;
      this.encodedBytes -= old.length;
      encodedDelta -= old.length;
    }
    // Amortised O(1): compact the list once the dropped prefix is half of it.
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#stamps = this.#stamps.slice(this.#head);
      this.#head = 0;
    }
    if (!this.#released) this.#onBytes(delta, encodedDelta);
    if (wake) this.#notify();
    else this.#unwoken = true;
  }

  /** Whether some reader started reading the group (looked at its frames or waited for them). */
  get read(): boolean {
    return this.#read;
  }

  #touch(): void {
    this.#read = true;
    const onRead = this.onRead;
    this.onRead = null;
    onRead?.(this);
  }

  /** How many readers hold the group (may still read it). */
  get holds(): number {
    return this.#holds;
  }

  /**
   * A reader that may still read this group says so; it calls {@link Group.unhold} exactly once
   * when it is done with the group or passed over it.
   */
  hold(): void {
    this.#holds++;
  }

  /** A reader let go of this group; the last one tells {@link Group.onIdle}. */
  unhold(): void {
    if (this.#holds === 0) return;
    if (--this.#holds > 0) return;
    this.#dropPrefixed(); // it serves the readers holding the group
    this.onIdle?.(this);
  }

  /**
   * Nobody will read this open group: stop it (aborted with `code`, its cost leaves the budget) and
   * tell its writer to stop reading it ({@link Group.onAbandon}). No-op once the group is not open.
   */
  abandon(code: number): void {
    if (this.state !== "open") return;
    this.release(code);
    const stop = this.onAbandon;
    this.onAbandon = null;
    stop?.();
  }

  /** The group is complete (publisher FIN). */
  finish(): void {
    if (this.state !== "open") return;
    this.state = "done";
    this.#chunk = null; // no more appends: the last chunk's free tail is not needed
    this.#notify();
  }

  /** The group was aborted (publisher reset, lost upstream or evicted). */
  abort(code: number): void {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.abortCode = code;
    this.#dropPrefixed();
    this.#chunk = null;
    this.#notify();
  }

  /**
   * The cache lets go of this group (expiry, eviction, track end): an open group is aborted and its
   * cost leaves the budget. Readers still holding it may finish reading a complete group; the
   * frames are freed when the last reader drops it.
   */
  release(code: number): void {
    this.abort(code);
    if (this.#released) return;
    this.#dropPrefixed();
    this.#released = true;
    this.#onBytes(
      -(this.bytes + GROUP_OVERHEAD_BYTES + this.#metaBytes),
      -this.encodedBytes,
    );
  }
}
