/**
 * Stream id bookkeeping of a WebSocket session (QUIC stream id layout, RFC 9000 §2.1): the id of
 * stream `index` of a direction, and which peer ids were used.
 *
 * Peers may open streams out of order, so ids below the highest seen one can still be unused.
 * Those gaps are kept as ranges (memory grows with the number of holes, not with the ids skipped)
 * and their total count is capped: a peer that skips more ids than that is closed.
 *
 * @module
 */

/** A stream direction. */
export type Dir = "bidi" | "uni";

/** The direction of stream `id`. */
export function streamDir(id: number): Dir {
  return (id & 2) === 0 ? "bidi" : "uni";
}

/** Whether stream `id` was opened by the server (odd ids). */
export function isServerStream(id: number): boolean {
  return (id & 1) === 1;
}

/** The wire id of stream `index` of direction `dir`, opened by the server or the client. */
export function streamId(index: number, dir: Dir, server: boolean): number {
  return index * 4 + (dir === "uni" ? 2 : 0) + (server ? 1 : 0);
}

/** The per-direction index of stream `id`. */
export function streamIndex(id: number): number {
  return Math.floor(id / 4);
}

/** Raised when a peer leaves more stream ids unused than the session allows. */
export class StreamIdGapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StreamIdGapError";
  }
}

/** Sorted, disjoint half-open ranges `[start, end)` of integers; all additions come above the last. */
class IndexRanges {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  /** Number of ranges held. */
  get ranges(): number {
    return this.#starts.length;
  }

  /** Add `[from, to)`, which lies at or above every range held. */
  append(from: number, to: number): void {
    const last = this.#ends.length - 1;
    if (last >= 0 && this.#ends[last] === from) {
      this.#ends[last] = to;
      return;
    }
    this.#starts.push(from);
    this.#ends.push(to);
  }

  /** Remove `index` if a range holds it; returns whether one did. */
  take(index: number): boolean {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (index < this.#starts[mid]) {
        hi = mid - 1;
      } else if (index >= this.#ends[mid]) {
        lo = mid + 1;
      } else {
        const start = this.#starts[mid];
        const end = this.#ends[mid];
        if (end - start === 1) {
          this.#starts.splice(mid, 1);
          this.#ends.splice(mid, 1);
        } else if (index === start) {
          this.#starts[mid] = start + 1;
        } else if (index === end - 1) {
          this.#ends[mid] = end - 1;
        } else {
          this.#ends[mid] = index;
          this.#starts.splice(mid + 1, 0, index + 1);
          this.#ends.splice(mid + 1, 0, end);
        }
        return true;
      }
    }
    return false;
  }

  /** Whether a range holds `index`. */
  has(index: number): boolean {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (index < this.#starts[mid]) hi = mid - 1;
      else if (index >= this.#ends[mid]) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/**
 * Which peer stream indexes were used, per direction: everything below `next(dir)` except the
 * gaps. The total number of gaps (both directions) is capped at `maxGaps`.
 */
export class PeerStreamIds {
  readonly #next: Record<Dir, number> = { bidi: 0, uni: 0 };
  readonly #gaps: Record<Dir, IndexRanges> = { bidi: new IndexRanges(), uni: new IndexRanges() };
  readonly #maxGaps: number;
  #gapCount = 0;

  /** `maxGaps`: how many skipped, still unused ids a peer may have outstanding at once. */
  constructor(maxGaps: number) {
    this.#maxGaps = maxGaps;
  }

  /** The lowest index of `dir` above every index the peer used. */
  next(dir: Dir): number {
    return this.#next[dir];
  }

  /** Skipped ids not used yet, both directions. */
  get gapCount(): number {
    return this.#gapCount;
  }

  /** Ranges held for the gaps, both directions (what the bookkeeping costs). */
  get gapRanges(): number {
    return this.#gaps.bidi.ranges + this.#gaps.uni.ranges;
  }

  /** Whether `index` of `dir` was never used by the peer. */
  isUnused(dir: Dir, index: number): boolean {
    return index >= this.#next[dir] || this.#gaps[dir].has(index);
  }

  /**
   * Mark `index` of `dir` used. Returns false (and changes nothing) when it was used before. Throws
   * {@link StreamIdGapError} when the ids it skips would put more than `maxGaps` unused ids
   * outstanding.
   */
  use(dir: Dir, index: number): boolean {
    const next = this.#next[dir];
    if (index < next) {
      if (!this.#gaps[dir].take(index)) return false;
      this.#gapCount--;
      return true;
    }
    const skipped = index - next;
    if (this.#gapCount + skipped > this.#maxGaps) {
      throw new StreamIdGapError(
        `peer ${dir} stream index ${index} would leave ${this.#gapCount + skipped} stream ids unused ` +
          `(at most ${this.#maxGaps}); peers must open streams roughly in order`,
      );
    }
    if (skipped > 0) this.#gaps[dir].append(next, index);
    this.#gapCount += skipped;
    this.#next[dir] = index + 1;
    return true;
  }
}

/**
 * Ids of the streams we open. Stream credit is reserved when a stream is created, but its wire id
 * is only assigned on its first frame, so a stream reset before sending anything never consumes an
 * id: the peer never sees a gap it could not account for (`@moq/qmux` 0.0.6 would otherwise lose
 * one unit of MAX_STREAMS credit per gap).
 */
export class LocalStreamIds {
  readonly #server: boolean;
  readonly #next: Record<Dir, number> = { bidi: 0, uni: 0 };
  readonly #reserved: Record<Dir, number> = { bidi: 0, uni: 0 };

  /** `server`: whether we are the server end (odd stream ids). */
  constructor(server: boolean) {
    this.#server = server;
  }

  /** Ids of `dir` assigned or reserved so far (what counts against the peer's MAX_STREAMS). */
  used(dir: Dir): number {
    return this.#next[dir] + this.#reserved[dir];
  }

  /** Reserve one id of `dir` for a stream that has not sent yet. */
  reserve(dir: Dir): void {
    this.#reserved[dir]++;
  }

  /** Give back a reservation (the stream was reset before its first frame). */
  release(dir: Dir): void {
    this.#reserved[dir]--;
  }

  /** Turn a reservation of `dir` into the next wire id. */
  assign(dir: Dir): number {
    this.#reserved[dir]--;
    return streamId(this.#next[dir]++, dir, this.#server);
  }
}
