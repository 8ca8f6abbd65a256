/**
 * Traffic and session counters shared by the session layer, the relay and the metrics endpoint.
 * One instance per relay process (created in main and passed down; no globals).
 *
 * @module
 */

/** Label values for a session's transport. */
export type TransportLabel = "websocket" | "quic" | "webtransport" | "cluster";

/** Monotonic counters and gauges. Fields are plain numbers: increment them directly. */
export class RelayStats {
  /** Sessions currently open, by `transport/version`. */
  readonly sessionsOpen = new Map<string, number>();
  /** Sessions ever accepted. */
  sessionsOpened = 0;
  /** Sessions ended. */
  sessionsClosed = 0;
  /** Sessions closed for a protocol error (bad input). */
  sessionErrors = 0;
  /** Downstream subscriptions opened / closed. */
  subscriptionsOpened = 0;
  subscriptionsClosed = 0;
  /** Groups, frames and payload bytes received from publishers. */
  groupsIn = 0;
  framesIn = 0;
  bytesIn = 0;
  /** Groups, frames and bytes sent to subscribers. */
  groupsOut = 0;
  framesOut = 0;
  bytesOut = 0;
  /** Groups a subscriber did not get because it was too slow. */
  groupsDropped = 0;
  /** Connection-level failures (handshake errors, garbage). */
  connectionErrors = 0;

  /** Count a session opening on `transport` with `version`. */
  sessionOpened(transport: TransportLabel, version: string): void {
    this.sessionsOpened++;
    const key = `${transport}/${version}`;
    this.sessionsOpen.set(key, (this.sessionsOpen.get(key) ?? 0) + 1);
  }

  /** Count a session closing. */
  sessionClosed(transport: TransportLabel, version: string): void {
    this.sessionsClosed++;
    const key = `${transport}/${version}`;
    const n = (this.sessionsOpen.get(key) ?? 1) - 1;
    if (n <= 0) this.sessionsOpen.delete(key);
    else this.sessionsOpen.set(key, n);
  }
}
