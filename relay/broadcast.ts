/**
 * A broadcast in the origin tree: a path, the sources publishing it (the active one plus standbys
 * and alternate routes) and its tracks.
 *
 * @module
 */

import { fnv1a64 } from "../util/mod.ts";
import type { Track, TrackSourceLink } from "./track.ts";

/** Something that publishes a broadcast into the origin: a client session or a cluster link. */
export interface BroadcastSource extends TrackSourceLink {
  /** For logs: which session or peer this is. */
  readonly label: string;
  /**
   * The origin-id chain, oldest first, as received (lite-04/05 hops: 62-bit ids, kept exact as
   * `bigint`s so a peer's large random ids still detect loops). Empty for a publisher whose
   * protocol carries no ids (a local client).
   */
  readonly hops: bigint[];
  /**
   * The route's price: the `?cost=` of the cluster link it was learned over (unpriced = 1,
   * docs/relay.md §6.3). Lower wins among routes to one publisher. Undefined = 1.
   */
  readonly cost?: number;
  /**
   * Learned over a cluster link this relay dialed (an upstream): such a route is announced to the
   * links that dialed us and to clients, never over another dialed link (docs/relay.md §6.2).
   */
  readonly upstream?: boolean;
  /** Told when a newer publisher of another origin displaced it (it becomes a standby). */
  displaced?(by: string): void;
}

/** Whether two sources are routes to the same original publisher (same non-zero first hop). */
export function sameOrigin(a: BroadcastSource, b: BroadcastSource): boolean {
  return a.hops.length > 0 && b.hops.length > 0 && a.hops[0] !== 0n && a.hops[0] === b.hops[0];
}

/** moq-relay's offset basis for the route tie-break hash (docs/relay.md §6.2). */
export const ROUTE_TIE_BREAK_BASIS = 0x420c0decb00bn;

/**
 * The deterministic tie-break of a route (docs/relay.md §6.2): FNV-1a 64 with
 * {@link ROUTE_TIE_BREAK_BASIS} over the absolute path's UTF-8 bytes, then each hop id as 8
 * little-endian bytes. Lower wins. Different paths hash differently, so equal routes through
 * different relays spread the broadcasts between them.
 */
export function routeTieBreak(path: string, hops: readonly bigint[]): bigint {
  const pathBytes = new TextEncoder().encode(path);
  const bytes = new Uint8Array(pathBytes.byteLength + 8 * hops.length);
  bytes.set(pathBytes);
  const view = new DataView(bytes.buffer);
  hops.forEach((hop, i) => view.setBigUint64(pathBytes.byteLength + 8 * i, hop, true));
  return fnv1a64(bytes, ROUTE_TIE_BREAK_BASIS);
}

/**
 * Whether route `a` beats route `b` to the same publisher at `path` (docs/relay.md §6.2): lower
 * cost, then fewer hops, then the lower tie-break hash. Equal routes: neither beats the other.
 */
export function betterRoute(path: string, a: BroadcastSource, b: BroadcastSource): boolean {
  const ca = a.cost ?? 1, cb = b.cost ?? 1;
  if (ca !== cb) return ca < cb;
  if (a.hops.length !== b.hops.length) return a.hops.length < b.hops.length;
  return routeTieBreak(path, a.hops) < routeTieBreak(path, b.hops);
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
  hops: bigint[] = [];
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
