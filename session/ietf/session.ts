/**
 * One IETF moq-transport session (drafts 14–20) on the relay's origin, beside the moq-lite
 * sessions: the handshake of its draft (CLIENT_SETUP / SERVER_SETUP on a control stream through 16,
 * SETUP on a uni stream each way from 17), request dispatch, lifetime and token expiry.
 *
 * The session plays the same four roles as a moq-lite session (docs/architecture.md §2–3): it serves
 * SUBSCRIBE_NAMESPACE (announce interest) and SUBSCRIBE from the origin, and it learns the peer's
 * PUBLISH_NAMESPACE (announce) and pulls the peer's tracks with SUBSCRIBE when someone wants them.
 *
 * @module
 */

import { type SessionGrant, SessionScope } from "../../auth/mod.ts";
import type { LimitsConfig } from "../../config/mod.ts";
import type { Logger } from "../../log/mod.ts";
import type { Origin, RelayStats } from "../../relay/mod.ts";
import {
  type BidiStream,
  type CloseInfo,
  type RecvStream,
  StreamReader,
  type TransportSession,
} from "../../transport/mod.ts";
import { CredentialExpiry, DEFAULT_LIMITS, SessionWarnings } from "../context.ts";
import { SETUP_TIMEOUT_MS, SubscriptionRegistry } from "../session.ts";
import { BoundsError, DecodeError } from "../../codec/mod.ts";
import { type ControlMessage, decodeControl, encodeControl } from "./control.ts";
import { type Datagram, decodeDatagram } from "./data.ts";
import { type Draft, draftName, draftVersion, usesControlStream } from "./draft.ts";
import { SessionCode } from "./errors.ts";
import { IetfReader, type Param, ParameterError, SetupOption } from "./wire.ts";
import { readControl, readControlRaw, readDraftVarint } from "./_io.ts";
import { type IetfContext, NamespaceError } from "./_context.ts";
import { ControlMux, type Request, StreamRequest } from "./_requests.ts";
import { type InterestCounter, serveNamespaces, serveSubscribe } from "./_publisher.ts";
import { IetfIngest } from "./_subscriber.ts";
import { type FetchCounter, type JoinPoints, serveFetch, serveTrackStatus } from "./_fetch.ts";

/** The SETUP message type, also the stream type of the draft-17+ SETUP uni streams. */
export const SETUP_STREAM_TYPE = 0x2f00;
/** How many request ids the relay grants a drafts 14–16 peer at a time (MAX_REQUEST_ID window). */
export const REQUEST_ID_WINDOW = 256;
/**
 * Drafts 14–16: requests one peer may have open at once on the control stream, beyond the
 * per-kind quotas (subscriptions twice over for SUBSCRIBE + PUBLISH, broadcasts, one id window).
 * A peer that stops reading the control stream keeps every answered request open (its reply is
 * queued); past this count the session is closed with TOO_MANY_REQUESTS.
 */
export function maxOpenRequests(
  limits: { maxSubscriptionsPerSession: number; maxBroadcastsPerSession: number },
): number {
  return 2 * limits.maxSubscriptionsPerSession + limits.maxBroadcastsPerSession + REQUEST_ID_WINDOW;
}
/** The implementation name the relay states in SETUP. */
export const IMPLEMENTATION = "moq-relay-deno";

/** Raised inside a session for a peer's protocol violation; closes the session with `code`. */
export class IetfProtocolError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "IetfProtocolError";
    this.code = code;
  }
}

/** The session close code for a peer's bad input, or null when only the stream ends. */
function violationCode(err: unknown): number | null {
  if (err instanceof IetfProtocolError) return err.code;
  if (err instanceof ParameterError) return SessionCode.KeyValueFormattingError;
  if (err instanceof DecodeError || err instanceof BoundsError) return SessionCode.ProtocolViolation;
  if (err instanceof NamespaceError) return SessionCode.ProtocolViolation;
  return null;
}

/** Transports without a URL path: they authorise at SETUP (docs/ietf.md §8.1). */
const URL_LESS_KINDS: readonly string[] = ["quic", "tcp", "unix"];
/** AUTHORIZATION_TOKEN alias type that carries the token itself (the drafts' Authorization Token structure). */
const TOKEN_USE_VALUE = 0x3;
/** Longest AUTHORIZATION_TOKEN value accepted (a JWT; the option itself is capped at 8192 bytes). */
const MAX_TOKEN_BYTES = 4096;

/**
 * The token of a SETUP AUTHORIZATION_TOKEN option (alias type USE_VALUE, any token type), or
 * undefined when there is none. Alias registration is refused: the relay declares no token cache
 * (MAX_AUTH_TOKEN_CACHE_SIZE 0).
 */
export function setupToken(options: readonly Param[], draft: Draft): string | undefined {
  const o = options.find((p) => p.type === SetupOption.AuthorizationToken);
  if (o === undefined) return undefined;
  try {
    if (!(o.value instanceof Uint8Array)) throw new DecodeError("AUTHORIZATION_TOKEN is not a byte string");
    const r = new IetfReader(o.value, draft, "AUTHORIZATION_TOKEN");
    const alias = r.varint("the alias type");
    if (alias !== TOKEN_USE_VALUE) {
      throw new IetfProtocolError(
        alias <= 0x2 ? SessionCode.AuthTokenCacheOverflow : SessionCode.MalformedAuthToken,
        "AUTHORIZATION_TOKEN: only alias type USE_VALUE (3) is accepted; the relay caches no tokens",
      );
    }
    r.varint("the token type");
    const value = r.rest();
    if (value.length === 0 || value.length > MAX_TOKEN_BYTES) throw new DecodeError("token size");
    return new TextDecoder("utf-8", { fatal: true }).decode(value);
  } catch (err) {
    if (err instanceof IetfProtocolError) throw err;
    throw new IetfProtocolError(SessionCode.MalformedAuthToken, "AUTHORIZATION_TOKEN is malformed");
  }
}

/** Options for {@link IetfSession}. */
export interface IetfSessionOptions {
  /** A number for logs. */
  id: number;
  transport: TransportSession;
  /** The draft the transport negotiated (ALPN, `wt-protocol` or WebSocket subprotocol). */
  draft: Draft;
  grant: SessionGrant;
  origin: Origin;
  stats: RelayStats;
  logger: Logger;
  limits?: LimitsConfig;
  /**
   * Authorise a URL-less session at SETUP (the PATH and token as a URL; throws to refuse); absent:
   * `grant` stands and PATH is ignored.
   */
  authorize?: (url: URL) => Promise<SessionGrant>;
}

/** One running moq-transport session. */
export class IetfSession {
  readonly id: number;
  readonly transport: TransportSession;
  readonly draft: Draft;
  readonly #opts: IetfSessionOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #ctx: IetfContext;
  readonly #ingest: IetfIngest;
  readonly #subs = new SubscriptionRegistry();
  /** This session's subscriptions by request id, for joining fetches. */
  readonly #joins: JoinPoints = new Map();
  readonly #interests: InterestCounter = { interests: 0 };
  readonly #fetches: FetchCounter = { fetches: 0 };
  readonly #done: Promise<CloseInfo>;
  #mux: ControlMux | null = null;
  /** Our uni SETUP stream (17+), kept open for GOAWAY. */
  #setupStream: import("../../transport/mod.ts").SendStream | null = null;
  #setupDone = false;
  #setupWaiters: (() => void)[] = [];
  /** Next request id we use (odd: the relay is the server). */
  #nextRequestId = 1;
  /** The peer's request id limit for ours (14–16; MAX_REQUEST_ID). */
  #peerMaxRequestId = 0;
  /** The next request id we expect from the peer, and the limit we granted (14–16). */
  #expectRequestId = 0;
  #grantedMaxRequestId = REQUEST_ID_WINDOW;
  readonly #expiry = new CredentialExpiry(() => {
    this.#log.info("credential expired; closing session", { peer: this.transport.peer });
    this.transport.close(SessionCode.ExpiredAuthToken, "token expired");
  });
  #closeInfo: CloseInfo | null = null;

  constructor(options: IetfSessionOptions) {
    this.#opts = options;
    this.id = options.id;
    this.transport = options.transport;
    this.draft = options.draft;
    this.#log = options.logger.child("session", { session: options.id }).with({
      version: draftName(options.draft),
    });
    this.#ctx = {
      id: options.id,
      transport: options.transport,
      draft: options.draft,
      scope: new SessionScope(options.grant),
      origin: options.origin,
      stats: options.stats,
      log: this.#log,
      limits: options.limits ?? DEFAULT_LIMITS,
      signal: this.#abort.signal,
      warnings: new SessionWarnings(),
      fail: (code, reason) => this.#fail(code, reason),
      openRequest: (build) => this.#openRequest(build),
    };
    this.#ingest = new IetfIngest(this.#ctx);
    this.#done = this.#run();
  }

  /** The negotiated version's name (`moq-transport-NN`). */
  get version(): string {
    return draftName(this.draft);
  }

  /** Resolves when the session is over. */
  get done(): Promise<CloseInfo> {
    return this.#done;
  }

  /** How the session ended, once it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Close the session with a code and reason. */
  close(code: number, reason: string): void {
    this.transport.close(code, reason);
  }

  /** Ask the peer to go away (GOAWAY with an empty URI); the session keeps running. */
  async goaway(uri = ""): Promise<void> {
    // A session still in its handshake gets it once SETUP completes (the drain bounds the wait).
    if (!(await this.#whenSetUp())) return;
    const msg: ControlMessage = { kind: "goaway", uri, timeout: 0 };
    try {
      if (this.#mux) await this.#mux.write(msg);
      else if (this.#setupStream) await this.#setupStream.write(encodeControl(msg, this.draft));
    } catch {
      // the session is going anyway
    }
  }

  #fail(code: number, reason: string): void {
    if (this.#abort.signal.aborted) return;
    this.#log.warn("closing session on protocol error", { code, reason, peer: this.transport.peer });
    this.#opts.stats.sessionErrors++;
    this.transport.close(code, reason);
  }

  #handleError(err: unknown): void {
    if (this.#abort.signal.aborted) return;
    const code = violationCode(err);
    if (code !== null) this.#fail(code, (err as Error).message);
    else this.#log.debug("stream ended with error", { error: String(err) });
  }

  #setupComplete(): void {
    if (this.#setupDone) return;
    this.#setupDone = true;
    const o = this.#opts;
    o.stats.sessionOpened(o.transport.kind, draftName(this.draft));
    this.#log.info("negotiated version", { transport: o.transport.kind, root: o.grant.root || "/" });
    for (const w of this.#setupWaiters) w();
    this.#setupWaiters = [];
  }

  /** Resolves once SETUP completed; false when the session ended first. */
  #whenSetUp(): Promise<boolean> {
    if (this.#setupDone) return Promise.resolve(true);
    if (this.#abort.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.#setupWaiters.push(() => resolve(true));
      this.#abort.signal.addEventListener("abort", () => resolve(false), { once: true });
    });
  }

  async #run(): Promise<CloseInfo> {
    const t = this.transport;
    const o = this.#opts;
    this.#expiry.arm(o.grant.expiresAtMs);
    const setupTimer = setTimeout(() => {
      if (!this.#setupDone) this.#fail(SessionCode.ControlMessageTimeout, "no SETUP received");
    }, SETUP_TIMEOUT_MS);
    if (!usesControlStream(this.draft)) {
      this.#sendSetup().catch((err) => this.#handleError(err));
    }
    let firstBidi = true;
    let firstUni = true;
    const bidiLoop = (async () => {
      for (;;) {
        const s = await t.acceptBidi();
        if (!s) return;
        const control = firstBidi && usesControlStream(this.draft);
        firstBidi = false;
        (control ? this.#controlStream(s) : this.#bidi(s)).catch((err) => this.#handleError(err));
      }
    })();
    const uniLoop = (async () => {
      for (;;) {
        const s = await t.acceptUni();
        if (!s) return;
        const setup = firstUni && !usesControlStream(this.draft);
        firstUni = false;
        this.#uni(s, setup).catch((err) => this.#handleError(err));
      }
    })();
    // OBJECT_DATAGRAMs where the transport carries them (raw QUIC): read only after SETUP.
    const datagramLoop = (async () => {
      const channel = t.datagrams;
      if (!channel) return;
      for (;;) {
        const body = await channel.receive();
        if (body === null) return;
        if (this.#setupDone) this.#datagram(body);
      }
    })();
    const info = await t.closed;
    clearTimeout(setupTimer);
    this.#expiry.cancel();
    this.#closeInfo = info;
    this.#abort.abort();
    this.#mux?.close();
    const clean = !info.abrupt && info.code === 0;
    this.#ingest.close(!clean);
    await Promise.allSettled([bidiLoop, uniLoop, datagramLoop]);
    if (this.#setupDone) o.stats.sessionClosed(t.kind, draftName(this.draft));
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
   * URL-less transports (raw QUIC, TCP, UNIX) authorise at SETUP: the SETUP PATH (with its `?jwt=`)
   * is resolved against the transport URL (no PATH: the transport URL itself), an AUTHORIZATION_TOKEN
   * of alias type USE_VALUE replaces `?jwt=`, and the grant replaces the connection's (which holds
   * nothing when the listener deferred authorisation to SETUP). Ignored on the other transports (their
   * URL decides), as upstream does.
   */
  async #applyPath(options: Param[]): Promise<void> {
    const authorize = this.#opts.authorize;
    if (!URL_LESS_KINDS.includes(this.transport.kind) || !authorize) return;
    const p = options.find((o) => o.type === SetupOption.Path);
    let url: URL;
    try {
      if (p === undefined) url = new URL(this.transport.url);
      else {
        if (!(p.value instanceof Uint8Array)) throw new TypeError("PATH is not a byte string");
        const text = new TextDecoder("utf-8", { fatal: true }).decode(p.value);
        url = new URL(text.startsWith("/") ? text : `/${text}`, this.transport.url);
      }
    } catch {
      throw new IetfProtocolError(SessionCode.MalformedPath, "SETUP PATH is not a valid path");
    }
    const token = setupToken(options, this.draft);
    if (token !== undefined) url.searchParams.set("jwt", token);
    let grant: SessionGrant;
    try {
      grant = await authorize(url);
    } catch {
      this.#opts.stats.sessionErrors++;
      throw new IetfProtocolError(SessionCode.Unauthorized, "SETUP is not authorized: check the PATH token");
    }
    this.#ctx.scope = new SessionScope(grant);
    this.#expiry.arm(grant.expiresAtMs);
    this.#log.info("SETUP authorised", {
      root: grant.root || "/",
      path: p !== undefined,
      token: token !== undefined,
    });
  }

  /** One received OBJECT_DATAGRAM: malformed ones are dropped with a (once per session) warning. */
  #datagram(body: Uint8Array): void {
    let d: Datagram;
    try {
      d = decodeDatagram(body, this.draft);
    } catch (err) {
      this.#ctx.warnings.warn(this.#log, "datagram", "malformed OBJECT_DATAGRAM dropped", {
        error: String(err),
      });
      return;
    }
    this.#ingest.datagram(d);
  }

  /** Draft-17+: our SETUP on a uni stream of its own, kept open (GOAWAY travels on it). */
  async #sendSetup(): Promise<void> {
    const s = await this.transport.openUni();
    this.#setupStream = s;
    await s.write(encodeControl({
      kind: "setup",
      options: [{ type: SetupOption.Implementation, value: new TextEncoder().encode(IMPLEMENTATION) }],
    }, this.draft));
  }

  /** Draft-17+: the peer's SETUP stream, then anything after it (GOAWAY) until it ends. */
  async #peerSetup(stream: RecvStream, reader: StreamReader, type: number): Promise<void> {
    if (type !== SETUP_STREAM_TYPE) {
      throw new IetfProtocolError(
        SessionCode.ProtocolViolation,
        `expected SETUP, got stream type 0x${type.toString(16)}`,
      );
    }
    const len = (await reader.u8() << 8) | await reader.u8();
    const setup = decodeControl(SETUP_STREAM_TYPE, await reader.exact(len), this.draft);
    if (setup.kind === "setup") await this.#applyPath(setup.options);
    this.#setupComplete();
    try {
      for (;;) {
        const m = await readControl(reader, this.draft);
        if (m === null) break;
        if (m.kind === "goaway") this.#log.info("peer sent GOAWAY", { uri: m.uri });
        else throw new IetfProtocolError(SessionCode.ProtocolViolation, `${m.kind} on the SETUP stream`);
      }
    } catch (err) {
      if (violationCode(err) !== null) throw err;
    }
    void stream;
  }

  async #uni(stream: RecvStream, setup: boolean): Promise<void> {
    const reader = new StreamReader(stream);
    const type = await readDraftVarint(reader, this.draft);
    if (setup) {
      await this.#peerSetup(stream, reader, type);
      return;
    }
    if (!(await this.#whenSetUp())) return;
    await this.#ingest.subgroup(stream, reader, type);
  }

  /** Drafts 14–16: CLIENT_SETUP, then every control message until the stream (and session) ends. */
  async #controlStream(stream: BidiStream): Promise<void> {
    const reader = new StreamReader(stream.recv);
    const draft = this.draft;
    const { type, body } = await readControlRaw(reader, draft);
    if (type !== 0x20) {
      throw new IetfProtocolError(
        SessionCode.ProtocolViolation,
        `expected CLIENT_SETUP, got type 0x${type.toString(16)}`,
      );
    }
    const setup = decodeControl(type, body, draft);
    if (setup.kind !== "clientSetup") {
      throw new IetfProtocolError(SessionCode.ProtocolViolation, "expected CLIENT_SETUP");
    }
    if (draft === 14 && !setup.versions.includes(draftVersion(14))) {
      throw new IetfProtocolError(
        SessionCode.VersionNegotiationFailed,
        `CLIENT_SETUP does not offer draft-14 (0x${draftVersion(14).toString(16)})`,
      );
    }
    for (const p of setup.options) {
      if (p.type === SetupOption.MaxRequestId && typeof p.value === "number") {
        this.#peerMaxRequestId = p.value;
      }
    }
    await this.#applyPath(setup.options);
    const mux = new ControlMux(stream, draft);
    this.#mux = mux;
    await mux.write({
      kind: "serverSetup",
      version: draftVersion(draft),
      options: [
        { type: SetupOption.MaxRequestId, value: this.#grantedMaxRequestId },
        { type: SetupOption.Implementation, value: new TextEncoder().encode(IMPLEMENTATION) },
      ],
    });
    this.#setupComplete();
    try {
      for (;;) {
        const m = await readControl(reader, draft);
        if (m === null) break;
        this.#route(mux, m);
      }
      this.transport.close(SessionCode.NoError, "control stream finished");
    } catch (err) {
      if (violationCode(err) !== null) throw err;
      this.transport.close(SessionCode.NoError, "control stream ended");
    }
  }

  /** Route one control-stream message (drafts 14–16). */
  #route(mux: ControlMux, m: ControlMessage): void {
    switch (m.kind) {
      case "subscribe":
      case "publishNamespace":
      case "subscribeNamespace":
      case "trackStatus":
      case "fetch":
      case "publish": {
        const open = maxOpenRequests(this.#ctx.limits);
        if (mux.incoming.size >= open) {
          throw new IetfProtocolError(
            SessionCode.TooManyRequests,
            `more than ${open} requests open at once (is the peer reading the control stream?)`,
          );
        }
        this.#checkRequestId(m.requestId);
        const req = mux.openIncoming(m.requestId);
        this.#dispatch(m, req);
        return;
      }
      case "requestUpdate": {
        const target = m.existingRequestId ?? m.requestId;
        // A new request id when it is one (the update's own), checked like any other.
        if (m.existingRequestId !== undefined && m.requestId >= this.#expectRequestId) {
          this.#checkRequestId(m.requestId);
        }
        mux.deliver("incoming", target, m);
        return;
      }
      case "unsubscribe":
      case "fetchCancel":
      case "unsubscribeNamespace":
        mux.deliver("incoming", m.requestId, null);
        return;
      case "publishNamespaceDone": {
        if (m.requestId !== undefined) {
          mux.deliver("incoming", m.requestId, null);
          return;
        }
        const key = (m.namespace ?? []).join("/");
        for (const [id, r] of mux.incoming) {
          if (this.#announcedNamespaces.get(id) === key) {
            mux.deliver("incoming", r.id, null);
            return;
          }
        }
        return;
      }
      case "subscribeOk":
      case "subscribeError":
      case "requestError":
      case "requestOk":
      case "publishNamespaceOk":
      case "publishNamespaceError":
      case "subscribeNamespaceOk":
      case "subscribeNamespaceError":
      case "trackStatusOk":
      case "trackStatusError":
      case "fetchOk":
      case "fetchError":
      case "publishOk":
      case "publishError": {
        const id = m.requestId;
        if (id === undefined || !mux.outgoing.has(id)) {
          this.#log.debug("response to an unknown request ignored", { kind: m.kind, id });
          return;
        }
        mux.deliver("outgoing", id, m);
        return;
      }
      case "publishDone": {
        // Ends a SUBSCRIBE we sent, or a PUBLISH the peer sent.
        const id = m.requestId;
        if (id === undefined) return;
        const map = mux.outgoing.has(id) ? "outgoing" : "incoming";
        mux.deliver(map, id, m);
        mux.deliver(map, id, null);
        return;
      }
      case "publishNamespaceCancel":
        if (m.requestId !== undefined) mux.deliver("outgoing", m.requestId, null);
        return;
      case "maxRequestId":
        if (m.requestId < this.#peerMaxRequestId) {
          throw new IetfProtocolError(SessionCode.ProtocolViolation, "MAX_REQUEST_ID decreased");
        }
        this.#peerMaxRequestId = m.requestId;
        return;
      case "requestsBlocked":
        this.#log.debug("peer is blocked on request ids", { max: m.maxRequestId });
        return;
      case "goaway":
        this.#log.info("peer sent GOAWAY", { uri: m.uri });
        return;
      default:
        throw new IetfProtocolError(
          SessionCode.ProtocolViolation,
          `${m.kind} is not expected on the control stream`,
        );
    }
  }

  /** Namespaces of the peer's PUBLISH_NAMESPACE requests by request id (14–15 withdraw by name). */
  readonly #announcedNamespaces = new Map<number, string>();

  /** A peer request id must be the next even id within the window granted (14–16). */
  #checkRequestId(id: number): void {
    if (id % 2 !== 0 || id < this.#expectRequestId) {
      throw new IetfProtocolError(SessionCode.InvalidRequestId, `request id ${id} is not the next client id`);
    }
    if (id >= this.#grantedMaxRequestId) {
      throw new IetfProtocolError(SessionCode.TooManyRequests, `request id ${id} exceeds MAX_REQUEST_ID`);
    }
    this.#expectRequestId = id + 2;
    if (this.#grantedMaxRequestId - this.#expectRequestId < REQUEST_ID_WINDOW) {
      this.#grantedMaxRequestId = this.#expectRequestId + 2 * REQUEST_ID_WINDOW;
      this.#mux?.write({ kind: "maxRequestId", requestId: this.#grantedMaxRequestId }).catch(() => {});
    }
  }

  /** A bidi stream the peer opened: one request (17+, or draft-16 SUBSCRIBE_NAMESPACE). */
  async #bidi(stream: BidiStream): Promise<void> {
    if (!(await this.#whenSetUp())) return;
    const reader = new StreamReader(stream.recv);
    const first = await readControl(reader, this.draft);
    if (first === null) {
      await stream.send.close();
      return;
    }
    const id = "requestId" in first && typeof first.requestId === "number" ? first.requestId : 0;
    const req = new StreamRequest(id, stream, reader, this.draft);
    this.#dispatch(first, req);
  }

  /** Start the handler of a new request from the peer. */
  #dispatch(m: ControlMessage, req: Request): void {
    const ctx = this.#ctx;
    let run: Promise<void>;
    switch (m.kind) {
      case "subscribe":
        run = serveSubscribe(ctx, req, m, this.#subs, this.#joins);
        break;
      case "subscribeNamespace":
        run = serveNamespaces(ctx, req, m, this.#interests);
        break;
      case "publishNamespace":
        this.#announcedNamespaces.set(req.id, m.namespace.join("/"));
        run = this.#ingest.publishNamespace(req, m).finally(() => this.#announcedNamespaces.delete(req.id));
        break;
      case "publish":
        run = this.#ingest.publish(req, m);
        break;
      case "trackStatus":
        run = serveTrackStatus(ctx, req, m);
        break;
      case "fetch":
        run = serveFetch(ctx, req, m, this.#joins, this.#fetches);
        break;
      default:
        throw new IetfProtocolError(SessionCode.ProtocolViolation, `${m.kind} cannot open a request`);
    }
    run.catch((err) => this.#handleError(err));
  }

  /** Open a request toward the peer (see {@link IetfContext.openRequest}). */
  async #openRequest(build: (id: number) => ControlMessage): Promise<Request | null> {
    const id = this.#nextRequestId;
    if (this.#mux) {
      if (id >= this.#peerMaxRequestId) {
        this.#ctx.warnings.warn(
          this.#log,
          "request-ids",
          "the peer's MAX_REQUEST_ID leaves no request id; request dropped",
          {
            max: this.#peerMaxRequestId,
          },
        );
        this.#mux.write({ kind: "requestsBlocked", maxRequestId: this.#peerMaxRequestId }).catch(() => {});
        return null;
      }
      this.#nextRequestId += 2;
      const req = this.#mux.openOutgoing(id);
      await req.send(build(id));
      return req;
    }
    this.#nextRequestId += 2;
    const stream = await this.transport.openBidi();
    const req = new StreamRequest(id, stream, new StreamReader(stream.recv), this.draft);
    await req.send(build(id));
    return req;
  }
}
