/**
 * A broadcast in the origin tree: a path, the sources publishing it (the active one plus standbys
 * and alternate routes) and its tracks.
 *
 * @module
 */

import type { Track, TrackSourceLink } from "./track.ts";

/** Something that publishes a broadcast into the origin: a client session or a cluster link. */
export interface BroadcastSource extends TrackSourceLink {
  /** For logs: which session or peer this is. */
  readonly label: string;
  /**
   * The origin-id chain, oldest first, as received (lite-04 hops). Empty for a publisher whose
   * protocol carries no ids (a local client).
   */
  readonly hops: number[];
  /** Told when a newer publisher of another origin displaced it (it becomes a standby). */
  displaced?(by: string): void;
}

/** Whether two sources are routes to the same original publisher (same non-zero first hop). */
export function sameOrigin(a: BroadcastSource, b: BroadcastSource): boolean {
  return a.hops.length > 0 && b.hops.length > 0 && a.hops[0] !== 0 && a.hops[0] === b.hops[0];
}

/** One broadcast path. State is managed by the {@link Origin}. */
export class Broadcast {
  /** Absolute normalised path. */
  readonly path: string;
  /** All sources, in arrival order. */
  readonly sources: BroadcastSource[] = [];
  /** The source serving subscriptions (null while lingering). */
  active: BroadcastSource | null = null;
  /** The hop chain last announced for this broadcast. */
  hops: number[] = [];
  /** Tracks by name. */
  readonly tracks = new Map<string, Track>();
  /** Track reference counts (subscribers + pending subscribes), by name. */
  readonly refs = new Map<string, number>();
  /** Warm timers of tracks with no subscriber left. */
  readonly warmTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Set while the broadcast lingers after an abrupt loss of its last source. */
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the broadcast was first announced (ms since epoch). */
  readonly createdAtMs = Date.now();

  constructor(path: string) {
    this.path = path;
  }

  /** True while lingering (announced, but no live source). */
  get lingering(): boolean {
    return this.active === null;
  }
}
