/**
 * Concurrent connections (or sessions) per peer IP address, capped: the per-peer bound every
 * listener applies before it spends anything on a peer.
 *
 * @module
 */

/** Default cap on concurrent TCP connections (or QUIC sessions) from one IP address. */
export const MAX_CONNECTIONS_PER_IP = 512;

/** Counts live items per key (an IP address) and refuses past a cap. */
export class PeerCounter {
  readonly #max: number;
  readonly #counts = new Map<string, number>();

  constructor(max: number = MAX_CONNECTIONS_PER_IP) {
    this.#max = max;
  }

  /** Take one slot for `key`; false (nothing taken) when it already holds the cap. */
  acquire(key: string): boolean {
    const n = this.#counts.get(key) ?? 0;
    if (n >= this.#max) return false;
    this.#counts.set(key, n + 1);
    return true;
  }

  /** Give back a slot taken by {@link acquire}. */
  release(key: string): void {
    const n = this.#counts.get(key) ?? 0;
    if (n <= 1) this.#counts.delete(key);
    else this.#counts.set(key, n - 1);
  }

  /** Live slots for `key`. */
  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Keys with at least one live slot (bounded by the live connections themselves). */
  get size(): number {
    return this.#counts.size;
  }
}

/** The IP part of `host:port` / `[v6]:port` (the text itself when it has no port). */
export function ipOf(hostPort: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (v6) return v6[1];
  const v4 = /^([^:]+):\d+$/.exec(hostPort);
  return v4 ? v4[1] : hostPort;
}
