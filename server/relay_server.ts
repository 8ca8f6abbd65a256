/**
 * The relay process assembled: one origin tree, the authenticator, the QUIC listener (raw QUIC +
 * WebTransport), the web listeners (HTTP endpoints + WebSocket), the internal listener and the
 * cluster. Every accepted transport session becomes a {@link MoqSession} on the same origin.
 *
 * @module
 */

import type { Authenticator, SessionGrant } from "../auth/types.ts";
import type { RelayConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { Origin } from "../relay/origin.ts";
import { RelayStats } from "../relay/stats.ts";
import { DEFAULT_LIMITS } from "../session/context.ts";
import { MoqSession } from "../session/session.ts";
import type { TransportSession } from "../transport/types.ts";

/** Close code sent to sessions at shutdown. */
export const SHUTDOWN_CLOSE_CODE = 0;

/** What the relay core needs from its surroundings. */
export interface RelayCoreOptions {
  config: RelayConfig;
  logger: Logger;
  auth: Authenticator;
  /** This relay's origin id (cluster hop id). */
  originId: number;
}

/**
 * The transport-independent relay: sessions, origin, stats and drain. Listeners hand it
 * authenticated transport sessions via {@link RelayCore.accept}.
 */
export class RelayCore {
  readonly config: RelayConfig;
  readonly origin: Origin;
  readonly stats = new RelayStats();
  readonly auth: Authenticator;
  readonly originId: number;
  readonly #log: Logger;
  readonly #sessions = new Set<MoqSession>();
  readonly #abort = new AbortController();
  #nextId = 1;
  #draining = false;

  constructor(options: RelayCoreOptions) {
    this.config = options.config;
    this.auth = options.auth;
    this.originId = options.originId;
    this.#log = options.logger;
    const limits = options.config.limits ?? DEFAULT_LIMITS;
    this.origin = new Origin({
      logger: options.logger,
      lingerMs: options.config.cluster.lingerMs,
      groupTtlMs: options.config.cache.durationMs,
      warmMs: limits.warmMs,
      cacheCapacityBytes: options.config.cache.capacityBytes,
    });
    this.origin.start(this.#abort.signal);
  }

  /** Aborted when the relay shuts down. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** True once shutdown began (`/health` answers 503). */
  get draining(): boolean {
    return this.#draining;
  }

  /** Sessions currently open. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Run a moq-lite session on an authenticated transport session. */
  accept(transport: TransportSession, grant: SessionGrant, role: "server" | "client" = "server"): MoqSession {
    const id = this.#nextId++;
    const session = new MoqSession({
      id,
      transport,
      grant,
      origin: this.origin,
      stats: this.stats,
      logger: this.#log,
      limits: this.config.limits ?? DEFAULT_LIMITS,
      originId: this.originId,
      role,
    });
    this.#log.child("session", { session: id }).info("session accepted", {
      transport: transport.kind,
      peer: transport.peer,
      root: grant.root || "/",
      publish: grant.publish.length === 0 ? "-" : grant.publish.map((p) => p === "" ? "/" : p).join(","),
      subscribe: grant.subscribe.length === 0 ? "-" : grant.subscribe.map((p) => p === "" ? "/" : p).join(","),
    });
    this.#sessions.add(session);
    session.done.finally(() => this.#sessions.delete(session));
    if (this.#draining) session.close(SHUTDOWN_CLOSE_CODE, "server shutdown");
    return session;
  }

  /**
   * Graceful drain: GOAWAY to lite-04 sessions, wait for sessions to leave (up to `timeoutMs`),
   * then close the rest with code 0 and stop the origin.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const sessions = [...this.#sessions];
    this.#log.info("draining", { sessions: sessions.length, timeout_ms: timeoutMs });
    await Promise.allSettled(sessions.map((s) => s.goaway()));
    // In-flight groups get a short moment; then every session is closed cleanly.
    const settle = Math.min(timeoutMs, 500);
    await new Promise((r) => setTimeout(r, settle));
    for (const s of this.#sessions) s.close(SHUTDOWN_CLOSE_CODE, "server shutdown");
    const deadline = new Promise((r) => setTimeout(r, Math.max(0, timeoutMs - settle)));
    await Promise.race([Promise.allSettled([...this.#sessions].map((s) => s.done)), deadline]);
    this.#abort.abort();
  }

  /** Stop at once (second signal). */
  stopNow(): void {
    for (const s of this.#sessions) s.close(SHUTDOWN_CLOSE_CODE, "server shutdown");
    this.#abort.abort();
  }
}
