/**
 * A {@link TransportSession} over one WebSocket, in any framing of `@moq/qmux` 0.0.6 and 0.3
 * (`webtransport`, `qmux-00`, `qmux-01`, `qmux-02`; docs/protocol.md §3.3–3.6). Works for both ends: the relay side (socket from
 * `Deno.upgradeWebSocket`, or a `ConnWebSocket` the HTTP gate runs on its own connection) and
 * the dialing side (`new WebSocket(url, protocols)`).
 *
 * This file is the facade; the parts live beside it:
 * - `stream_state.ts`: one stream's buffers, queues and waiters;
 * - `stream_ids.ts`, `stream_table.ts`: id allocation, which peer ids were used (skipped ids are
 *   capped), creation on first sight, accept queues, forgetting finished streams;
 * - `flow_control.ts`: qmux credit both ways and the unread-bytes budget;
 * - `keepalive.ts`: idle timeout and QX_PING of the record framings;
 * - `send_pump.ts`: per-stream queues drained round-robin into STREAM frames while
 *   `socket.bufferedAmount` and credit allow; `write()` resolves once its bytes were handed over;
 * - `receive.ts`: frames applied as they arrive, `read()` / `stop()`;
 * - `teardown.ts`: everything pending settles once the session closes.
 *
 * Anything malformed closes this session (code 15, or 11 for exceeded limits) and never throws out
 * of an event handler.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import { truncateUtf8String } from "../../codec/mod.ts";
import type {
  BidiStream,
  CloseInfo,
  NegotiatedProtocol,
  RecvStream,
  SendStream,
  TransportSession,
} from "../types.ts";
import { FlowControl } from "./_flow_control.ts";
import { type Frame, type Framing, isQmuxFraming, usesRecords } from "./framing.ts";
import { KeepAlive } from "./_keepalive.ts";
import {
  CLOSE_CODE_IDLE_TIMEOUT,
  CLOSE_CODE_TRANSPORT_LOST,
  DEFAULT_MAX_OPEN_STREAMS,
  DEFAULT_MAX_STREAMS,
  DEFAULT_MAX_UNREAD_BYTES,
  SOCKET_BUFFER_LIMIT_BYTES,
  type WebSocketSessionLimits,
} from "./_limits.ts";
import type { SessionLink, SessionSocket } from "./_link.ts";
import { Receiver } from "./_receive.ts";
import { SendPump } from "./_send_pump.ts";
import { type Dir, LocalStreamIds, PeerStreamIds } from "./_stream_ids.ts";
import type { StreamState } from "./_stream_state.ts";
import { StreamTable } from "./_stream_table.ts";
import { settleOnClose } from "./_teardown.ts";

export {
  CLOSE_CODE_BOUNDS_EXCEEDED,
  CLOSE_CODE_IDLE_TIMEOUT,
  CLOSE_CODE_PROTOCOL_VIOLATION,
  CLOSE_CODE_TRANSPORT_LOST,
  DEFAULT_MAX_OPEN_STREAMS,
  DEFAULT_MAX_STREAMS,
  DEFAULT_MAX_UNREAD_BYTES,
  DRAIN_POLL_MS,
  INITIAL_MAX_DATA_BYTES,
  INITIAL_MAX_STREAM_DATA_BYTES,
  SOCKET_BUFFER_LIMIT_BYTES,
  StreamNotWritableError,
  type WebSocketSessionLimits,
} from "./_limits.ts";

/** Default `max_idle_timeout` announced on the record framings. */
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** Longest WebSocket close reason (RFC 6455 §5.5: 125-byte control payload minus the code). */
const MAX_WS_CLOSE_REASON_BYTES = 123;

/** Everything a {@link WebSocketSession} needs. */
export interface WebSocketSessionOptions extends WebSocketSessionLimits {
  /** An OPEN WebSocket. The session takes it over (sets `binaryType`, installs listeners). */
  socket: SessionSocket;
  /** The negotiated framing. */
  framing: Framing;
  /** The negotiated application protocol. */
  protocol: NegotiatedProtocol;
  /**
   * The `max_idle_timeout` announced on the record framings (`qmux-01`, `qmux-02`); 0 = none from
   * this side (the peer's value may still apply). Default 30 s.
   */
  idleTimeoutMs?: number;
  /** The URL the client connected to. */
  url: URL;
  /** The peer address as `host:port`. */
  peer: string;
  /** `server` for accepted sockets (odd stream ids), `client` for dialed ones (even ids). */
  role: "server" | "client";
  /** Logger (a `websocket` child is derived from it). */
  logger: Logger;
}

/**
 * The session as its parts see it (a class: an object literal with a getter was a dictionary-mode
 * object). `closed` is set once by the session's teardown; `sendFrame` goes through the pump.
 */
class Link implements SessionLink {
  readonly framing: Framing;
  readonly qmux: boolean;
  readonly records: boolean;
  readonly log: Logger;
  closed = false;
  pump: SendPump | null = null;

  constructor(framing: Framing, qmux: boolean, records: boolean, log: Logger) {
    this.framing = framing;
    this.qmux = qmux;
    this.records = records;
    this.log = log;
  }

  sendFrame(frame: Frame): void {
    this.pump?.sendFrame(frame);
  }
}

/**
 * The sending half of one stream. A class, not an object literal with closures and a getter: the
 * literal was a dictionary-mode object with four closures (~1 KiB per stream in a heap snapshot of
 * 300 sessions), and `bufferedBytes` is read on the fan-out path.
 */
class WebSocketSendStream implements SendStream {
  readonly #pump: SendPump;
  readonly #state: StreamState;
  readonly stopped: Promise<number>;

  constructor(pump: SendPump, state: StreamState) {
    this.#pump = pump;
    this.#state = state;
    this.stopped = state.stopped;
  }

  write(data: Uint8Array): Promise<void> {
    return this.#pump.write(this.#state, data);
  }

  close(): Promise<void> {
    return this.#pump.finish(this.#state);
  }

  reset(code: number): void {
    this.#pump.reset(this.#state, code);
  }

  get bufferedBytes(): number {
    return this.#state.queuedBytes;
  }
}

/** The receiving half of one stream (a class for the same reason as {@link WebSocketSendStream}). */
class WebSocketRecvStream implements RecvStream {
  readonly #receiver: Receiver;
  readonly #state: StreamState;

  constructor(receiver: Receiver, state: StreamState) {
    this.#receiver = receiver;
    this.#state = state;
  }

  read(): Promise<Uint8Array | null> {
    return this.#receiver.read(this.#state);
  }

  stop(code: number): void {
    this.#receiver.stop(this.#state, code);
  }
}

/**
 * One WebSocket carrying multiplexed streams. Construct it with an OPEN socket; see the module
 * documentation for the behaviour. Use {@link acceptWebSocket} / {@link dialWebSocket} from
 * `upgrade.ts` rather than constructing it directly.
 */
export class WebSocketSession implements TransportSession {
  readonly kind = "websocket" as const;
  readonly protocol: NegotiatedProtocol;
  readonly url: URL;
  readonly peer: string;
  readonly closed: Promise<CloseInfo>;
  /** The framing in use on this socket. */
  readonly framing: Framing;

  readonly #socket: SessionSocket;
  readonly #log: Logger;
  readonly #flow: FlowControl;
  readonly #table: StreamTable;
  readonly #pump: SendPump;
  readonly #receiver: Receiver;
  readonly #keepAlive: KeepAlive;
  readonly #link: Link;

  #closeInfo: CloseInfo | null = null;
  #resolveClosed!: (info: CloseInfo) => void;

  constructor(options: WebSocketSessionOptions) {
    const socket = options.socket;
    if (socket.readyState !== WebSocket.OPEN) {
      throw new TypeError("WebSocketSession needs an OPEN WebSocket; wait for its open event first");
    }
    this.#socket = socket;
    this.framing = options.framing;
    this.protocol = options.protocol;
    this.url = options.url;
    this.peer = options.peer;
    const log = options.logger.child("websocket", { peer: options.peer });
    this.#log = log;
    const qmux = isQmuxFraming(options.framing);
    const records = usesRecords(options.framing);
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const isServer = options.role === "server";
    const maxOpenStreams = options.maxOpenStreams ?? DEFAULT_MAX_OPEN_STREAMS;

    // The parts see the session through this link; `sendFrame` goes through the pump.
    const link = new Link(options.framing, qmux, records, log);
    this.#link = link;
    const ids = { local: new LocalStreamIds(isServer), peer: new PeerStreamIds(maxOpenStreams) };
    const initialMaxStreams: Record<Dir, number> = {
      bidi: options.maxStreamsBidi ?? DEFAULT_MAX_STREAMS,
      uni: options.maxStreamsUni ?? DEFAULT_MAX_STREAMS,
    };
    this.#flow = new FlowControl(
      link,
      ids.local,
      ids.peer,
      initialMaxStreams,
      options.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES,
    );
    this.#table = new StreamTable(link, this.#flow, isServer, ids, maxOpenStreams);
    const socketBufferBytes = options.socketBufferBytes ?? SOCKET_BUFFER_LIMIT_BYTES;
    this.#keepAlive = new KeepAlive(
      link,
      idleTimeoutMs,
      (ms) => this.#idle(ms),
      () => socket.bufferedAmount >= socketBufferBytes,
    );
    this.#pump = new SendPump({
      link,
      socket,
      framing: options.framing,
      flow: this.#flow,
      table: this.#table,
      socketBufferBytes,
      keepAlive: this.#keepAlive,
      lost: (reason) => this.#lost(reason),
    });
    link.pump = this.#pump;
    this.#receiver = new Receiver({
      link,
      framing: options.framing,
      flow: this.#flow,
      table: this.#table,
      pump: this.#pump,
      keepAlive: this.#keepAlive,
      violation: (code, reason) => this.#violation(code, reason),
      peerClosed: (code, reason, application) => this.#onPeerClose(code, reason, application),
    });

    const { promise, resolve } = Promise.withResolvers<CloseInfo>();
    this.closed = promise;
    this.#resolveClosed = resolve;

    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", this.#onMessage);
    socket.addEventListener("close", this.#onClose);
    socket.addEventListener("error", this.#onError);

    if (qmux) {
      // QX_TRANSPORT_PARAMETERS must be our first message (without it 0.2.2 never sends).
      this.#pump.sendFrame({
        type: "transport_parameters",
        params: this.#flow.localParameters(idleTimeoutMs),
      });
    }
    log.debug("websocket session open", { framing: this.framing, protocol: this.protocol });
  }

  // ---------------------------------------------------------------------------------------------
  // TransportSession API

  /** Open a bidirectional stream (waits for the peer's stream credit in the qmux framings). */
  async openBidi(): Promise<BidiStream> {
    await this.#flow.takeStreamCredit("bidi");
    const state = this.#table.createLocal("bidi");
    return { send: this.#sendHandle(state), recv: this.#recvHandle(state) };
  }

  /** Open a unidirectional stream (waits for the peer's stream credit in the qmux framings). */
  async openUni(): Promise<SendStream> {
    await this.#flow.takeStreamCredit("uni");
    return this.#sendHandle(this.#table.createLocal("uni"));
  }

  /**
   * The next bidirectional stream the peer opened, or `null` once closed. (Not an async function:
   * a session waits in an accept all its life, and a suspended async frame costs more than a
   * `then`.)
   */
  acceptBidi(): Promise<BidiStream | null> {
    return this.#table.accept("bidi").then(this.#bidiOf);
  }

  /** The next unidirectional stream the peer opened, or `null` once closed. */
  acceptUni(): Promise<RecvStream | null> {
    return this.#table.accept("uni").then(this.#uniOf);
  }

  #bidiOf = (state: StreamState | null): BidiStream | null =>
    state ? { send: this.#sendHandle(state), recv: this.#recvHandle(state) } : null;

  #uniOf = (state: StreamState | null): RecvStream | null => state ? this.#recvHandle(state) : null;

  /** Send APPLICATION_CLOSE, then WebSocket close 1000. Idempotent; never throws. */
  close(code: number, reason: string): void {
    if (this.#closeInfo) return;
    this.#pump.flush(); // data written just before close() still goes out, ahead of the close
    this.#pump.sendFrame({ type: "close", code, reason, application: true });
    this.#teardown({ code, reason, remote: false, abrupt: false });
    this.#closeSocket(reason);
  }

  // ---------------------------------------------------------------------------------------------
  // Stream handles

  #sendHandle(state: StreamState): SendStream {
    return new WebSocketSendStream(this.#pump, state);
  }

  #recvHandle(state: StreamState): RecvStream {
    return new WebSocketRecvStream(this.#receiver, state);
  }

  // ---------------------------------------------------------------------------------------------
  // Socket events

  #onMessage = (event: Event): void => {
    this.#receiver.onMessage((event as MessageEvent).data);
  };

  #onClose = (e: Event): void => {
    if (this.#closeInfo) return;
    const event = e as CloseEvent;
    const detail = event.reason ? `${event.code} ${event.reason}` : `${event.code}`;
    this.#lost(`WebSocket closed without an application close (code ${detail})`);
  };

  #onError = (event: Event): void => {
    if (this.#closeInfo) return;
    const message = event instanceof ErrorEvent && event.message ? event.message : "unknown error";
    this.#lost(`WebSocket error: ${message}`);
  };

  // ---------------------------------------------------------------------------------------------
  // Closing

  #onPeerClose(code: number, reason: string, application: boolean): void {
    this.#log.debug("peer closed the session", { code, reason, application });
    this.#teardown({ code, reason, remote: true, abrupt: false });
    this.#closeSocket("");
  }

  #violation(code: number, reason: string): void {
    this.#log.info("closing websocket session: peer misbehaved", { code, reason });
    this.#pump.sendFrame({ type: "close", code, reason, application: true });
    this.#teardown({ code, reason, remote: false, abrupt: true });
    this.#closeSocket(reason);
  }

  /** Nothing arrived for the effective idle timeout (record framings). */
  #idle(timeoutMs: number): void {
    if (this.#closeInfo) return;
    const reason = `idle timeout: nothing received for ${timeoutMs} ms`;
    this.#log.info("closing websocket session", { reason });
    this.#pump.sendFrame({ type: "close", code: CLOSE_CODE_IDLE_TIMEOUT, reason, application: true });
    this.#teardown({ code: CLOSE_CODE_IDLE_TIMEOUT, reason, remote: false, abrupt: true });
    this.#closeSocket(reason);
  }

  #lost(reason: string): void {
    if (this.#closeInfo) return;
    this.#log.debug("websocket session lost", { reason });
    this.#teardown({ code: CLOSE_CODE_TRANSPORT_LOST, reason, remote: true, abrupt: true });
    this.#closeSocket("");
  }

  #closeSocket(reason: string): void {
    try {
      if (this.#socket.readyState === WebSocket.OPEN || this.#socket.readyState === WebSocket.CONNECTING) {
        this.#socket.close(1000, truncateUtf8String(reason, MAX_WS_CLOSE_REASON_BYTES));
      }
    } catch (error) {
      this.#log.debug("closing the WebSocket failed", { error: String(error) });
    }
  }

  #teardown(info: CloseInfo): void {
    if (this.#closeInfo) return;
    this.#closeInfo = info;
    this.#link.closed = true;
    this.#socket.removeEventListener("message", this.#onMessage);
    this.#keepAlive.stop();
    settleOnClose({ table: this.#table, pump: this.#pump, flow: this.#flow }, info);
    this.#resolveClosed(info);
  }
}
