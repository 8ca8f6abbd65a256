/**
 * One group of a track: an ordered list of frames, shared by every subscriber.
 *
 * Frames are stored ENCODED (`vi53 size` + payload, exactly as they go on a GROUP stream), so a
 * subscriber forwards the very same `Uint8Array` the publisher's bytes were read into: one buffer
 * per frame for all subscribers, no per-subscriber copy.
 *
 * @module
 */

/** Most bytes of frames cached per group; beyond that the oldest frames are dropped. */
export const MAX_GROUP_CACHE_BYTES = 32 * 1024 * 1024;

/** A group's lifecycle. */
export type GroupState = "open" | "done" | "aborted";

/** A cached group. Writers append; readers index frames and await {@link Group.changed}. */
export class Group {
  /** The group sequence number. */
  readonly sequence: number;
  /** When the group was created (ms since epoch, `Date.now()`), for cache expiry. */
  readonly createdAtMs: number;
  /** Frames still cached; `frames[i]` is frame number `i + dropped`. */
  readonly frames: Uint8Array[] = [];
  /** How many leading frames were dropped to stay under {@link MAX_GROUP_CACHE_BYTES}. */
  dropped = 0;
  /** Bytes of cached frames (encoded). */
  bytes = 0;
  /** Bytes ever appended, dropped frames included (readers compare it with what they sent). */
  totalBytes = 0;
  /** Total frames ever appended. */
  get frameCount(): number {
    return this.dropped + this.frames.length;
  }
  /** Current state. */
  state: GroupState = "open";
  /** The reset code when aborted. */
  abortCode = 0;
  /** Called with the byte delta whenever cached bytes change (the cache's budget). */
  readonly #onBytes: (delta: number) => void;

  #wake: (() => void) | null = null;
  #changed: Promise<void> | null = null;

  constructor(sequence: number, onBytes: (delta: number) => void = () => {}) {
    this.sequence = sequence;
    this.createdAtMs = Date.now();
    this.#onBytes = onBytes;
  }

  /**
   * A promise resolved at the next change (frame appended, finished or aborted). One promise is
   * shared by every waiting reader.
   */
  changed(): Promise<void> {
    if (this.state !== "open") return Promise.resolve();
    if (!this.#changed) this.#changed = new Promise((resolve) => (this.#wake = resolve));
    return this.#changed;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    this.#changed = null;
    wake?.();
  }

  /** Append one encoded frame. Ignored once the group is no longer open. */
  append(encodedFrame: Uint8Array): void {
    if (this.state !== "open") return;
    this.frames.push(encodedFrame);
    this.bytes += encodedFrame.length;
    this.totalBytes += encodedFrame.length;
    let delta = encodedFrame.length;
    while (this.bytes > MAX_GROUP_CACHE_BYTES && this.frames.length > 1) {
      const old = this.frames.shift()!;
      this.bytes -= old.length;
      delta -= old.length;
      this.dropped++;
    }
    if (!this.#released) this.#onBytes(delta);
    this.#notify();
  }

  /** The group is complete (publisher FIN). */
  finish(): void {
    if (this.state !== "open") return;
    this.state = "done";
    this.#notify();
  }

  /** The group was aborted (publisher reset, lost upstream or evicted). */
  abort(code: number): void {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.abortCode = code;
    this.#notify();
  }

  #released = false;

  /**
   * The cache lets go of this group (expiry, eviction, track end): an open group is aborted and its
   * bytes leave the budget. Readers still holding it may finish reading a complete group; the
   * frames are freed when the last reader drops it.
   */
  release(code: number): void {
    this.abort(code);
    if (this.#released) return;
    this.#released = true;
    this.#onBytes(-this.bytes);
  }
}
