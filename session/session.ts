/**
 * One moq-lite session over any transport: version negotiation (ALPN / subprotocol, or the legacy
 * CLIENT_SETUP that `@moq/lite` 0.2.2 sends over WebSocket), stream dispatch, lifetime, token
 * expiry and clean versus abrupt close. The same class serves accepted clients and the relay's own
 * outbound cluster links (`role: "client"`).
 *
 * @module
 */

import { type SessionGrant, SessionScope } from "../auth/mod.ts";
import type { LimitsConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Origin, RelayStats } from "../relay/mod.ts";
import {
  type BidiStream,
  type CloseInfo,
  type RecvStream,
  StreamReader,
  type TransportSession,
} from "../transport/mod.ts";
import { serveAnnounce } from "./_announce.ts";
import {
  Code,
  DEFAULT_LIMITS,
  discardRest,
  MESSAGES_PER_YIELD,
  peerErrorCode,
  ProtocolError,
  type SessionContext,
  SessionWarnings,
  yieldToEventLoop,
} from "./context.ts";
import { Ingest } from "./_ingest.ts";
import {
  BidiType,
  decodeAnnounceInterest,
  decodeClientSetup,
  decodeServerSetup,
  decodeSessionInfo,
  decodeSubscribe,
  encodeClientSetup,
  encodeGoaway,
  encodeServerSetup,
  encodeStreamType,
  isLegacy,
  MAX_MESSAGE_BYTES,
  Version,
  versionName,
} from "./messages.ts";
import { BodyReader, BoundsError, DecodeError } from "../codec/mod.ts";
import { serveSubscribe, SubscriptionRegistry } from "./_subscribe.ts";

/** How long a lite-03/04 session waits for a possible legacy SETUP before opening its own streams. */
export const SETUP_GRACE_MS = 250;
/**
 * Most ANNOUNCE_INTEREST streams one session may hold open. Each one is an origin listener visited
 * on every announcement; beyond this the stream is reset with code 11 (bounds exceeded).
 */
export const MAX_ANNOUNCE_INTERESTS_PER_SESSION = 64;
/** How long a legacy session may take to send CLIENT_SETUP. */
export const SETUP_TIMEOUT_MS = 10_000;
// Shared with the moq-transport session (session/ietf/), which serves subscriptions the same way.
export {
  GROUP_STREAM_OVERHEAD_BYTES,
  MAX_GROUPS_IN_FLIGHT,
  MAX_UPSTREAM_TRACKS_PER_SESSION,
  SubscriptionRegistry,
} from "./_subscribe.ts";

/** Options for {@link MoqSession}. */
export interface MoqSessionOptions {
  /** A number for logs. */
  id: number;
  transport: TransportSession;
  grant: SessionGrant;
  origin: Origin;
  stats: RelayStats;
  logger: Logger;
  limits?: LimitsConfig;
  /** This relay's origin id (lite-04 hop id); 0 = none. */
  originId?: number;
  /** `server` for accepted sessions, `client` for sessions the relay dialed. */
  role?: "server" | "client";
  /** Versions enabled for legacy SETUP (default lite-02 and lite-01). */
  legacyVersions?: Version[];
}

/** One running moq-lite session. */
export class MoqSession {
  readonly id: number;
  readonly transport: TransportSession;
  readonly #opts: MoqSessionOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #version: Version | null = null;
  #ctx: SessionContext | null = null;
  #ingest: Ingest | null = null;
  readonly #subs = new SubscriptionRegistry();
  #sessionStreamSeen = false;
  #started = false;
  /** Bidi streams accepted before the start whose type has not been read yet. */
  #untypedStreams = 0;
  /** Announce interest streams being served. */
  #interests = 0;
  readonly #warnings = new SessionWarnings();
  /** A CLIENT_SETUP is being read: the version is not decided until it is complete. */
  #setupPending = false;
  /** The SETUP grace period has ended (a held start happens once the pending input resolves). */
  #graceExpired = false;
  #closeInfo: CloseInfo | null = null;
  readonly #done: Promise<CloseInfo>;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: MoqSessionOptions) {
    this.#opts = options;
    this.id = options.id;
    this.transport = options.transport;
    this.#log = options.logger.child("session", { session: options.id });
    this.#done = this.#run();
  }

  /** The negotiated version, once known. */
  get version(): Version | null {
    return this.#version;
  }

  /** Resolves when the session is over. */
  get done(): Promise<CloseInfo> {
    return this.#done;
  }

  /** Close the session with a code and reason. */
  close(code: number, reason: string): void {
    this.transport.close(code, reason);
  }

  /**
   * Ask the peer to go away (graceful shutdown). lite-04 gets a GOAWAY stream; every version then
   * keeps running until {@link close}.
   */
  async goaway(uri = ""): Promise<void> {
    // GOAWAY exists in lite-04 only; a session still inside its SETUP grace period may yet turn
    // out to be legacy (§4.4), so it gets none.
    if (this.#version !== Version.Lite04 || !this.#started) return;
    try {
      const s = await this.transport.openBidi();
      await s.send.write(encodeStreamType(BidiType.Goaway));
      await s.send.write(encodeGoaway(uri));
      await s.send.close();
    } catch {
      // the session is going anyway
    }
  }

  #settle(version: Version): SessionContext {
    if (this.#ctx) return this.#ctx;
    const o = this.#opts;
    this.#version = version;
    const log = this.#log.with({ version: versionName(version) });
    this.#ctx = {
      id: o.id,
      transport: o.transport,
      version,
      scope: new SessionScope(o.grant),
      origin: o.origin,
      stats: o.stats,
      log,
      limits: o.limits ?? DEFAULT_LIMITS,
      originId: o.originId ?? 0,
      signal: this.#abort.signal,
      fail: (code, reason) => this.#fail(code, reason),
      warnings: this.#warnings,
    };
    o.stats.sessionOpened(o.transport.kind, versionName(version));
    log.info("negotiated version", { transport: o.transport.kind, root: o.grant.root || "/" });
    return this.#ctx;
  }

  /** Start the relay-initiated side once the version is known. */
  #start(): void {
    if (this.#started || !this.#ctx) return;
    this.#started = true;
    this.#ingest = new Ingest(this.#ctx);
    if (this.#ctx.scope.publish.length > 0) this.#ingest.start();
  }

  /**
   * The SETUP grace period ended. Start as lite-03/04 only when no decision is half-way: a stream
   * whose type is still unread, or a CLIENT_SETUP still arriving, decides when it is complete
   * (the stream path starts the session then).
   */
  #graceOver(): void {
    this.#graceExpired = true;
    if (this.#setupPending || this.#untypedStreams > 0) return;
    this.#start();
  }

  #fail(code: number, reason: string): void {
    if (this.#abort.signal.aborted) return;
    this.#log.warn("closing session on protocol error", { code, reason, peer: this.transport.peer });
    this.#opts.stats.sessionErrors++;
    this.transport.close(code, reason);
  }

  async #run(): Promise<CloseInfo> {
    const t = this.transport;
    const o = this.#opts;
    const expires = o.grant.expiresAtMs;
    if (expires !== undefined) {
      const ms = Math.max(0, expires - Date.now());
      // setTimeout caps at 2^31-1 ms; re-arm for far expiries.
      const arm = (left: number) => {
        this.#expiryTimer = setTimeout(() => {
          const rest = expires - Date.now();
          if (rest > 0) arm(rest);
          else {
            this.#log.info("credential expired; closing session", { peer: t.peer });
            t.close(Code.Unauthorized, "token expired");
          }
        }, Math.min(left, 2_000_000_000));
      };
      arm(ms);
    }
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    if (t.protocol === "moq-lite-04" || t.protocol === "moq-lite-03") {
      this.#settle(t.protocol === "moq-lite-04" ? Version.Lite04 : Version.Lite03);
      if (o.role === "client") this.#start();
      else graceTimer = setTimeout(() => this.#graceOver(), SETUP_GRACE_MS);
    } else if (o.role === "client") {
      this.#clientSetup().catch((err) => this.#handleError(err));
    } else {
      graceTimer = setTimeout(() => {
        if (!this.#ctx) this.#fail(Code.Timeout, "no CLIENT_SETUP received");
      }, SETUP_TIMEOUT_MS);
    }

    const bidiLoop = (async () => {
      for (;;) {
        const s = await t.acceptBidi();
        if (!s) return;
        this.#bidi(s).catch((err) => this.#handleError(err));
      }
    })();
    const uniLoop = (async () => {
      for (;;) {
        const s = await t.acceptUni();
        if (!s) return;
        this.#uni(s).catch((err) => this.#handleError(err));
      }
    })();
    const info = await t.closed;
    clearTimeout(graceTimer);
    clearTimeout(this.#expiryTimer);
    this.#closeInfo = info;
    this.#abort.abort();
    const clean = !info.abrupt && info.code === 0;
    this.#ingest?.close(!clean);
    await Promise.allSettled([bidiLoop, uniLoop]);
    if (this.#version !== null) o.stats.sessionClosed(t.kind, versionName(this.#version));
    this.#log.info("session closed", {
      peer: t.peer,
      code: info.code,
      reason: info.reason,
      by: info.remote ? "peer" : "relay",
      abrupt: info.abrupt,
    });
    return info;
  }

  #handleError(err: unknown): void {
    if (this.#abort.signal.aborted) return;
    const code = peerErrorCode(err);
    if (code !== null) this.#fail(code, (err as Error).message);
    else this.#log.debug("stream ended with error", { error: String(err) });
  }

  /** Legacy SETUP as the dialing side. */
  async #clientSetup(): Promise<void> {
    const versions = this.#opts.legacyVersions ?? [Version.Lite02, Version.Lite01];
    const s = await this.transport.openBidi();
    await s.send.write(encodeClientSetup(versions));
    const reader = new StreamReader(s.recv);
    const type = await reader.varint();
    if (type !== 0x21) throw new ProtocolError(Code.Unexpected, `expected SERVER_SETUP, got type ${type}`);
    const len = (await reader.u8() << 8) | await reader.u8();
    const version = decodeServerSetup(new BodyReader(await reader.exact(len)));
    if (!versions.includes(version)) {
      throw new ProtocolError(Code.Version, `peer selected unknown version ${version}`);
    }
    this.#settle(version);
    this.#start();
    await this.#sessionStream(s, reader);
  }

  async #bidi(stream: BidiStream): Promise<void> {
    const reader = new StreamReader(stream.recv);
    const early = !this.#started;
    if (early) this.#untypedStreams++;
    let type: number;
    try {
      type = await reader.varint();
    } finally {
      if (early) {
        this.#untypedStreams--;
        // A stream that failed before its type held the start: release it.
        if (this.#graceExpired && !this.#started) queueMicrotask(() => this.#graceOver());
      }
    }
    if (type === BidiType.ClientSetup) {
      await this.#serverSetup(stream, reader);
      return;
    }
    // Any other first stream settles a lite-03/04 session without SETUP.
    if (!this.#ctx) {
      throw new ProtocolError(Code.ProtocolViolation, `expected CLIENT_SETUP, got stream type ${type}`);
    }
    this.#start();
    const ctx = this.#ctx;
    switch (type) {
      case BidiType.Announce: {
        const interest = decodeAnnounceInterest(ctx.version, await reader.message(MAX_MESSAGE_BYTES));
        if (this.#interests >= MAX_ANNOUNCE_INTERESTS_PER_SESSION) {
          ctx.warnings.warn(ctx.log, "interests", "too many announce interest streams; reset with code 11", {
            limit: MAX_ANNOUNCE_INTERESTS_PER_SESSION,
            peer: this.transport.peer,
          });
          stream.send.reset(Code.Bounds);
          stream.recv.stop(Code.Bounds);
          return;
        }
        this.#interests++;
        try {
          await serveAnnounce(ctx, stream, reader, interest);
        } finally {
          this.#interests--;
        }
        return;
      }
      case BidiType.Subscribe: {
        const msg = decodeSubscribe(ctx.version, await reader.message(MAX_MESSAGE_BYTES));
        await serveSubscribe(ctx, stream, reader, msg, this.#subs);
        return;
      }
      case BidiType.Probe: {
        if (isLegacy(ctx.version)) break;
        // Keep it open and silent: the relay has no bandwidth estimate to report. Never reset it.
        await discardRest(reader);
        await stream.send.close();
        return;
      }
      case BidiType.Goaway: {
        if (ctx.version !== Version.Lite04) break;
        ctx.log.info("peer sent GOAWAY");
        await stream.send.close();
        return;
      }
      case BidiType.Fetch:
        stream.send.reset(Code.Unsupported);
        stream.recv.stop(Code.Unsupported);
        return;
      case BidiType.Session:
        stream.send.reset(Code.UnexpectedStream);
        stream.recv.stop(Code.UnexpectedStream);
        return;
    }
    ctx.log.debug("unknown bidirectional stream type", { type });
    stream.send.reset(Code.UnexpectedStream);
    stream.recv.stop(Code.UnexpectedStream);
  }

  async #serverSetup(stream: BidiStream, reader: StreamReader): Promise<void> {
    if (this.#sessionStreamSeen || this.#started) {
      throw new ProtocolError(Code.ProtocolViolation, "CLIENT_SETUP sent twice or after other streams");
    }
    this.#sessionStreamSeen = true;
    this.#setupPending = true;
    let setup;
    try {
      const len = (await reader.u8() << 8) | await reader.u8();
      setup = decodeClientSetup(new BodyReader(await reader.exact(len)));
    } catch (err) {
      if (peerErrorCode(err) !== null) throw err;
      // Reset or lost mid-SETUP: the version can never be decided, so the session cannot go on.
      throw new ProtocolError(Code.ProtocolViolation, `CLIENT_SETUP incomplete: ${(err as Error).message}`);
    }
    const supported = this.#opts.legacyVersions ?? [Version.Lite02, Version.Lite01];
    const chosen = setup.versions.find((v) => supported.includes(v));
    if (chosen === undefined) {
      throw new ProtocolError(
        Code.Version,
        `no common version: client offered ${setup.versions.map((v) => "0x" + v.toString(16)).join(", ")}`,
      );
    }
    // §4.4: a legacy SETUP wins even when a lite-03/04 protocol was selected.
    if (this.#ctx && this.#ctx.version !== chosen) {
      this.#ctx = null;
      this.#opts.stats.sessionClosed(this.transport.kind, versionName(this.#version!));
    }
    await stream.send.write(encodeServerSetup(chosen));
    this.#settle(chosen);
    this.#start();
    await this.#sessionStream(stream, reader);
  }

  /** The 01/02 session stream: SESSION_INFO until FIN; its end ends the session. */
  async #sessionStream(stream: BidiStream, reader: StreamReader): Promise<void> {
    try {
      for (let n = 1; !(await reader.done()); n++) {
        if (n % MESSAGES_PER_YIELD === 0) await yieldToEventLoop();
        decodeSessionInfo(await reader.message(MAX_MESSAGE_BYTES));
      }
      this.transport.close(Code.Cancel, "session stream finished");
    } catch (err) {
      if (err instanceof DecodeError || err instanceof BoundsError) throw err;
      this.transport.close(Code.Cancel, "session stream ended");
    }
    void stream;
  }

  async #uni(stream: RecvStream): Promise<void> {
    const reader = new StreamReader(stream);
    if (!this.#ctx || !this.#ingest) {
      // Data before the session is set up: we subscribed to nothing yet.
      stream.stop(Code.Cancel);
      return;
    }
    await this.#ingest.group(stream, reader);
  }

  /** How the session ended, once it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }
}
