/**
 * The relay process assembled: one origin tree, the authenticator, the QUIC listener (raw QUIC +
 * WebTransport), the web listeners (HTTP endpoints + WebSocket), the internal listener and the
 * cluster. Every accepted transport session becomes a {@link MoqSession} on the same origin.
 *
 * @module
 */

import type { Authenticator, SessionGrant } from "../auth/mod.ts";
import type { RelayConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { type Group, Origin, RelayStats } from "../relay/mod.ts";
import {
  DEFAULT_LIMITS,
  type Draft,
  draftFromAlpn,
  draftVersion,
  IetfSession,
  MoqSession,
  peekClientSetup,
  SETUP_TIMEOUT_MS,
  Version,
  versionName,
} from "../session/mod.ts";
import {
  type CloseInfo,
  NativeMemoryReclaimer,
  type TransportSession,
  versionOffer,
} from "../transport/mod.ts";
import { AcceptedLinks } from "../cluster/mod.ts";

/** What the relay core needs of a running session, whichever protocol it speaks. */
export interface RunningSession {
  readonly done: Promise<CloseInfo>;
  close(code: number, reason: string): void;
  goaway(uri?: string): Promise<void>;
}

/**
 * What a URL-less moq-lite-05 session (raw QUIC, TCP, UNIX) holds until its SETUP Path is
 * authorised: nothing.
 */
export const SETUP_PENDING_GRANT: SessionGrant = Object.freeze({
  root: "",
  publish: [],
  subscribe: [],
  internal: false,
  anonymous: true,
});

/**
 * Whether a session over a URL-less transport (raw QUIC, TCP, UNIX) with this protocol names its
 * root and token in SETUP, so the listener defers authorisation to it (moq-lite-05, moq-transport).
 */
export function authorisesAtSetup(protocol: string): boolean {
  return protocol === "moq-lite-05" || draftFromAlpn(protocol) !== undefined;
}

/** Close code sent to sessions at shutdown. */
export const SHUTDOWN_CLOSE_CODE = 0;
/** How often the drain re-checks in-flight groups and subscriptions. */
export const DRAIN_POLL_MS = 20;
/** Least time closed sessions get to finish their close handshake, even past the drain deadline. */
export const SESSION_CLOSE_GRACE_MS = 100;

/** What the relay core needs from its surroundings. */
export interface RelayCoreOptions {
  config: RelayConfig;
  logger: Logger;
  auth: Authenticator;
  /** This relay's origin id (cluster hop id). */
  originId: number;
  /** Told of every session's open and close (default: one of its own). */
  reclaimer?: NativeMemoryReclaimer;
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
  /**
   * Collects and hands back the native memory of closed sessions, and the young generation a burst
   * of opens grew (see transport/quic/streams.ts).
   */
  readonly reclaimer: NativeMemoryReclaimer;
  readonly #log: Logger;
  /** SETUP codes accepted clients may select (`[server] version`, transport/versions.ts). */
  readonly #legacySetupCodes: readonly number[];
  readonly #sessions = new Set<RunningSession>();
  /** Cluster links peers dialed to us: closed when the dialer dies or stops pinging. */
  readonly #acceptedLinks: AcceptedLinks;
  readonly #abort = new AbortController();
  #nextId = 1;
  #draining = false;
  #drain: Promise<void> | undefined;

  constructor(options: RelayCoreOptions) {
    this.config = options.config;
    this.auth = options.auth;
    this.originId = options.originId;
    this.reclaimer = options.reclaimer ?? new NativeMemoryReclaimer();
    this.#log = options.logger;
    this.#acceptedLinks = new AcceptedLinks(options.logger);
    this.#legacySetupCodes = versionOffer(options.config.server.versions).setupCodes;
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

  /**
   * Run a session on an authenticated transport session: moq-transport when the transport
   * negotiated an IETF protocol, moq-lite otherwise.
   */
  accept(
    transport: TransportSession,
    grant: SessionGrant,
    role: "server" | "client" = "server",
    authorize?: (url: URL) => Promise<SessionGrant>,
  ): RunningSession {
    const id = this.#nextId++;
    // A burst of opens grew V8's young generation: it is collected once the burst is over.
    this.reclaimer.connectionOpened();
    // A cluster peer that dialed us: its death or silence ends the link (cluster/_accepted.ts).
    if (role === "server" && grant.internal) transport = this.#acceptedLinks.watch(transport);
    // Per-session view of the counters, for `[stats]` tiers (the grant's tier and root; a URL-less
    // lite-05 session is rebound to its SETUP Path's grant once authorised).
    const stats = this.stats.forSession(grant.tier ?? "", grant.root);
    const draft = role === "server" ? draftFromAlpn(transport.protocol) : undefined;
    const ietf = (t: TransportSession, d: Draft) =>
      new IetfSession({
        id,
        transport: t,
        draft: d,
        grant,
        origin: this.origin,
        stats,
        logger: this.#log,
        limits: this.config.limits ?? DEFAULT_LIMITS,
        authorize: authorize ?? ((url) => this.auth.authenticate(url, "quic")),
      });
    const lite = (t: TransportSession) =>
      new MoqSession({
        id,
        transport: t,
        grant,
        origin: this.origin,
        stats,
        logger: this.#log,
        limits: this.config.limits ?? DEFAULT_LIMITS,
        originId: this.originId,
        role,
        // `[server] version` restricts what accepted clients may select by SETUP; dialed links keep
        // the defaults.
        legacyVersions: role === "server" ? this.#legacySetupCodes : undefined,
        authorize: authorize === undefined ? undefined : async (url) => {
          const granted = await authorize(url);
          stats.bind(granted.tier ?? "", granted.root);
          return granted;
        },
      });
    let session: RunningSession;
    if (draft !== undefined) session = ietf(transport, draft);
    else if (role === "server" && transport.protocol === "" && this.#legacyDraft14()) {
      session = this.#legacySetup(transport, ietf, lite);
    } else session = lite(transport);
    this.#log.child("session", { session: id }).info("session accepted", {
      transport: transport.kind,
      peer: transport.peer,
      root: grant.root || "/",
      publish: grant.publish.length === 0 ? "-" : grant.publish.map((p) => p === "" ? "/" : p).join(","),
      subscribe: grant.subscribe.length === 0
        ? "-"
        : grant.subscribe.map((p) => p === "" ? "/" : p).join(","),
    });
    this.#sessions.add(session);
    session.done.finally(() => {
      this.#sessions.delete(session);
      // Every kind of session: its sockets, stream state and session objects are garbage now.
      this.reclaimer.connectionClosed();
    });
    if (this.#draining) session.close(SHUTDOWN_CLOSE_CODE, "server shutdown");
    return session;
  }

  /**
   * Whether a legacy CLIENT_SETUP may select moq-transport-14: only when `[server] version` lists it
   * (by default a legacy SETUP runs moq-lite, which every client offering draft-14 also offers).
   */
  #legacyDraft14(): boolean {
    return this.config.server.versions.includes("moq-transport-14");
  }

  /**
   * A session whose protocol a legacy CLIENT_SETUP decides: draft-14 when it offers
   * `0xff00000e` and no moq-lite version `[server] version` enables, moq-lite otherwise.
   */
  #legacySetup(
    transport: TransportSession,
    ietf: (t: TransportSession, d: Draft) => RunningSession,
    lite: (t: TransportSession) => RunningSession,
  ): RunningSession {
    const versions = this.config.server.versions;
    const liteVersions = [Version.Lite01, Version.Lite02].filter((v) => versions.includes(versionName(v)));
    const started = peekClientSetup(transport, SETUP_TIMEOUT_MS).then(({ transport: t, versions: offered }) =>
      offered.includes(draftVersion(14)) && !offered.some((v) => liteVersions.includes(v))
        ? ietf(t, 14)
        : lite(t)
    );
    return {
      done: started.then((s) => s.done),
      close: (code, reason) => transport.close(code, reason),
      goaway: (uri) => started.then((s) => s.goaway(uri)),
    };
  }

  /** Downstream subscriptions still open (their group streams may still be flushing). */
  get activeSubscriptions(): number {
    return this.stats.subscriptionsOpened - this.stats.subscriptionsClosed;
  }

  /** Groups publishers are still sending (open in the origin's cache), right now. */
  openGroups(): Group[] {
    const open: Group[] = [];
    for (const path of this.origin.list("")) {
      const broadcast = this.origin.get(path);
      if (!broadcast) continue;
      for (const track of broadcast.tracks.values()) {
        for (const group of track.groups) if (group.state === "open") open.push(group);
      }
    }
    return open;
  }

  /**
   * Graceful drain (docs/relay.md §7, §8 item 11), bounded by `timeoutMs` overall:
   *
   * 1. {@link draining} turns true: `/health` answers 503, new sessions are refused (closed with
   *    code 0 at once, WebSocket upgrades get 503);
   * 2. lite-04 sessions get a GOAWAY (a client may move and leave on its own);
   * 3. the groups publishers were sending when the drain began may finish;
   * 4. every broadcast ends cleanly, so subscribers see their tracks finish (not fail) and their
   *    announcements end; their last group streams get to flush;
   * 5. every session still open is closed with code 0 (`server shutdown`): on WebSocket an
   *    APPLICATION_CLOSE code 0 then close 1000;
   * 6. the origin stops.
   *
   * Calling it again returns the same drain.
   */
  drain(timeoutMs: number): Promise<void> {
    this.#drain ??= this.#runDrain(timeoutMs);
    return this.#drain;
  }

  async #runDrain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const log = this.#log;
    const sessions = [...this.#sessions];
    const inFlight = this.openGroups();
    log.info("draining", {
      sessions: sessions.length,
      groups_in_flight: inFlight.length,
      timeout_ms: timeoutMs,
    });
    await this.#until(deadline, Promise.allSettled(sessions.map((s) => s.goaway())));
    const groupsDone = await this.#poll(
      deadline,
      () => this.#sessions.size === 0 || inFlight.every((g) => g.state !== "open"),
    );
    this.origin.close();
    const flushed = await this.#poll(
      deadline,
      () => this.#sessions.size === 0 || this.activeSubscriptions <= 0,
    );
    const left = [...this.#sessions];
    for (const s of left) s.close(SHUTDOWN_CLOSE_CODE, "server shutdown");
    const closeWait = Math.max(SESSION_CLOSE_GRACE_MS, deadline - Date.now());
    await this.#until(Date.now() + closeWait, Promise.allSettled(left.map((s) => s.done)));
    log.info("drained", {
      in_flight_groups_finished: groupsDone,
      subscriptions_flushed: flushed,
      closed_sessions: left.length,
    });
    this.#abort.abort();
  }

  /** Resolve when `promise` settles or at `deadline`, whichever comes first. */
  async #until(deadline: number, promise: Promise<unknown>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      promise,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
  }

  /** Poll `done` every {@link DRAIN_POLL_MS} until it is true (true) or `deadline` passes (false). */
  async #poll(deadline: number, done: () => boolean): Promise<boolean> {
    while (!done()) {
      const rest = deadline - Date.now();
      if (rest <= 0) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_POLL_MS, rest)));
    }
    return true;
  }

  /** Stop at once (second signal). */
  stopNow(): void {
    for (const s of this.#sessions) s.close(SHUTDOWN_CLOSE_CODE, "server shutdown");
    this.#abort.abort();
  }
}
