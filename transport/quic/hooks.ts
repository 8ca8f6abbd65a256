/**
 * The decisions a QUIC listener asks its owner for: authorisation of a new session (before the
 * WebTransport CONNECT is answered or any raw QUIC stream is accepted) and delivery of the session.
 *
 * @module
 */

import type { TransportKind, TransportSession } from "../types.ts";

/** Accept the session. */
export interface AuthorizeOk {
  ok: true;
}

/**
 * Refuse the session: WebTransport answers the CONNECT with HTTP `status`; raw QUIC closes the
 * connection with application `closeCode` and `reason`.
 */
export interface AuthorizeRefusal {
  ok?: false;
  /** HTTP status for WebTransport (401, 403, 404, 502, …). */
  status: number;
  /** QUIC application close code for raw QUIC (6 = unauthorized in moq-lite). */
  closeCode: number;
  /** Human-readable reason (logged; raw QUIC sends it). */
  reason: string;
}

/** The outcome of {@link AuthorizeHook}. */
export type AuthorizeDecision = AuthorizeOk | AuthorizeRefusal;

/**
 * Decide whether a session may start. `url` is `https://authority/path?query` for WebTransport and
 * `moql://<sni or host>/` for raw QUIC. Throwing counts as a refusal (HTTP 500 / close code 0x102).
 */
export type AuthorizeHook = (url: URL, kind: TransportKind, peer: string) => Promise<AuthorizeDecision>;

/** Receives every accepted session. Must not throw (errors are logged). */
export type SessionHook = (session: TransportSession) => void;

/** Whether a decision accepts the session. */
export function isAuthorized(decision: AuthorizeDecision): decision is AuthorizeOk {
  return decision.ok === true;
}
