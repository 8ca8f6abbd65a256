/**
 * What authentication decides for one session or HTTP request: its root and the prefixes it may
 * publish and subscribe, relative to that root (docs/relay.md §2.5).
 *
 * @module
 */

/** Which transport a credential arrived on (for logs and metrics). */
export type AuthTransport = "websocket" | "quic" | "webtransport" | "http" | "tcp" | "unix";

/** The access a session has. All paths are normalised. */
export interface SessionGrant {
  /** The session root: the normalised connection path. Every wire path is relative to it. */
  root: string;
  /** Prefixes (relative to `root`) the session may publish under; empty = may not publish. */
  publish: string[];
  /** Prefixes (relative to `root`) the session may subscribe to and discover; empty = none. */
  subscribe: string[];
  /** Unix time in milliseconds at which the credential expires (undefined = never). */
  expiresAtMs?: number;
  /**
   * Subscribe prefixes (relative to `root`, like {@link SessionGrant.subscribe}) that come from
   * token grants naming a path inside `.internal/`: for a non-cluster credential only these reach
   * into the reserved namespace. Absent = none.
   */
  internalSubscribe?: string[];
  /**
   * True for the cluster credential: its grants reach into the reserved `.internal/` namespace and
   * it may publish there. Other credentials see `.internal/` only through grants naming a path
   * inside it, and never publish there (auth/scope.ts).
   */
  internal: boolean;
  /** True when the grant came from anonymous public access rather than a token. */
  anonymous: boolean;
  /**
   * On a cluster link this relay dialed: the link's `?cost=` price (docs/relay.md §6.3), given to
   * every route learned over it. Absent = unpriced (1).
   */
  linkCost?: number;
  /**
   * True on a cluster link this relay dialed (an upstream of this relay): routes learned over it
   * are not announced over other dialed links (docs/relay.md §6.2).
   */
  dialed?: boolean;
  /** Billing tier for stats (from the auth API; undefined or "" = the default tier). */
  tier?: string;
}

/** Why a credential was refused (for the warn log and the `auth_failures` metric). */
export type AuthFailureReason =
  | "missing"
  | "malformed"
  | "bad_signature"
  | "alg_mismatch"
  | "unknown_kid"
  | "expired"
  | "not_yet_valid"
  | "useless"
  | "scope"
  | "root_mismatch"
  | "no_access"
  | "no_key"
  | "key_unavailable";

/**
 * A refused credential. `status` is the HTTP status for WebSocket upgrades, WebTransport CONNECT
 * and HTTP endpoints; `closeCode` the MoQ close code for raw QUIC (6 unauthorized, 566 upstream
 * key source unavailable).
 */
export class AuthError extends Error {
  readonly status: number;
  readonly closeCode: number;
  readonly reason: AuthFailureReason;
  constructor(reason: AuthFailureReason, message: string, status = 401, closeCode = 6) {
    super(message);
    this.name = "AuthError";
    this.reason = reason;
    this.status = status;
    this.closeCode = closeCode;
  }
}

/** Decides access for a connection URL (path = root, `?jwt=` = token). */
export interface Authenticator {
  /**
   * Resolve a grant or throw {@link AuthError}. Never logs the token. `peer` (the remote address,
   * when known) keys per-peer rate limits of lookups at outside services.
   */
  authenticate(url: URL, transport: AuthTransport, peer?: string): Promise<SessionGrant>;
}
