/**
 * A {@link TransportSession} over one WebSocket, in either framing of `@moq/qmux` 0.0.6
 * (protocol.md §3.3–3.6). Works for both ends: the relay side (socket from `Deno.upgradeWebSocket`)
 * and the dialing side (`new WebSocket(url, protocols)`).
 *
 * Sending: every stream queues its bytes; one pump per session hands STREAM frames (≤ 16 360 bytes
 * of payload, exactly one frame per WebSocket message) to the socket round-robin across streams,
 * while `socket.bufferedAmount` is below a bound and, in `qmux-00`, while the peer granted credit.
 * `write()` resolves once its bytes were handed to the socket. Control frames (RESET_STREAM,
 * STOP_SENDING, MAX_*, close) bypass the queue.
 *
 * Receiving: streams appear on first sight of a new peer id; bytes are buffered per stream; in
 * `qmux-00` the peer's limits are enforced and credit is granted back as the application reads.
 * Anything malformed closes this session (code 15) and never throws out of an event handler.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import {
  type BidiStream,
  type CloseInfo,
  type NegotiatedProtocol,
  type RecvStream,
  type SendStream,
  SessionClosedError,
  StreamResetError,
  StreamStoppedError,
  type TransportSession,
} from "../types.ts";
import { putVarint } from "../../codec/varint.ts";
import { truncateUtf8String } from "../../codec/utf8.ts";
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  FrameDecodeError,
  FrameType,
  type Framing,
  MAX_STREAM_PAYLOAD_BYTES,
  type TransportParameters,
} from "./framing.ts";
import { type Dir, PeerStreamIds, streamDir, StreamIdGapError, streamIndex } from "./stream_ids.ts";

/** Session close code for a peer that broke the framing rules (protocol.md §9). */
export const CLOSE_CODE_PROTOCOL_VIOLATION = 15;
/** Session close code for a peer that exceeded one of our resource limits (protocol.md §9). */
export const CLOSE_CODE_BOUNDS_EXCEEDED = 11;
/** Session close code recorded when the WebSocket went away without an application close (§9). */
export const CLOSE_CODE_TRANSPORT_LOST = 1;

/** Default bound on `socket.bufferedAmount` above which the pump waits. */
export const SOCKET_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** How often the pump re-checks `bufferedAmount` while it is above the bound (Deno has no drain event). */
export const DRAIN_POLL_MS = 5;
/** Default number of streams of each direction we let a `qmux-00` peer open (raised as they finish). */
export const DEFAULT_MAX_STREAMS = 1000;
/** Default cap on concurrently open peer-initiated streams (both framings). */
export const DEFAULT_MAX_OPEN_STREAMS = 10_000;
/** Default cap on bytes received but not yet read by the application, per session. */
export const DEFAULT_MAX_UNREAD_BYTES = 16 * 1024 * 1024;
/** `qmux-00` connection receive window we advertise (initial_max_data). */
export const INITIAL_MAX_DATA_BYTES = 1_048_576;
/** `qmux-00` per-stream receive window we advertise (initial_max_stream_data_*). */
export const INITIAL_MAX_STREAM_DATA_BYTES = 262_144;

const MAX_WS_CLOSE_REASON_BYTES = 123;

/** Largest STREAM frame header: type byte, 8-byte id varint, 8-byte length varint. */
const MAX_STREAM_HEADER_BYTES = 17;

/**
 * Encode buffer for outgoing STREAM frames, shared by every session. It is only ever used
 * synchronously between filling and `socket.send()`, and Deno's `send()` copies a view's bytes
 * before returning (`op_ws_send_binary` → `to_vec`), so reusing it is safe and saves one
 * allocation + zero-fill + GC per message on the fan-out hot path.
 */
const STREAM_SCRATCH = new Uint8Array(MAX_STREAM_HEADER_BYTES + MAX_STREAM_PAYLOAD_BYTES);

/** Resource limits of one WebSocket session. */
export interface WebSocketSessionLimits {
  /** Bidi streams a `qmux-00` peer may open before we grant more (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreamsBidi?: number;
  /** Uni streams a `qmux-00` peer may open before we grant more (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreamsUni?: number;
  /** Concurrently open peer-initiated streams before the session is closed (default 10 000). */
  maxOpenStreams?: number;
  /** Received-but-unread bytes before the session is closed (default 16 MiB). */
  maxUnreadBytes?: number;
  /** `bufferedAmount` bound for the send pump (default 1 MiB). */
  socketBufferBytes?: number;
}

/** Everything a {@link WebSocketSession} needs. */
export interface WebSocketSessionOptions extends WebSocketSessionLimits {
  /** An OPEN WebSocket. The session takes it over (sets `binaryType`, installs listeners). */
  socket: WebSocket;
  /** The negotiated framing. */
  framing: Framing;
  /** The negotiated application protocol. */
  protocol: NegotiatedProtocol;
  /** The URL the client connected to. */
  url: URL;
  /** The peer address as `host:port`. */
  peer: string;
  /** `server` for accepted sockets (odd stream ids), `client` for dialed ones (even ids). */
  role: "server" | "client";
  /** Logger (a `websocket` child is derived from it). */
  logger: Logger;
}

/** Raised by `write()` after the stream was finished or reset locally. */
export class StreamNotWritableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StreamNotWritableError";
  }
}

/** Raised from a frame handler when the peer must be disconnected; `code` is the close code. */
class PeerError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "PeerError";
    this.code = code;
  }
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

/** Per-stream state; the send/recv handles handed to the application close over it. */
class StreamState {
  /** The wire id; -1 for a stream we opened that has not sent its first frame yet. */
  id: number;
  readonly dir: Dir;
  readonly local: boolean;
  readonly canSend: boolean;
  readonly canRecv: boolean;
  /** Peer streams only count as finished once the application took them from the accept queue. */
  accepted: boolean;

  // Receive half.
  chunks: Uint8Array[] = [];
  unreadBytes = 0;
  recvOffset = 0;
  recvMax = 0;
  recvWindow = 0;
  recvConsumed = 0;
  recvState: "open" | "fin" | "reset" | "stopped" = "open";
  resetCode = 0;
  /** STOP_SENDING requested before this (local) stream had a wire id; sent after its first frame. */
  pendingStopCode: number | undefined;
  readWaiters: Array<Waiter<Uint8Array | null>> = [];

  // Send half.
  queue: Uint8Array[] = [];
  queuedBytes = 0;
  queuedEnd = 0;
  sentOffset = 0;
  sendMax = Number.MAX_SAFE_INTEGER;
  finQueued = false;
  sendState: "open" | "fin" | "reset" = "open";
  stopCode = -1;
  writeWaiters: Array<{ end: number } & Waiter<void>> = [];
  finWaiters: Array<() => void> = [];
  blockedReportedAt = -1;
  readonly stopped: Promise<number>;
  resolveStopped: (code: number) => void;

  constructor(id: number, dir: Dir, local: boolean, accepted: boolean) {
    this.id = id;
    this.dir = dir;
    this.local = local;
    this.canSend = this.dir === "bidi" || local;
    this.canRecv = this.dir === "bidi" || !local;
    this.accepted = accepted;
    if (!this.canSend) this.sendState = "fin";
    if (!this.canRecv) this.recvState = "fin";
    const { promise, resolve } = Promise.withResolvers<number>();
    this.stopped = promise;
    this.resolveStopped = resolve;
    if (!this.canSend) resolve(-1);
  }

  get sendFinished(): boolean {
    return this.sendState !== "open";
  }

  get recvFinished(): boolean {
    return this.recvState !== "open";
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

  readonly #socket: WebSocket;
  readonly #qmux: boolean;
  readonly #isServer: boolean;
  readonly #log: Logger;
  readonly #maxOpenStreams: number;
  readonly #maxUnreadBytes: number;
  readonly #socketBufferBytes: number;
  readonly #initialMaxStreams: Record<Dir, number>;

  #closeInfo: CloseInfo | null = null;
  #resolveClosed!: (info: CloseInfo) => void;

  readonly #streams = new Map<number, StreamState>();
  readonly #nextLocalIndex: Record<Dir, number> = { bidi: 0, uni: 0 };
  /**
   * Streams we opened that have not sent a frame yet. Their wire id is assigned on the first frame,
   * so a stream reset before sending anything never consumes an id: the peer never sees a gap it
   * could not account for (0.0.6 would otherwise lose one unit of MAX_STREAMS credit per gap).
   */
  readonly #unsentLocal = new Set<StreamState>();
  readonly #unsentLocalCount: Record<Dir, number> = { bidi: 0, uni: 0 };
  /** Which peer stream ids were used; skipped ids are ranges, their total capped (maxOpenStreams). */
  readonly #peerIds: PeerStreamIds;
  #peerOpenStreams = 0;
  #unreadBytes = 0;

  readonly #acceptQueue: Record<Dir, StreamState[]> = { bidi: [], uni: [] };
  readonly #acceptWaiters: Record<Dir, Array<(state: StreamState | null) => void>> = { bidi: [], uni: [] };

  // Flow control (qmux-00 only; webtransport framing leaves these unlimited).
  #peerParams: TransportParameters | null = null;
  #connSendMax = Number.MAX_SAFE_INTEGER;
  #connSent = 0;
  #connBlockedReportedAt = -1;
  #connRecvMax = INITIAL_MAX_DATA_BYTES;
  #connReceived = 0;
  #connConsumed = 0;
  readonly #peerMaxStreams: Record<Dir, number> = {
    bidi: Number.MAX_SAFE_INTEGER,
    uni: Number.MAX_SAFE_INTEGER,
  };
  readonly #streamsBlockedReportedAt: Record<Dir, number> = { bidi: -1, uni: -1 };
  readonly #localMaxStreams: Record<Dir, number>;
  readonly #peerRetired: Record<Dir, number> = { bidi: 0, uni: 0 };
  readonly #openWaiters: Record<Dir, Array<Waiter<void>>> = { bidi: [], uni: [] };

  // Send scheduling.
  readonly #ready = new Set<StreamState>();
  readonly #connBlocked = new Set<StreamState>();
  #pollTimer: ReturnType<typeof setTimeout> | undefined;

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
    this.#qmux = options.framing === "qmux-00";
    this.#isServer = options.role === "server";
    this.#log = options.logger.child("websocket", { peer: options.peer });
    this.#maxOpenStreams = options.maxOpenStreams ?? DEFAULT_MAX_OPEN_STREAMS;
    this.#peerIds = new PeerStreamIds(this.#maxOpenStreams);
    this.#maxUnreadBytes = options.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES;
    this.#socketBufferBytes = options.socketBufferBytes ?? SOCKET_BUFFER_LIMIT_BYTES;
    this.#initialMaxStreams = {
      bidi: options.maxStreamsBidi ?? DEFAULT_MAX_STREAMS,
      uni: options.maxStreamsUni ?? DEFAULT_MAX_STREAMS,
    };
    this.#localMaxStreams = { ...this.#initialMaxStreams };
    if (this.#qmux) {
      // Until the peer's parameters arrive we have no credit at all.
      this.#connSendMax = 0;
      this.#peerMaxStreams.bidi = 0;
      this.#peerMaxStreams.uni = 0;
    }

    const { promise, resolve } = Promise.withResolvers<CloseInfo>();
    this.closed = promise;
    this.#resolveClosed = resolve;

    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", this.#onMessage);
    socket.addEventListener("close", this.#onClose);
    socket.addEventListener("error", this.#onError);

    if (this.#qmux) {
      // QX_TRANSPORT_PARAMETERS must be our first message (without it 0.2.2 never sends).
      this.#sendFrame({
        type: "transport_parameters",
        params: {
          initialMaxData: INITIAL_MAX_DATA_BYTES,
          initialMaxStreamDataBidiLocal: INITIAL_MAX_STREAM_DATA_BYTES,
          initialMaxStreamDataBidiRemote: INITIAL_MAX_STREAM_DATA_BYTES,
          initialMaxStreamDataUni: INITIAL_MAX_STREAM_DATA_BYTES,
          initialMaxStreamsBidi: this.#localMaxStreams.bidi,
          initialMaxStreamsUni: this.#localMaxStreams.uni,
        },
      });
    }
    this.#log.debug("websocket session open", { framing: this.framing, protocol: this.protocol });
  }

  // ---------------------------------------------------------------------------------------------
  // TransportSession API

  /** Open a bidirectional stream (waits for the peer's stream credit in `qmux-00`). */
  async openBidi(): Promise<BidiStream> {
    await this.#takeStreamCredit("bidi");
    const state = this.#createLocal("bidi");
    return { send: this.#sendHandle(state), recv: this.#recvHandle(state) };
  }

  /** Open a unidirectional stream (waits for the peer's stream credit in `qmux-00`). */
  async openUni(): Promise<SendStream> {
    await this.#takeStreamCredit("uni");
    return this.#sendHandle(this.#createLocal("uni"));
  }

  /** The next bidirectional stream the peer opened, or `null` once closed. */
  async acceptBidi(): Promise<BidiStream | null> {
    const state = await this.#accept("bidi");
    if (!state) return null;
    return { send: this.#sendHandle(state), recv: this.#recvHandle(state) };
  }

  /** The next unidirectional stream the peer opened, or `null` once closed. */
  async acceptUni(): Promise<RecvStream | null> {
    const state = await this.#accept("uni");
    return state ? this.#recvHandle(state) : null;
  }

  /** Send APPLICATION_CLOSE, then WebSocket close 1000. Idempotent; never throws. */
  close(code: number, reason: string): void {
    if (this.#closeInfo) return;
    this.#sendFrame({ type: "close", code, reason, application: true });
    this.#teardown({ code, reason, remote: false, abrupt: false });
    this.#closeSocket(reason);
  }

  // ---------------------------------------------------------------------------------------------
  // Stream handles

  #sendHandle(state: StreamState): SendStream {
    return {
      write: (data) => this.#write(state, data),
      close: () => this.#finish(state),
      reset: (code) => this.#reset(state, code),
      stopped: state.stopped,
      get bufferedBytes() {
        return state.queuedBytes;
      },
    };
  }

  #recvHandle(state: StreamState): RecvStream {
    return {
      read: () => this.#read(state),
      stop: (code) => this.#stop(state, code),
    };
  }

  #write(state: StreamState, data: Uint8Array): Promise<void> {
    if (this.#closeInfo) return Promise.reject(new SessionClosedError());
    if (state.sendState === "reset") {
      return Promise.reject(
        state.stopCode >= 0
          ? new StreamStoppedError(state.stopCode)
          : new StreamNotWritableError("the stream was reset; write on a new stream"),
      );
    }
    if (state.finQueued || state.sendState !== "open") {
      return Promise.reject(new StreamNotWritableError("the stream is already finished"));
    }
    if (data.length === 0) return Promise.resolve();
    state.queue.push(data);
    state.queuedBytes += data.length;
    state.queuedEnd += data.length;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    state.writeWaiters.push({ end: state.queuedEnd, resolve, reject });
    this.#schedule(state);
    this.#pump();
    return promise;
  }

  #finish(state: StreamState): Promise<void> {
    if (this.#closeInfo || state.sendState !== "open") return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    state.finWaiters.push(resolve);
    if (!state.finQueued) {
      state.finQueued = true;
      this.#schedule(state);
      this.#pump();
    }
    return promise;
  }

  #reset(state: StreamState, code: number): void {
    if (this.#closeInfo || state.sendState !== "open") return;
    if (state.id >= 0) {
      this.#sendFrame({ type: "reset_stream", id: state.id, code, finalSize: state.sentOffset });
    }
    // Pending writes resolve (their bytes are discarded): the caller asked for the reset itself.
    this.#abandonSend(state, null);
    if (state.id < 0) {
      // Never on the wire: give the stream credit back instead of burning an id.
      this.#unsentLocal.delete(state);
      this.#unsentLocalCount[state.dir]--;
      state.recvState = state.recvState === "open" ? "stopped" : state.recvState;
      for (const waiter of state.readWaiters) waiter.resolve(null);
      state.readWaiters = [];
      this.#wakeOpenWaiters(state.dir);
      return;
    }
    this.#maybeRelease(state);
  }

  /** Mark the send half reset: drop queued bytes, settle writers (reject with `error`), close() and `stopped`. */
  #abandonSend(state: StreamState, error: Error | null, stopCode = -1): void {
    state.sendState = "reset";
    state.stopCode = stopCode;
    state.queue = [];
    state.queuedBytes = 0;
    this.#ready.delete(state);
    this.#connBlocked.delete(state);
    for (const waiter of state.writeWaiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
    state.writeWaiters = [];
    for (const resolve of state.finWaiters) resolve();
    state.finWaiters = [];
    state.resolveStopped(stopCode);
  }

  #read(state: StreamState): Promise<Uint8Array | null> {
    const chunk = state.chunks.shift();
    if (chunk) {
      this.#consume(state, chunk.length);
      return Promise.resolve(chunk);
    }
    switch (state.recvState) {
      case "fin":
      case "stopped":
        return Promise.resolve(null);
      case "reset":
        return Promise.reject(new StreamResetError(state.resetCode));
    }
    if (this.#closeInfo) return Promise.reject(new SessionClosedError());
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array | null>();
    state.readWaiters.push({ resolve, reject });
    return promise;
  }

  #stop(state: StreamState, code: number): void {
    if (!state.canRecv) return;
    this.#discardUnread(state);
    if (state.recvState === "open" && !this.#closeInfo && state.id < 0) {
      state.pendingStopCode = code;
    } else if (state.recvState === "open" && !this.#closeInfo) {
      this.#sendFrame({ type: "stop_sending", id: state.id, code });
    }
    if (state.recvState === "open" || state.recvState === "fin") state.recvState = "stopped";
    for (const waiter of state.readWaiters) waiter.resolve(null);
    state.readWaiters = [];
    if (!this.#closeInfo) this.#maybeRelease(state);
  }

  // ---------------------------------------------------------------------------------------------
  // Stream bookkeeping

  #streamId(index: number, dir: Dir, local: boolean): number {
    const serverBit = (local === this.#isServer) ? 1 : 0;
    return index * 4 + (dir === "uni" ? 2 : 0) + serverBit;
  }

  /** A stream we open; its stream credit was already reserved by {@link #takeStreamCredit}. */
  #createLocal(dir: Dir): StreamState {
    const state = new StreamState(-1, dir, true, true);
    if (this.#qmux) {
      const params = this.#peerParams!;
      state.sendMax = dir === "bidi" ? params.initialMaxStreamDataBidiRemote : params.initialMaxStreamDataUni;
      state.recvWindow = INITIAL_MAX_STREAM_DATA_BYTES;
      state.recvMax = dir === "bidi" ? INITIAL_MAX_STREAM_DATA_BYTES : 0;
    }
    this.#unsentLocal.add(state);
    return state;
  }

  /** Give a local stream its wire id (on its first frame). */
  #assignId(state: StreamState): void {
    state.id = this.#streamId(this.#nextLocalIndex[state.dir]++, state.dir, true);
    this.#unsentLocal.delete(state);
    this.#unsentLocalCount[state.dir]--;
    this.#streams.set(state.id, state);
  }

  #hasStreamCredit(dir: Dir): boolean {
    return this.#nextLocalIndex[dir] + this.#unsentLocalCount[dir] < this.#peerMaxStreams[dir];
  }

  /** Reserve one unit of the peer's stream credit (waits in `qmux-00` until MAX_STREAMS allows). */
  #takeStreamCredit(dir: Dir): Promise<void> {
    if (this.#closeInfo) return Promise.reject(new SessionClosedError());
    const waiters = this.#openWaiters[dir];
    if (waiters.length === 0 && this.#hasStreamCredit(dir)) {
      this.#unsentLocalCount[dir]++;
      return Promise.resolve();
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    waiters.push({ resolve, reject });
    const limit = this.#peerMaxStreams[dir];
    if (this.#qmux && this.#peerParams && this.#streamsBlockedReportedAt[dir] !== limit) {
      this.#streamsBlockedReportedAt[dir] = limit;
      this.#sendFrame({ type: "streams_blocked", bidi: dir === "bidi", limit });
    }
    return promise;
  }

  #wakeOpenWaiters(dir: Dir): void {
    const waiters = this.#openWaiters[dir];
    while (waiters.length > 0 && this.#hasStreamCredit(dir)) {
      this.#unsentLocalCount[dir]++;
      waiters.shift()!.resolve();
    }
  }

  #accept(dir: Dir): Promise<StreamState | null> {
    const queued = this.#acceptQueue[dir].shift();
    if (queued) {
      queued.accepted = true;
      this.#maybeRelease(queued);
      return Promise.resolve(queued);
    }
    if (this.#closeInfo) return Promise.resolve(null);
    const { promise, resolve } = Promise.withResolvers<StreamState | null>();
    this.#acceptWaiters[dir].push(resolve);
    return promise;
  }

  /** Find the stream for a frame's id, creating peer streams on first sight; `undefined` = ignore. */
  #lookup(id: number, create: boolean): StreamState | undefined {
    const existing = this.#streams.get(id);
    if (existing) return existing;
    const local = ((id & 1) === 1) === this.#isServer;
    if (local) return undefined; // ours: never opened, or finished and forgotten
    const dir = streamDir(id);
    const index = streamIndex(id);
    if (!this.#peerIds.isUnused(dir, index)) return undefined; // finished and forgotten
    if (!create) return undefined;
    if (this.#qmux && index >= this.#localMaxStreams[dir]) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `stream limit exceeded: peer opened ${dir} stream index ${index} but the limit is ` +
          this.#localMaxStreams[dir],
      );
    }
    this.#peerIds.use(dir, index);
    if (this.#peerOpenStreams >= this.#maxOpenStreams) {
      throw new PeerError(
        CLOSE_CODE_BOUNDS_EXCEEDED,
        `too many concurrently open peer streams (limit ${this.#maxOpenStreams})`,
      );
    }
    const state = new StreamState(id, dir, false, false);
    if (this.#qmux) {
      state.recvWindow = INITIAL_MAX_STREAM_DATA_BYTES;
      state.recvMax = INITIAL_MAX_STREAM_DATA_BYTES;
      state.sendMax = dir === "bidi" ? this.#peerParams!.initialMaxStreamDataBidiLocal : 0;
    }
    this.#streams.set(id, state);
    this.#peerOpenStreams++;
    const waiter = this.#acceptWaiters[dir].shift();
    if (waiter) {
      state.accepted = true;
      waiter(state);
    } else {
      this.#acceptQueue[dir].push(state);
    }
    return state;
  }

  /** Forget a stream whose both halves are done; return stream credit for peer streams. */
  #maybeRelease(state: StreamState): void {
    if (!state.accepted || !state.sendFinished || !state.recvFinished) return;
    if (this.#streams.get(state.id) !== state) return;
    this.#streams.delete(state.id);
    if (state.local) return;
    this.#peerOpenStreams--;
    this.#retirePeerStream(state.dir);
  }

  /** A peer stream index is done: raise MAX_STREAMS when a batch is free or the peer is close to it. */
  #retirePeerStream(dir: Dir): void {
    this.#peerRetired[dir]++;
    if (!this.#qmux || this.#closeInfo) return;
    const initial = this.#initialMaxStreams[dir];
    const target = initial + this.#peerRetired[dir];
    const advertised = this.#localMaxStreams[dir];
    const batch = Math.max(1, Math.floor(initial / 4));
    if (target - advertised >= batch || advertised - this.#peerIds.next(dir) < batch) {
      this.#localMaxStreams[dir] = target;
      this.#sendFrame({ type: "max_streams", bidi: dir === "bidi", max: target });
    }
  }

  /** The application consumed `bytes` of `state`: account and grant credit. */
  #consume(state: StreamState, bytes: number): void {
    state.unreadBytes -= bytes;
    this.#unreadBytes -= bytes;
    if (!this.#qmux || this.#closeInfo) return;
    state.recvConsumed += bytes;
    if (state.recvState === "open") {
      const window = state.recvWindow;
      if (state.recvMax - state.recvConsumed <= window / 2) {
        state.recvMax = state.recvConsumed + window;
        this.#sendFrame({ type: "max_stream_data", id: state.id, max: state.recvMax });
      }
    }
    this.#consumeConnection(bytes);
  }

  #consumeConnection(bytes: number): void {
    this.#connConsumed += bytes;
    if (this.#connRecvMax - this.#connConsumed <= INITIAL_MAX_DATA_BYTES / 2) {
      this.#connRecvMax = this.#connConsumed + INITIAL_MAX_DATA_BYTES;
      this.#sendFrame({ type: "max_data", max: this.#connRecvMax });
    }
  }

  #discardUnread(state: StreamState): void {
    let bytes = 0;
    for (const chunk of state.chunks) bytes += chunk.length;
    state.chunks = [];
    if (bytes > 0) this.#consume(state, bytes);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  #schedule(state: StreamState): void {
    if (state.sendState === "open") this.#ready.add(state);
  }

  #armPoll(): void {
    if (this.#pollTimer !== undefined || this.#closeInfo) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#pump();
    }, DRAIN_POLL_MS);
  }

  /** Hand STREAM frames to the socket, round-robin, while the socket buffer and credit allow. */
  #pump(): void {
    while (this.#ready.size > 0 && !this.#closeInfo) {
      if (this.#socket.bufferedAmount >= this.#socketBufferBytes) {
        this.#armPoll();
        return;
      }
      const state: StreamState = this.#ready.values().next().value!;
      this.#ready.delete(state);
      if (state.sendState !== "open") continue;
      let length = Math.min(state.queuedBytes, MAX_STREAM_PAYLOAD_BYTES);
      if (length > 0 && this.#qmux) {
        const streamCredit = state.sendMax - state.sentOffset;
        const connCredit = this.#connSendMax - this.#connSent;
        if (streamCredit <= 0) {
          if (state.blockedReportedAt !== state.sendMax) {
            state.blockedReportedAt = state.sendMax;
            this.#sendFrame({ type: "stream_data_blocked", id: state.id, limit: state.sendMax });
          }
          continue; // MAX_STREAM_DATA re-schedules it
        }
        if (connCredit <= 0) {
          this.#connBlocked.add(state);
          if (this.#connBlockedReportedAt !== this.#connSendMax) {
            this.#connBlockedReportedAt = this.#connSendMax;
            this.#sendFrame({ type: "data_blocked", limit: this.#connSendMax });
          }
          continue; // MAX_DATA re-schedules it
        }
        length = Math.min(length, streamCredit, connCredit);
      }
      const fin = state.finQueued && state.queuedBytes === length;
      if (length === 0 && !fin) continue;
      const first = state.id < 0;
      if (first) this.#assignId(state);
      this.#sendStream(state, length, fin);
      if (first && state.pendingStopCode !== undefined) {
        this.#sendFrame({ type: "stop_sending", id: state.id, code: state.pendingStopCode });
      }
      state.sentOffset += length;
      this.#connSent += length;
      while (state.writeWaiters.length > 0 && state.writeWaiters[0].end <= state.sentOffset) {
        state.writeWaiters.shift()!.resolve();
      }
      if (fin) {
        state.sendState = "fin";
        for (const resolve of state.finWaiters) resolve();
        state.finWaiters = [];
        state.resolveStopped(-1);
        this.#maybeRelease(state);
      } else if (state.queuedBytes > 0 || state.finQueued) {
        this.#ready.add(state); // to the back: round robin
      }
    }
  }

  /**
   * Send one STREAM frame carrying the next `length` queued bytes of `state` (≤
   * {@link MAX_STREAM_PAYLOAD_BYTES}), encoded straight into {@link STREAM_SCRATCH}: the queued
   * chunks are copied once, whatever their boundaries, and no buffer is allocated.
   */
  #sendStream(state: StreamState, length: number, fin: boolean): void {
    const out = STREAM_SCRATCH;
    let pos: number;
    if (this.#qmux) {
      // 0.0.6 ignores OFF and always sends LEN without OFF; do the same.
      out[0] = FrameType.STREAM | FrameType.STREAM_LEN_BIT | (fin ? FrameType.STREAM_FIN_BIT : 0);
      pos = putVarint(out, putVarint(out, 1, state.id), length);
    } else {
      out[0] = FrameType.STREAM | (fin ? FrameType.STREAM_FIN_BIT : 0);
      pos = putVarint(out, 1, state.id);
    }
    state.queuedBytes -= length;
    let left = length;
    while (left > 0) {
      const head = state.queue[0];
      if (head.length <= left) {
        out.set(head, pos);
        pos += head.length;
        left -= head.length;
        state.queue.shift();
      } else {
        out.set(head.subarray(0, left), pos);
        pos += left;
        state.queue[0] = head.subarray(left);
        left = 0;
      }
    }
    try {
      this.#socket.send(out.subarray(0, pos));
    } catch (error) {
      this.#lost(`WebSocket send failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  #sendFrame(frame: Frame): void {
    const bytes = encodeFrame(frame, this.framing);
    try {
      this.#socket.send(bytes);
    } catch (error) {
      this.#lost(`WebSocket send failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  #onMessage = (event: MessageEvent): void => {
    if (this.#closeInfo) return;
    try {
      if (!(event.data instanceof ArrayBuffer)) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          "text WebSocket message received; only binary messages carry frames",
        );
      }
      const frames = decodeFrames(new Uint8Array(event.data), this.framing);
      for (const frame of frames) {
        if (this.#closeInfo) return;
        this.#onFrame(frame);
      }
    } catch (error) {
      if (this.#closeInfo) return;
      if (error instanceof PeerError) {
        this.#violation(error.code, error.message);
      } else if (error instanceof StreamIdGapError) {
        this.#violation(CLOSE_CODE_BOUNDS_EXCEEDED, error.message);
      } else if (error instanceof FrameDecodeError) {
        this.#violation(CLOSE_CODE_PROTOCOL_VIOLATION, `malformed frame: ${error.message}`);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        this.#log.error("unexpected error handling a WebSocket message", { error: message });
        this.#violation(CLOSE_CODE_PROTOCOL_VIOLATION, `internal error handling a frame: ${message}`);
      }
    }
  };

  #onFrame(frame: Frame): void {
    if (this.#qmux && !this.#peerParams && frame.type !== "transport_parameters") {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `expected QX_TRANSPORT_PARAMETERS as the first qmux-00 frame, got ${frame.type}`,
      );
    }
    switch (frame.type) {
      case "stream":
        return this.#onStream(frame.id, frame.data, frame.fin, frame.offset);
      case "reset_stream":
        return this.#onReset(frame.id, frame.code);
      case "stop_sending":
        return this.#onStopSending(frame.id, frame.code);
      case "close":
        return this.#onPeerClose(frame.code, frame.reason, frame.application);
      case "transport_parameters":
        return this.#onTransportParameters(frame.params);
      case "max_data":
        if (frame.max > this.#connSendMax) {
          this.#connSendMax = frame.max;
          for (const state of this.#connBlocked) this.#schedule(state);
          this.#connBlocked.clear();
          this.#pump();
        }
        return;
      case "max_stream_data": {
        const state = this.#streams.get(frame.id);
        if (state && state.canSend && frame.max > state.sendMax) {
          state.sendMax = frame.max;
          if (state.queuedBytes > 0 || state.finQueued) {
            this.#schedule(state);
            this.#pump();
          }
        }
        return;
      }
      case "max_streams": {
        const dir: Dir = frame.bidi ? "bidi" : "uni";
        if (frame.max > this.#peerMaxStreams[dir]) {
          this.#peerMaxStreams[dir] = frame.max;
          this.#wakeOpenWaiters(dir);
        }
        return;
      }
      case "data_blocked":
      case "stream_data_blocked":
      case "streams_blocked":
        this.#log.trace("peer reports it is blocked", { frame: frame.type, limit: frame.limit });
        return;
    }
  }

  #onTransportParameters(params: TransportParameters): void {
    if (this.#peerParams) {
      this.#log.debug("ignoring repeated QX_TRANSPORT_PARAMETERS");
      return;
    }
    this.#peerParams = params;
    this.#connSendMax = params.initialMaxData;
    this.#peerMaxStreams.bidi = params.initialMaxStreamsBidi;
    this.#peerMaxStreams.uni = params.initialMaxStreamsUni;
    this.#wakeOpenWaiters("bidi");
    this.#wakeOpenWaiters("uni");
  }

  #onStream(id: number, data: Uint8Array, fin: boolean, offset: number | undefined): void {
    const length = data.length;
    if (this.#qmux) {
      this.#connReceived += length;
      if (this.#connReceived > this.#connRecvMax) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          `flow control error: peer sent ${this.#connReceived} bytes, connection limit ${this.#connRecvMax}`,
        );
      }
    }
    const state = this.#lookup(id, true);
    if (!state || state.recvState !== "open") {
      if (state && !state.canRecv) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          `peer sent STREAM on stream ${id}, which is our unidirectional stream`,
        );
      }
      // Finished, stopped or forgotten stream: drop the bytes but give the connection credit back.
      if (this.#qmux && length > 0) this.#consumeConnection(length);
      return;
    }
    if (offset !== undefined && offset !== state.recvOffset) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `STREAM frame for stream ${id} at offset ${offset}, expected ${state.recvOffset} (frames must be in order)`,
      );
    }
    if (this.#qmux && state.recvOffset + length > state.recvMax) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `flow control error: peer sent ${
          state.recvOffset + length
        } bytes on stream ${id}, limit ${state.recvMax}`,
      );
    }
    state.recvOffset += length;
    if (length > 0) {
      state.chunks.push(data);
      state.unreadBytes += length;
      this.#unreadBytes += length;
      if (this.#unreadBytes > this.#maxUnreadBytes) {
        throw new PeerError(
          CLOSE_CODE_BOUNDS_EXCEEDED,
          `peer sent more than ${this.#maxUnreadBytes} bytes that were not read yet`,
        );
      }
    }
    if (fin) state.recvState = "fin";
    while (state.readWaiters.length > 0 && state.chunks.length > 0) {
      const chunk = state.chunks.shift()!;
      this.#consume(state, chunk.length);
      state.readWaiters.shift()!.resolve(chunk);
    }
    if (state.recvState === "fin" && state.chunks.length === 0) {
      for (const waiter of state.readWaiters) waiter.resolve(null);
      state.readWaiters = [];
    }
    if (fin) this.#maybeRelease(state);
  }

  #onReset(id: number, code: number): void {
    const existing = this.#streams.get(id);
    if (!existing) {
      // A peer stream reset before any data: count its id as used and done, never surface it.
      const dir = this.#lookupForResetOnly(id);
      if (dir) this.#retirePeerStream(dir);
      return;
    }
    const state = existing;
    if (!state.canRecv || state.recvState !== "open") return;
    state.recvState = "reset";
    state.resetCode = code;
    this.#discardUnread(state);
    for (const waiter of state.readWaiters) waiter.reject(new StreamResetError(code));
    state.readWaiters = [];
    this.#maybeRelease(state);
  }

  /** For a RESET_STREAM on a never-seen peer id: mark the id used; returns its direction or null. */
  #lookupForResetOnly(id: number): Dir | null {
    const local = ((id & 1) === 1) === this.#isServer;
    if (local) return null;
    const dir = streamDir(id);
    const index = streamIndex(id);
    if (!this.#peerIds.isUnused(dir, index)) return null;
    if (this.#qmux && index >= this.#localMaxStreams[dir]) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `stream limit exceeded: peer reset ${dir} stream index ${index} but the limit is ${
          this.#localMaxStreams[dir]
        }`,
      );
    }
    this.#peerIds.use(dir, index);
    return dir;
  }

  #onStopSending(id: number, code: number): void {
    const state = this.#streams.get(id);
    if (!state || !state.canSend || state.sendState !== "open") return;
    // protocol.md §3.6: reset at once and never write on this id again.
    this.#sendFrame({ type: "reset_stream", id, code, finalSize: state.sentOffset });
    this.#abandonSend(state, new StreamStoppedError(code), code);
    this.#maybeRelease(state);
  }

  #onPeerClose(code: number, reason: string, application: boolean): void {
    this.#log.debug("peer closed the session", { code, reason, application });
    this.#teardown({ code, reason, remote: true, abrupt: false });
    this.#closeSocket("");
  }

  #onClose = (event: CloseEvent): void => {
    if (this.#closeInfo) return;
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

  #violation(code: number, reason: string): void {
    this.#log.info("closing websocket session: peer misbehaved", { code, reason });
    this.#sendFrame({ type: "close", code, reason, application: true });
    this.#teardown({ code, reason, remote: false, abrupt: true });
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
    if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    this.#socket.removeEventListener("message", this.#onMessage);
    const closedError = new SessionClosedError(
      `the WebSocket session is closed (code ${info.code}${info.reason ? `: ${info.reason}` : ""})`,
    );
    for (const state of [...this.#streams.values(), ...this.#unsentLocal]) {
      if (state.sendState === "open") {
        state.sendState = "reset";
        state.queue = [];
        state.queuedBytes = 0;
        for (const waiter of state.writeWaiters) waiter.reject(closedError);
        state.writeWaiters = [];
        for (const resolve of state.finWaiters) resolve();
        state.finWaiters = [];
      }
      state.resolveStopped(-1);
      if (state.recvState === "open") {
        state.chunks = [];
        for (const waiter of state.readWaiters) waiter.reject(closedError);
        state.readWaiters = [];
      }
    }
    this.#streams.clear();
    this.#unsentLocal.clear();
    this.#ready.clear();
    this.#connBlocked.clear();
    for (const dir of ["bidi", "uni"] as const) {
      this.#acceptQueue[dir] = [];
      for (const resolve of this.#acceptWaiters[dir]) resolve(null);
      this.#acceptWaiters[dir] = [];
      for (const waiter of this.#openWaiters[dir]) waiter.reject(closedError);
      this.#openWaiters[dir] = [];
    }
    this.#resolveClosed(info);
  }
}
