/**
 * The QUIC listener: raw QUIC (the ALPNs `[server] version` enables) and WebTransport over
 * our own HTTP/3 layer (ALPN `h3`) on one UDP port, feeding authenticated sessions to the relay.
 * Credentials are checked before the WebTransport CONNECT is answered (401 instead of a wasted
 * handshake, docs/relay.md §8 item 10) and before any stream is accepted on raw QUIC (close code 6).
 *
 * @module
 */

import { AuthError, type AuthTransport, type SessionGrant } from "../auth/mod.ts";
import type { RelayConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  type AuthorizeDecision,
  QuicListenError,
  QuicServer,
  type TransportKind,
  type TransportSession,
  versionOffer,
} from "../transport/mod.ts";
import { CODE_BOUNDS_EXCEEDED, SessionAdmission } from "./admission.ts";
import type { ServedCertificates } from "./certificates.ts";
import { authorisesAtSetup, type RelayCore, SETUP_PENDING_GRANT } from "./_relay_server.ts";

/** Options for {@link startQuic}. */
export interface QuicListenerOptions {
  config: RelayConfig;
  logger: Logger;
  core: RelayCore;
  certs: ServedCertificates;
  signal: AbortSignal;
}

/** Raised when the QUIC listener cannot start. */
export class QuicStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QuicStartError";
  }
}

function authTransport(kind: TransportKind): AuthTransport {
  return kind === "webtransport" ? "webtransport" : "quic";
}

/** The host part of a `host:port` peer address (rate limits are per address, not per port). */
function peerHost(peer: string): string {
  const i = peer.lastIndexOf(":");
  return i > 0 ? peer.slice(0, i) : peer;
}

/** How long a grant resolved during the handshake waits for its session. */
const GRANT_HANDOFF_MS = 10_000;
/** Most grants waiting for their session. */
const MAX_GRANT_HANDOFFS = 4096;

/** Start the QUIC listener on `[server] bind`. */
export async function startQuic(
  options: QuicListenerOptions,
): Promise<{ address: string; finished: Promise<void> }> {
  const { config, core, logger, certs } = options;
  const pair = certs.quic;
  if (!config.server.bind || !pair) throw new QuicStartError("no QUIC bind address or certificate");
  const log = logger.child("quic");
  // Grants resolved by the hook, handed to the session that follows (one auth lookup per session,
  // which matters with an auth API); bounded, and dropped after GRANT_HANDOFF_MS.
  const handoff = new Map<string, { grant: SessionGrant; timer: ReturnType<typeof setTimeout> }>();
  const handoffKey = (url: URL, kind: TransportKind, peer: string) => `${kind} ${peer} ${url.href}`;
  /** Remove a waiting grant and its timer (the timer would hold memory for the rest of the wait). */
  const take = (key: string): SessionGrant | undefined => {
    const entry = handoff.get(key);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    handoff.delete(key);
    return entry.grant;
  };
  const authorize = async (url: URL, kind: TransportKind, peer: string): Promise<AuthorizeDecision> => {
    try {
      const grant = await core.auth.authenticate(url, authTransport(kind), peerHost(peer));
      const key = handoffKey(url, kind, peer);
      if (handoff.size >= MAX_GRANT_HANDOFFS) take(handoff.keys().next().value!);
      take(key);
      const timer = setTimeout(() => handoff.delete(key), GRANT_HANDOFF_MS);
      Deno.unrefTimer(timer);
      handoff.set(key, { grant, timer });
      return { ok: true };
    } catch (err) {
      if (err instanceof AuthError) {
        return { status: err.status, closeCode: err.closeCode, reason: err.message };
      }
      log.error("authentication failed unexpectedly", { error: String(err) });
      return { status: 500, closeCode: 6, reason: "internal error" };
    }
  };
  const admission = new SessionAdmission();
  const admit = (session: TransportSession): boolean => {
    const refused = admission.admit(session);
    if (refused === undefined) return true;
    const { perConnection, perAddress } = admission.limits;
    log.warn(
      refused === "per-connection"
        ? "too many WebTransport sessions on one connection: closing"
        : "too many QUIC sessions from one address: closing",
      { peer: session.peer, max: refused === "per-connection" ? perConnection : perAddress },
    );
    return false;
  };
  const onSession = (session: TransportSession) => {
    if (core.draining) {
      session.close(0, "server shutdown");
      return;
    }
    if (!admit(session)) {
      core.stats.connectionErrors++;
      session.close(CODE_BOUNDS_EXCEEDED, "too many sessions");
      return;
    }
    const key = handoffKey(session.url, session.kind, session.peer);
    const handed = take(key);
    if (session.kind === "quic" && authorisesAtSetup(session.protocol)) {
      // Raw QUIC has no URL: a moq-lite-05 or moq-transport client names its root and `?jwt=` in its
      // SETUP Path (moq-transport also in AUTHORIZATION_TOKEN), so
      // the session authorises once that SETUP is read; until then it holds no rights at all.
      const peer = peerHost(session.peer);
      core.accept(session, SETUP_PENDING_GRANT, "server", (url) => core.auth.authenticate(url, "quic", peer));
      return;
    }
    // The hook's grant is used when it is still valid; otherwise the grant is resolved again (a
    // token that expired in between is refused with close code 6).
    const grant =
      handed !== undefined && (handed.expiresAtMs === undefined || handed.expiresAtMs > Date.now())
        ? Promise.resolve(handed)
        : core.auth.authenticate(session.url, authTransport(session.kind), peerHost(session.peer));
    grant.then(
      (grant) => core.accept(session, grant),
      (err) => {
        core.stats.connectionErrors++;
        session.close(err instanceof AuthError ? err.closeCode : 6, "unauthorized");
      },
    );
  };
  let server: QuicServer;
  try {
    server = new QuicServer({
      bind: config.server.bind,
      certificates: [{ certPem: pair.certPem, keyPem: pair.keyPem }],
      logger,
      authorize,
      onSession,
      versions: versionOffer(config.server.versions),
      maxStreams: config.server.quic.maxStreams,
      keepAliveMs: config.server.quic.keepAliveMs,
      idleTimeoutMs: config.server.quic.idleTimeoutMs,
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof QuicListenError) throw new QuicStartError(err.message, { cause: err });
    throw err;
  }
  const unsubscribe = certs.onRenew((renewal) => {
    try {
      server.updateCertificate(renewal.quic);
    } catch (err) {
      log.error("could not present the renewed certificate", { error: String(err) });
    }
  });
  options.signal.addEventListener("abort", unsubscribe, { once: true });
  log.info("listening", {
    addr: server.address,
    transport: "udp",
    serves: "quic+webtransport",
    certificate_sha256: pair.sha256Hex,
  });
  await Promise.resolve();
  return { address: server.address, finished: server.closed };
}
