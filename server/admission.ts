/**
 * Admission of QUIC sessions (raw QUIC and WebTransport): at most
 * {@link MAX_SESSIONS_PER_CONNECTION} live sessions per QUIC connection (each WebTransport CONNECT
 * stream makes a session with its own per-session quotas, so without a cap one connection
 * multiplies them) and at most `MAX_CONNECTIONS_PER_IP` per IP address.
 *
 * @module
 */

import { ipOf, MAX_CONNECTIONS_PER_IP, PeerCounter } from "../http/mod.ts";
import type { CloseInfo } from "../transport/mod.ts";

/** WebTransport sessions one HTTP/3 connection may carry at once. */
export const MAX_SESSIONS_PER_CONNECTION = 4;
/** Close code for a session over a cap ("bounds exceeded", docs/protocol.md §9). */
export const CODE_BOUNDS_EXCEEDED = 11;

/** What admission needs to know of a session. */
export interface AdmittedSession {
  /** The QUIC connection's peer, `ip:port` (one per connection). */
  readonly peer: string;
  /** Settles when the session ends (its slots are then released). */
  readonly closed: Promise<CloseInfo>;
}

/** Why a session was refused. */
export type AdmissionRefusal = "per-connection" | "per-address";

/** Counts live sessions per connection and per address. */
export class SessionAdmission {
  readonly #perConnection: PeerCounter;
  readonly #perIp: PeerCounter;
  readonly #maxPerConnection: number;
  readonly #maxPerIp: number;

  constructor(maxPerConnection = MAX_SESSIONS_PER_CONNECTION, maxPerIp = MAX_CONNECTIONS_PER_IP) {
    this.#maxPerConnection = maxPerConnection;
    this.#maxPerIp = maxPerIp;
    this.#perConnection = new PeerCounter(maxPerConnection);
    this.#perIp = new PeerCounter(maxPerIp);
  }

  /** The caps, for log lines. */
  get limits(): { perConnection: number; perAddress: number } {
    return { perConnection: this.#maxPerConnection, perAddress: this.#maxPerIp };
  }

  /** Take slots for `session` until it closes, or say which cap refuses it (nothing taken). */
  admit(session: AdmittedSession): AdmissionRefusal | undefined {
    const ip = ipOf(session.peer);
    if (!this.#perIp.acquire(ip)) return "per-address";
    if (!this.#perConnection.acquire(session.peer)) {
      this.#perIp.release(ip);
      return "per-connection";
    }
    session.closed.finally(() => {
      this.#perConnection.release(session.peer);
      this.#perIp.release(ip);
    });
    return undefined;
  }

  /** Live sessions on the connection `peer`. */
  sessionsOn(peer: string): number {
    return this.#perConnection.count(peer);
  }
}
