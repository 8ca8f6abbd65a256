/**
 * One moq-lite session over any transport: version negotiation (ALPN / subprotocol, or the legacy
 * CLIENT_SETUP that `@moq/lite` 0.2.2 sends over WebSocket), stream dispatch, lifetime, token
 * expiry and clean versus abrupt close. The same class serves accepted clients and the relay's own
 * outbound cluster links (`role: "client"`).
 *
 * moq-lite-05 (draft-lcurley-moq-lite-05): each side sends one SETUP on a uni stream. As the server
 * the session reads the client's SETUP before serving anything: on raw QUIC (no URL) its Path
 * carries the root and `?jwt=`, authorised like a URL; a Role the grant does not allow closes the
 * session, and the half the Role does not use is not wired.
 *
 * @module
 */

import { AuthError, type SessionGrant, SessionScope } from "../auth/mod.ts";
import type { LimitsConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Origin, RelayStats } from "../relay/mod.ts";
import {
  type BidiStream,
  type CloseInfo,
  type RecvStream,
  StreamReader,
  type TransportKind,
  type TransportSession,
} from "../transport/mod.ts";
import { serveAnnounce } from "./_announce.ts";
import {
  Code,
  CredentialExpiry,
  DEFAULT_LIMITS,
  discardRest,
  MESSAGES_PER_YIELD,
  peerErrorCode,
  ProtocolError,
  refuse,
  type SessionContext,
  SessionWarnings,
  yieldToEventLoop,
} from "./context.ts";
import { Ingest } from "./_ingest.ts";
import {
  type AnnounceInterest,
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
import { serveFetch05, serveTrack05 } from "./_track05.ts";
import {
  BidiType05,
  decodeAnnounceRequest,
  decodeDatagram05,
  encodeSetupStream,
  PeerSetupSlot,
  ProbeLevel,
  readSetupStream,
  Role,
  type Setup,
  UniType05,
} from "./lite05.ts";

/**
 * Transports without a request URL: a moq-lite-05 client names its root and `?jwt=` in the SETUP
 * Path there (docs/lite05.md).
 */
const URL_LESS_KINDS: readonly TransportKind[] = ["quic", "tcp", "unix"];
/** How long a lite-03/04 session waits for a possible legacy SETUP before opening its own streams. */
export const SETUP_GRACE_MS = 250;
/**
 * Most ANNOUNCE_INTEREST streams one session may hold open. Each one is an origin listener visited
 * on every announcement; beyond this the stream is reset with code 11 (bounds exceeded).
 */
export const MAX_ANNOUNCE_INTERESTS_PER_SESSION = 64;
/** Largest lite-05 datagram body read (a UDP payload cannot be larger). */
export const MAX_DATAGRAM_BODY_BYTES = 65_527;
/** How long a legacy session may take to send CLIENT_SETUP. */
export const SETUP_TIMEOUT_MS = 10_000;
// Shared with the moq-transport session (session/ietf/), which serves subscriptions the same way.
export { MAX_UPSTREAM_TRACKS_PER_SESSION, SubscriptionRegistry } from "./_subscribe.ts";
export {
  GROUP_STREAM_OVERHEAD_BYTES,
  GroupPump,
  GroupQueue,
  MAX_GROUPS_BEHIND,
  MAX_GROUPS_IN_FLIGHT,
} from "./_group_queue.ts";

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
  /**
   * SETUP codes a legacy CLIENT_SETUP may select, most preferred first (a `VersionOffer`'s
   * `setupCodes`, from `[server] version`; default lite-02 and lite-01). Codes this session layer
   * cannot speak over a legacy SETUP are ignored; an empty list refuses every CLIENT_SETUP.
   */
  legacyVersions?: readonly number[];
  /**
   * Resolve the grant once the moq-lite-05 SETUP is read (throws `AuthError` to refuse): called
   * with the SETUP Path (`path?query`, resolved against the transport URL) on raw QUIC, else with
   * the transport URL. Absent: `grant` stands.
   */
  authorize?: (url: URL) => Promise<SessionGrant>;
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
  readonly #expiry = new CredentialExpiry(() => {
    this.#log.info("credential expired; closing session", { peer: this.transport.peer });
    this.transport.close(Code.Unauthorized, "token expired");
  });
  #grant: SessionGrant;
  /** lite-05 server: settles true once the client's SETUP was accepted, false if refused. */
  #setupGate: Promise<boolean> | null = null;
  #openGate: ((ok: boolean) => void) | null = null;
  readonly #peerSetup = new PeerSetupSlot();
  /** The SETUP grace period (lite-03/04) or SETUP timeout, while armed. */
  #graceTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(options: MoqSessionOptions) {
    this.#opts = options;
    this.id = options.id;
    this.transport = options.transport;
    this.#log = options.logger.child("session", { session: options.id });
    this.#grant = options.grant;
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
    if ((this.#version !== Version.Lite04 && this.#version !== Version.Lite05) || !this.#started) return;
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
      scope: new SessionScope(this.#grant),
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
    log.info("negotiated version", { transport: o.transport.kind, root: this.#grant.root || "/" });
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

  /**
   * Start the session; resolves with how it ended. Not an async function: the session waits for
   * its transport's close all its life, and a suspended async frame holding every local costs more
   * than the `then` below.
   */
  #run(): Promise<CloseInfo> {
    const t = this.transport;
    const o = this.#opts;
    this.#expiry.arm(this.#grant.expiresAtMs);
    if (t.protocol === "moq-lite-05") {
      if (o.role === "client") {
        this.#settle(Version.Lite05);
        // Our SETUP goes first; nobody waits for the peer's before opening streams.
        this.#sendSetup05().then(() => this.#start(), (err) => this.#handleError(err));
      } else {
        this.#setupGate = new Promise((resolve) => (this.#openGate = resolve));
        this.#armGrace(() => {
          if (!this.#ctx) this.#fail(Code.Timeout, "no SETUP received");
        }, SETUP_TIMEOUT_MS);
      }
    } else if (t.protocol === "moq-lite-04" || t.protocol === "moq-lite-03") {
      this.#settle(t.protocol === "moq-lite-04" ? Version.Lite04 : Version.Lite03);
      if (o.role === "client") this.#start();
      else this.#armGrace(() => this.#graceOver(), SETUP_GRACE_MS);
    } else if (o.role === "client") {
      this.#clientSetup().catch((err) => this.#handleError(err));
    } else {
      this.#armGrace(() => {
        if (!this.#ctx) this.#fail(Code.Timeout, "no CLIENT_SETUP received");
      }, SETUP_TIMEOUT_MS);
    }

    const failed = this.#streamFailed;
    const bidiLoop = (async () => {
      for (;;) {
        const s = await t.acceptBidi();
        if (!s) return;
        this.#bidi(s).catch(failed);
      }
    })();
    const uniLoop = (async () => {
      for (;;) {
        const s = await t.acceptUni();
        if (!s) return;
        this.#uni(s).catch(failed);
      }
    })();
    // lite-05 over raw QUIC or WebTransport: single-frame groups may arrive as datagrams.
    const datagramLoop = (async () => {
      const channel = t.datagrams;
      if (!channel || t.protocol !== "moq-lite-05") return;
      for (;;) {
        const body = await channel.receive();
        if (body === null) return;
        this.#datagram(body);
      }
    })();
    return t.closed.then((info) => this.#closed(info, [bidiLoop, uniLoop, datagramLoop]));
  }

  /** Arm the SETUP grace or timeout timer; it lets go of itself once it fired (or is cleared). */
  #armGrace(fire: () => void, ms: number): void {
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      fire();
    }, ms);
  }

  #clearGrace(): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  /** The transport closed: stop everything, wait for the accept loops, count and log the close. */
  async #closed(
    info: CloseInfo,
    loops: Promise<void>[],
  ): Promise<CloseInfo> {
    const t = this.transport;
    const o = this.#opts;
    this.#openGate?.(false);
    this.#clearGrace();
    this.#expiry.cancel();
    this.#closeInfo = info;
    this.#abort.abort();
    const clean = !info.abrupt && info.code === 0;
    this.#ingest?.close(!clean);
    await Promise.allSettled(loops);
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

  /**
   * One handler for every stream's failure, not a closure per stream (a subscription keeps its
   * `catch` reaction all its life).
   */
  readonly #streamFailed = (err: unknown): void => this.#handleError(err);

  #handleError(err: unknown): void {
    if (this.#abort.signal.aborted) return;
    const code = peerErrorCode(err);
    if (code !== null) this.#fail(code, (err as Error).message);
    else this.#log.debug("stream ended with error", { error: String(err) });
  }

  /** The legacy SETUP versions this session may select (see {@link MoqSessionOptions.legacyVersions}). */
  #legacyVersions(): Version[] {
    const codes = this.#opts.legacyVersions ?? [Version.Lite02, Version.Lite01];
    const out: Version[] = [];
    for (const code of codes) if (code === Version.Lite02 || code === Version.Lite01) out.push(code);
    return out;
  }

  /** Legacy SETUP as the dialing side. */
  async #clientSetup(): Promise<void> {
    const versions = this.#legacyVersions();
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
    if (this.#setupGate && !(await this.#setupGate)) return; // lite-05: nothing before the SETUP
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
    // Long-lived streams (subscriptions, announce interests) are returned, not awaited, from here
    // on: this frame is let go while they run.
    if (this.#version === Version.Lite05) return this.#bidi05(stream, reader, type);
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
        return this.#serveInterest(ctx, stream, reader, interest, "announce interest");
      }
      case BidiType.Subscribe: {
        const msg = decodeSubscribe(ctx.version, await reader.message(MAX_MESSAGE_BYTES));
        // Not returned: this frame's promise would stay pending, chained to it, all its life.
        serveSubscribe(ctx, stream, reader, msg, this.#subs).catch(this.#streamFailed);
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
        refuse(stream, Code.Unsupported);
        return;
      case BidiType.Session:
        refuse(stream, Code.UnexpectedStream);
        return;
    }
    ctx.log.debug("unknown bidirectional stream type", { type });
    refuse(stream, Code.UnexpectedStream);
  }

  /**
   * Serve one announce interest (lite-01..04 ANNOUNCE_INTEREST, lite-05 ANNOUNCE_REQUEST) while the
   * session holds fewer than {@link MAX_ANNOUNCE_INTERESTS_PER_SESSION}; beyond that the stream is
   * refused with code 11. `what` names the stream in the warning.
   */
  async #serveInterest(
    ctx: SessionContext,
    stream: BidiStream,
    reader: StreamReader,
    interest: AnnounceInterest,
    what: string,
  ): Promise<void> {
    if (this.#interests >= MAX_ANNOUNCE_INTERESTS_PER_SESSION) {
      ctx.warnings.warn(ctx.log, "interests", `too many ${what} streams; reset with code 11`, {
        limit: MAX_ANNOUNCE_INTERESTS_PER_SESSION,
        peer: this.transport.peer,
      });
      refuse(stream, Code.Bounds);
      return;
    }
    this.#interests++;
    try {
      await serveAnnounce(ctx, stream, reader, interest);
    } finally {
      this.#interests--;
    }
  }

  /** Dispatch one moq-lite-05 bidi stream by type. */
  async #bidi05(stream: BidiStream, reader: StreamReader, type: number): Promise<void> {
    const ctx = this.#ctx!;
    switch (type) {
      case BidiType05.Announce: {
        const req = decodeAnnounceRequest(await reader.message(MAX_MESSAGE_BYTES));
        const interest = { prefix: req.prefix, excludeHop: req.excludeHop };
        return this.#serveInterest(ctx, stream, reader, interest, "announce request");
      }
      case BidiType05.Subscribe: {
        const msg = decodeSubscribe(ctx.version, await reader.message(MAX_MESSAGE_BYTES));
        // Not returned: this frame's promise would stay pending, chained to it, all its life.
        serveSubscribe(ctx, stream, reader, msg, this.#subs).catch(this.#streamFailed);
        return;
      }
      case BidiType05.Track:
        return serveTrack05(ctx, stream, reader, this.#subs);
      case BidiType05.Fetch:
        return serveFetch05(ctx, stream, reader, this.#subs);
      case BidiType05.Goaway:
        ctx.log.info("peer sent GOAWAY");
        await stream.send.close();
        return;
      case BidiType05.Probe:
        // Our SETUP advertised no probe support: a publisher that did so resets Probe streams.
        refuse(stream, Code.Unsupported);
        return;
    }
    ctx.log.debug("unknown bidirectional stream type", { type });
    refuse(stream, Code.UnexpectedStream);
  }

  /** One received lite-05 datagram: malformed ones are dropped with a (once per session) warning. */
  #datagram(body: Uint8Array): void {
    const ingest = this.#ingest;
    const ctx = this.#ctx;
    if (!ingest || !ctx) return;
    try {
      ingest.datagram(decodeDatagram05(body, MAX_DATAGRAM_BODY_BYTES));
    } catch (err) {
      ctx.warnings.warn(ctx.log, "datagram", "malformed datagram dropped", { error: String(err) });
    }
  }

  /** Send this endpoint's one SETUP on its own uni stream, then FIN. */
  async #sendSetup05(): Promise<void> {
    const t = this.transport;
    const setup: Setup = { probe: ProbeLevel.None, role: Role.Both };
    if (this.#opts.originId) setup.origin = BigInt(this.#opts.originId);
    // URL-less bindings (raw QUIC) carry the request path and `?jwt=` in the client's SETUP.
    if (this.#opts.role === "client" && URL_LESS_KINDS.includes(t.kind)) {
      setup.path = t.url.pathname + t.url.search;
    }
    const s = await t.openUni();
    await s.write(encodeSetupStream(setup));
    await s.close();
  }

  /**
   * The client's SETUP arrived (server role): authorise, check the Role against the grant, trim the
   * unused half, answer with our SETUP and start serving.
   */
  async #acceptSetup05(setup: Setup): Promise<void> {
    const t = this.transport;
    const o = this.#opts;
    let grant = this.#grant;
    if (o.authorize) {
      let url = t.url;
      if (setup.path !== undefined && setup.path !== "" && URL_LESS_KINDS.includes(t.kind)) {
        try {
          url = new URL(setup.path, t.url);
        } catch {
          throw new ProtocolError(Code.Decode, "SETUP path is not a valid path?query");
        }
      }
      try {
        grant = await o.authorize(url);
      } catch (err) {
        const code = err instanceof AuthError ? err.closeCode : Code.Unauthorized;
        this.#log.warn("SETUP refused: not authorised", { peer: t.peer, code });
        o.stats.sessionErrors++;
        this.#openGate?.(false);
        t.close(code, "unauthorized");
        return;
      }
    }
    if (
      (setup.role === Role.Publisher && grant.publish.length === 0) ||
      (setup.role === Role.Subscriber && grant.subscribe.length === 0)
    ) {
      const role = setup.role === Role.Publisher ? "publisher" : "subscriber";
      this.#log.warn("SETUP refused: the credential does not allow the requested role", {
        peer: t.peer,
        role,
      });
      o.stats.sessionErrors++;
      this.#openGate?.(false);
      t.close(Code.Unauthorized, `role ${role} not allowed`);
      return;
    }
    // The half the Role does not use is not wired.
    if (setup.role === Role.Publisher) grant = { ...grant, subscribe: [], internalSubscribe: [] };
    if (setup.role === Role.Subscriber) grant = { ...grant, publish: [] };
    this.#grant = grant;
    this.#expiry.arm(grant.expiresAtMs);
    await this.#sendSetup05();
    this.#settle(Version.Lite05);
    this.#clearGrace(); // the SETUP arrived: its timeout has no more work
    this.#start();
    this.#openGate?.(true);
  }

  /** A lite-05 uni stream: the peer's SETUP (exactly one) or a group. */
  async #uni05(stream: RecvStream, reader: StreamReader): Promise<void> {
    const type = await reader.varint();
    if (type === UniType05.Setup) {
      const setup = await readSetupStream(reader, MAX_MESSAGE_BYTES);
      this.#peerSetup.record(setup); // a second SETUP throws: the session closes
      if (this.#opts.role !== "client") await this.#acceptSetup05(setup);
      return;
    }
    if (this.#setupGate && this.#peerSetup.setup === undefined) {
      // Upstream skips whatever arrives before the client's SETUP.
      stream.stop(Code.UnexpectedStream);
      return;
    }
    if (this.#setupGate && !(await this.#setupGate)) return;
    if (type !== UniType05.Group) {
      this.#ctx?.log.debug("unknown unidirectional stream type", { type });
      stream.stop(Code.UnexpectedStream);
      return;
    }
    if (!this.#ingest) {
      stream.stop(Code.Cancel);
      return;
    }
    return this.#ingest.group(stream, reader, type);
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
    const supported = this.#legacyVersions();
    // The client's order decides (its first listed version the relay offers).
    const first = setup.versions.find((offered) => supported.some((v) => v === offered));
    const chosen = supported.find((v) => v === first);
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

  // Async although it awaits nothing itself: a synchronous throw must reach the caller's catch as a
  // rejection, and the group it hands to is returned, not awaited (see #bidi).
  // deno-lint-ignore require-await
  async #uni(stream: RecvStream): Promise<void> {
    const reader = new StreamReader(stream);
    if (this.transport.protocol === "moq-lite-05") return this.#uni05(stream, reader);
    if (!this.#ctx || !this.#ingest) {
      // Data before the session is set up: we subscribed to nothing yet.
      stream.stop(Code.Cancel);
      return;
    }
    return this.#ingest.group(stream, reader);
  }

  /** How the session ended, once it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }
}
