/**
 * The server side of an HTTP/3 connection (ALPN `h3`) that serves WebTransport only, written on
 * Deno's raw QUIC API (docs/webtransport.md §4): control stream + SETTINGS, the peer's control and
 * QPACK streams, extended CONNECT requests (authorised before they are answered), and dispatch of
 * WebTransport streams to their sessions.
 *
 * Every stream is handled in its own task; no stream's read waits on another's (Chromium opens
 * QPACK streams that never carry a byte). Every error is caught and logged.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type { NegotiatedProtocol } from "../types.ts";
import {
  type AuthorizeDecision,
  errorMessage,
  isAuthorized,
  QuicRecvHalf,
  QuicSendHalf,
} from "../quic/mod.ts";
import { BufferedReader, incomingStream } from "./_buffered_reader.ts";
import {
  encodeConnectResponse,
  selectSubprotocol,
  validateConnect,
  WEBTRANSPORT_SUBPROTOCOLS,
} from "./_connect.ts";
import {
  controlStreamPreamble,
  FRAME,
  H3_ERROR,
  parseSettings,
  readFrameHeader,
  RESERVED_H2_FRAMES,
  UNI_STREAM,
  WEBTRANSPORT_BIDI_SIGNAL,
} from "./h3.ts";
import { decodeFieldSection, type HeaderField } from "./_qpack.ts";
import { http3ToWebtransport } from "./_error_codes.ts";
import { DatagramAbuseError, pumpHttpDatagrams } from "./_datagrams.ts";
import { isFrameUnexpectedOnRequest, settleWithin, WebTransportSession } from "./session.ts";

/** Largest HEADERS payload decoded (responses to bigger ones are 431). */
export const MAX_HEADERS_BYTES = 16 * 1024;
/** Largest SETTINGS payload accepted on the peer's control stream. */
const MAX_SETTINGS_BYTES = 4096;
/** A connection that has not produced a session within this time is closed. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** After refusing a CONNECT on a connection with no session, close it after this delay. */
export const REJECT_CLOSE_DELAY_MS = 500;
/**
 * After refusing a CONNECT, read the rest of the request (up to this long) before stopping it:
 * Chromium reports an immediate STOP_SENDING (Deno can only send code 0) as
 * `net::ERR_QUIC_PROTOCOL_ERROR` instead of the refusal, hiding the real cause from developers.
 */
export const REFUSAL_DRAIN_MS = 1_000;
/** Most request bytes read (and discarded) after a refusal. */
const REFUSAL_DRAIN_MAX_BYTES = 64 * 1024;

/** How the QUIC connection under a session ended, as the session reports it. */
export interface ConnectionEnding {
  code: number;
  reason: string;
  abrupt: boolean;
  /** False when this side closed the connection (default true). */
  remote?: boolean;
}

const LOCAL_CLOSE: ConnectionEnding = {
  code: 0,
  reason: "connection closed locally",
  abrupt: true,
  remote: false,
};

/**
 * Interpret a QUIC CONNECTION_CLOSE from the peer for the sessions on it (none sent a CLOSE capsule):
 * H3_NO_ERROR is a clean close with code 0; other HTTP/3 and QPACK error codes (0x100–0x3ff) are
 * abrupt; a code in the WebTransport range carries that application code; any other code is taken
 * as the application's own (Deno 2.9.6's WebTransport client closes this way: `wt.close({closeCode:
 * 77})` arrives as CONNECTION_CLOSE 77, with no capsule).
 */
export function peerConnectionClose(closeCode: number, reason: string): ConnectionEnding {
  if (closeCode === H3_ERROR.NO_ERROR) return { code: 0, reason, abrupt: false };
  const mapped = http3ToWebtransport(closeCode);
  if (mapped !== null) return { code: mapped, reason, abrupt: false };
  if (closeCode >= 0x100 && closeCode <= 0x3ff) {
    return {
      code: 0,
      reason: `HTTP/3 error 0x${closeCode.toString(16)}${reason ? `: ${reason}` : ""}`,
      abrupt: true,
    };
  }
  if (closeCode > 0xffffffff) return { code: 0, reason: `QUIC close code ${closeCode}`, abrupt: true };
  return { code: closeCode, reason, abrupt: false };
}

/** Options for {@link H3Connection}. */
export interface H3ConnectionOptions {
  logger: Logger;
  /** `host:port` of the peer, for logs and sessions. */
  peer: string;
  /** The subprotocols `wt-protocol` may select (a `VersionOffer.protocols`); the client's order decides. */
  protocols?: readonly NegotiatedProtocol[];
  /** Decide on a CONNECT before it is answered. Throwing = HTTP 500. */
  authorize: (url: URL) => Promise<AuthorizeDecision>;
  /** Receives each accepted session (after its 200 went out). */
  onSession: (session: WebTransportSession) => void;
  /** Close the connection when no CONNECT arrived within this time (default {@link CONNECT_TIMEOUT_MS}). */
  connectTimeoutMs?: number;
}

/** One HTTP/3 connection serving WebTransport sessions. */
export class H3Connection {
  readonly #conn: Deno.QuicConn;
  readonly #logger: Logger;
  readonly #options: H3ConnectionOptions;
  readonly #protocols: readonly NegotiatedProtocol[];
  readonly #sessions = new Map<number, WebTransportSession>();
  readonly #pending = new Map<number, Promise<WebTransportSession | null>>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Our control stream: referenced for the whole connection (a GC'd send stream FINs, fatal in HTTP/3). */
  #control: { stream: Deno.QuicSendStream; writer: WritableStreamDefaultWriter<Uint8Array> } | null = null;
  #peerControlSeen = false;
  #everHadSession = false;
  #closing = false;
  #gone = false;
  #closedLocally = false;

  constructor(conn: Deno.QuicConn, options: H3ConnectionOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#protocols = options.protocols ?? WEBTRANSPORT_SUBPROTOCOLS;
    this.#logger = options.logger.with({ peer: options.peer });
  }

  /** Live sessions on this connection. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Serve the connection until it is closed; resolves once every task of it has finished.
   * Never rejects.
   */
  async run(): Promise<void> {
    const closed = this.#conn.closed.then(
      (info) => this.#closedLocally ? LOCAL_CLOSE : peerConnectionClose(info.closeCode, info.reason),
      (error) => ({ code: 0, reason: `QUIC connection lost: ${errorMessage(error)}`, abrupt: true }),
    );
    this.#spawn(this.#openControlStream());
    this.#spawn(this.#acceptUni());
    this.#spawn(this.#acceptBidi());
    this.#spawn(this.#pumpDatagrams());
    this.#after(this.#options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, () => {
      if (!this.#everHadSession && this.#pending.size === 0) {
        this.#logger.debug("no WebTransport CONNECT in time; closing the connection");
        this.#closeConnection(H3_ERROR.NO_ERROR, "no WebTransport session");
      }
    });
    const ending = await closed;
    this.#gone = true;
    this.#logger.debug("HTTP/3 connection ended", {
      code: ending.code,
      reason: ending.reason,
      abrupt: ending.abrupt,
    });
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const session of [...this.#sessions.values()]) session.connectionClosed(ending);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  /**
   * Close every session with `code`/`reason` (CLOSE capsule + FIN) and then the connection. Used
   * for server shutdown; the caller may force {@link H3Connection.abort} after a grace period.
   */
  shutdown(code: number, reason: string): void {
    this.#closing = true;
    if (this.#sessions.size === 0) {
      this.#closeConnection(H3_ERROR.NO_ERROR, reason);
      return;
    }
    for (const session of [...this.#sessions.values()]) session.close(code, reason);
  }

  /** Close the QUIC connection now. */
  abort(code: number = H3_ERROR.NO_ERROR, reason = ""): void {
    this.#closeConnection(code, reason);
  }

  // ---- tasks -------------------------------------------------------------------------------------

  #spawn(task: Promise<void>): void {
    const tracked = task.catch((error) => {
      this.#logger.debug("HTTP/3 task failed", { error: errorMessage(error) });
    });
    this.#tasks.add(tracked);
    tracked.finally(() => this.#tasks.delete(tracked));
  }

  #after(ms: number, fn: () => void): void {
    if (this.#gone) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #closeConnection(code: number, reason: string): void {
    if (this.#gone) return;
    this.#closedLocally = true;
    try {
      this.#conn.close({ closeCode: code, reason });
    } catch (error) {
      this.#logger.debug("closing the HTTP/3 connection failed", { error: errorMessage(error) });
    }
  }

  /** A connection error (RFC 9114 §8): close with an HTTP/3 code. Logged at debug: it is the peer's fault. */
  #connectionError(code: number, reason: string): void {
    this.#logger.debug("HTTP/3 connection error", { code: `0x${code.toString(16)}`, reason });
    this.#closeConnection(code, reason);
  }

  /** Route HTTP datagrams to their sessions until the connection ends (docs/webtransport.md §10). */
  async #pumpDatagrams(): Promise<void> {
    try {
      await pumpHttpDatagrams(this.#conn, (id) => this.#sessions.get(id)?.datagrams);
    } catch (error) {
      if (error instanceof DatagramAbuseError) this.#connectionError(error.code, error.message);
      else throw error;
    }
  }

  // ---- control stream ----------------------------------------------------------------------------

  async #openControlStream(): Promise<void> {
    const stream = await this.#conn.createUnidirectionalStream({ waitUntilAvailable: true });
    const writer = stream.getWriter();
    this.#control = { stream, writer };
    await writer.write(controlStreamPreamble());
  }

  async #readControlStream(reader: BufferedReader): Promise<void> {
    if (this.#peerControlSeen) {
      this.#connectionError(H3_ERROR.STREAM_CREATION_ERROR, "second control stream");
      return;
    }
    this.#peerControlSeen = true;
    const first = await readFrameHeader(reader);
    if (first === null) {
      this.#connectionError(H3_ERROR.CLOSED_CRITICAL_STREAM, "control stream closed");
      return;
    }
    if (first.type !== FRAME.SETTINGS) {
      this.#connectionError(H3_ERROR.MISSING_SETTINGS, "control stream does not start with SETTINGS");
      return;
    }
    if (first.length > MAX_SETTINGS_BYTES) {
      this.#connectionError(H3_ERROR.EXCESSIVE_LOAD, "SETTINGS too large");
      return;
    }
    try {
      const settings = parseSettings(await reader.readBytes(first.length));
      if (this.#logger.enabled("trace")) {
        const text = [...settings].map(([id, value]) => `0x${id.toString(16)}=${value}`).join(",");
        this.#logger.trace("peer SETTINGS", { settings: text });
      }
    } catch (error) {
      this.#connectionError(H3_ERROR.SETTINGS_ERROR, errorMessage(error));
      return;
    }
    while (true) {
      const header = await readFrameHeader(reader);
      if (header === null) {
        if (!this.#gone) this.#connectionError(H3_ERROR.CLOSED_CRITICAL_STREAM, "control stream closed");
        return;
      }
      if (
        header.type === FRAME.SETTINGS || header.type === FRAME.DATA || header.type === FRAME.HEADERS ||
        header.type === FRAME.PUSH_PROMISE || RESERVED_H2_FRAMES.has(header.type)
      ) {
        this.#connectionError(
          H3_ERROR.FRAME_UNEXPECTED,
          `frame 0x${header.type.toString(16)} on the control stream`,
        );
        return;
      }
      if (header.type === FRAME.GOAWAY) this.#logger.debug("peer sent GOAWAY");
      await reader.skip(header.length);
    }
  }

  // ---- unidirectional streams --------------------------------------------------------------------

  async #acceptUni(): Promise<void> {
    const reader = this.#conn.incomingUnidirectionalStreams.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return;
        this.#spawn(this.#handleUni(value));
      }
    } catch (error) {
      if (!this.#gone) this.#logger.debug("accepting uni streams ended", { error: errorMessage(error) });
    }
  }

  async #handleUni(stream: Deno.QuicReceiveStream): Promise<void> {
    const { id, reader, buffered } = incomingStream(stream);
    let handedOver = false;
    try {
      const type = await buffered.readVarint();
      if (type === null) return;
      switch (type) {
        case UNI_STREAM.CONTROL:
          await this.#readControlStream(buffered);
          return;
        case UNI_STREAM.QPACK_ENCODER:
        case UNI_STREAM.QPACK_DECODER:
          // With a table capacity of 0 there is nothing to learn from these: drain them.
          while (await buffered.readSome(64 * 1024)) { /* discard */ }
          return;
        case UNI_STREAM.WEBTRANSPORT: {
          const sessionId = await buffered.readVarint();
          if (sessionId === null) return;
          const session = await this.#lookupSession(sessionId);
          if (!session) {
            this.#logger.debug("uni stream for an unknown WebTransport session", { session: sessionId });
            return;
          }
          session.deliverUni(new QuicRecvHalf(stream, session, reader, buffered.takeBuffered(), id));
          handedOver = true;
          return;
        }
        default:
          // Push streams (never from a client), GREASE and unknown types: stop reading.
          this.#logger.trace("ignoring uni stream", { type });
          return;
      }
    } catch (error) {
      if (!this.#gone) this.#logger.debug("uni stream failed", { error: errorMessage(error) });
    } finally {
      if (!handedOver) reader.cancel().catch(() => {});
    }
  }

  // ---- bidirectional streams ---------------------------------------------------------------------

  async #acceptBidi(): Promise<void> {
    const reader = this.#conn.incomingBidirectionalStreams.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return;
        this.#spawn(this.#handleBidi(value));
      }
    } catch (error) {
      if (!this.#gone) this.#logger.debug("accepting bidi streams ended", { error: errorMessage(error) });
    }
  }

  async #handleBidi(bidi: Deno.QuicBidirectionalStream): Promise<void> {
    const { id, reader, buffered } = incomingStream(bidi.readable);
    let handedOver = false;
    try {
      const first = await buffered.readVarint();
      if (first === null) return;
      if (first === WEBTRANSPORT_BIDI_SIGNAL) {
        const sessionId = await buffered.readVarint();
        if (sessionId === null) return;
        const session = await this.#lookupSession(sessionId);
        if (!session) {
          this.#logger.debug("bidi stream for an unknown WebTransport session", { session: sessionId });
          return;
        }
        session.deliverBidi(
          new QuicSendHalf(bidi.writable, session),
          new QuicRecvHalf(bidi.readable, session, reader, buffered.takeBuffered(), id),
        );
        handedOver = true;
        return;
      }
      if (id === undefined) return;
      handedOver = await this.#handleRequest(bidi, buffered, first, Number(id));
    } catch (error) {
      if (!this.#gone) this.#logger.debug("bidi stream failed", { error: errorMessage(error) });
    } finally {
      if (!handedOver) {
        reader.cancel().catch(() => {});
        bidi.writable.abort().catch(() => {});
      }
    }
  }

  async #lookupSession(sessionId: number): Promise<WebTransportSession | null> {
    const session = this.#sessions.get(sessionId);
    if (session) return session.isClosed ? null : session;
    const pending = this.#pending.get(sessionId);
    if (!pending) return null;
    const resolved = await pending;
    return resolved && !resolved.isClosed ? resolved : null;
  }

  /**
   * Serve one request stream. Returns true when the stream now belongs to a session (or was
   * answered and finished here), false when the caller should drop it.
   */
  async #handleRequest(
    bidi: Deno.QuicBidirectionalStream,
    reader: BufferedReader,
    firstType: number,
    streamId: number,
  ): Promise<boolean> {
    // Skip unknown and GREASE frames before HEADERS; anything else first is a protocol error.
    let header = await readFrameHeader(reader, firstType);
    while (header !== null && header.type !== FRAME.HEADERS) {
      if (header.type === FRAME.DATA || isFrameUnexpectedOnRequest(header.type)) {
        this.#connectionError(
          H3_ERROR.FRAME_UNEXPECTED,
          `frame 0x${header.type.toString(16)} before HEADERS`,
        );
        return false;
      }
      await reader.skip(header.length);
      header = await readFrameHeader(reader);
    }
    if (header === null) return false;
    const writer = bidi.writable.getWriter();
    if (header.length > MAX_HEADERS_BYTES) {
      await this.#refuse(writer, 431, `request headers of ${header.length} bytes`, undefined, reader);
      return false;
    }
    let fields: HeaderField[];
    try {
      fields = decodeFieldSection(await reader.readBytes(header.length));
    } catch (error) {
      this.#connectionError(H3_ERROR.QPACK_DECOMPRESSION_FAILED, errorMessage(error));
      return false;
    }
    const validation = validateConnect(fields);
    if (!validation.ok) {
      await this.#refuse(writer, validation.status, validation.reason, undefined, reader);
      return false;
    }
    const request = validation.request;
    const protocol = selectSubprotocol(request.offeredProtocols, this.#protocols);
    const pending = Promise.withResolvers<WebTransportSession | null>();
    this.#pending.set(streamId, pending.promise);
    try {
      let decision: AuthorizeDecision;
      try {
        decision = await this.#options.authorize(request.url);
      } catch (error) {
        this.#logger.warn("authorising a WebTransport session failed", { error: errorMessage(error) });
        decision = { status: 500, closeCode: H3_ERROR.INTERNAL_ERROR, reason: "authorization failed" };
      }
      if (this.#gone) return false;
      if (this.#closing) decision = { status: 503, closeCode: 0, reason: "server shutting down" };
      if (!isAuthorized(decision)) {
        const status = Number.isInteger(decision.status) && decision.status >= 200 && decision.status <= 599
          ? decision.status
          : 500;
        await this.#refuse(writer, status, decision.reason, request.url, reader);
        return false;
      }
      const session = new WebTransportSession({
        conn: this.#conn,
        id: streamId,
        url: request.url,
        protocol,
        peer: this.#options.peer,
        logger: this.#logger,
        connectStream: bidi,
        connectWriter: writer,
        onEnded: (ended) => this.#sessionEnded(ended),
      });
      this.#sessions.set(streamId, session);
      this.#everHadSession = true;
      try {
        await writer.write(encodeConnectResponse(200, protocol));
      } catch (error) {
        session.connectionClosed({
          code: 0,
          reason: `writing the CONNECT response failed: ${errorMessage(error)}`,
          abrupt: true,
        });
        return true;
      }
      pending.resolve(session);
      this.#pending.delete(streamId);
      this.#logger.debug("WebTransport session accepted", {
        url: `${request.url.origin}${request.url.pathname}`,
        protocol: protocol || "(none)",
      });
      try {
        this.#options.onSession(session);
      } catch (error) {
        this.#logger.warn("the session hook failed", { error: errorMessage(error) });
      }
      await session.run(reader);
      return true;
    } finally {
      if (this.#pending.get(streamId) === pending.promise) this.#pending.delete(streamId);
      pending.resolve(null);
    }
  }

  /**
   * Answer a request with an error status and FIN, then read what is left of the request for a
   * moment (see {@link REFUSAL_DRAIN_MS}); close the connection soon if it serves nothing else.
   */
  async #refuse(
    writer: WritableStreamDefaultWriter<Uint8Array>,
    status: number,
    reason: string,
    url?: URL,
    request?: BufferedReader,
  ) {
    this.#logger.debug("refusing a WebTransport CONNECT", {
      status,
      reason,
      url: url ? `${url.origin}${url.pathname}` : undefined,
    });
    try {
      await writer.write(encodeConnectResponse(status));
      await settleWithin(writer.close(), 1000);
    } catch (error) {
      this.#logger.debug("writing the refusal failed", { error: errorMessage(error) });
    }
    if (request) await settleWithin(drainRequest(request), REFUSAL_DRAIN_MS);
    this.#after(REJECT_CLOSE_DELAY_MS, () => {
      if (this.#sessions.size === 0 && this.#pending.size === 0) this.#closeConnection(H3_ERROR.NO_ERROR, "");
    });
  }

  #sessionEnded(session: WebTransportSession): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    if (this.#sessions.size === 0 && this.#pending.size === 0) {
      // Browsers take the code and reason from the CLOSE capsule; clients that ignore capsules
      // (Deno's WebTransport) at least get our reason with H3_NO_ERROR.
      const info = session.closeInfo;
      this.#closeConnection(H3_ERROR.NO_ERROR, info && !info.remote ? info.reason : "");
    }
  }

  /** Keep the control stream referenced (diagnostics; also documents why the field exists). */
  get controlStream(): Deno.QuicSendStream | null {
    return this.#control?.stream ?? null;
  }
}

/** Read and discard a refused request's remaining bytes until its FIN (bounded). */
async function drainRequest(request: BufferedReader): Promise<void> {
  let read = 0;
  while (read < REFUSAL_DRAIN_MAX_BYTES) {
    const chunk = await request.readSome(REFUSAL_DRAIN_MAX_BYTES - read);
    if (chunk === null) return;
    read += chunk.length;
  }
}
