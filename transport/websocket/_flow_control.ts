/**
 * qmux flow control of a WebSocket session (all qmux drafts alike) (RFC 9000 §4 credit, as `@moq/qmux` 0.0.6 uses
 * it): connection and stream send credit granted by the peer, the receive windows we grant back as
 * the application reads, and stream-count credit (MAX_STREAMS) both ways. With `webtransport`
 * framing every limit is unlimited and only the unread-bytes budget applies.
 *
 * @module
 */

import { SessionClosedError } from "../types.ts";
import { DEFAULT_MAX_RECORD_SIZE_BYTES, type TransportParameters } from "./framing.ts";
import {
  CLOSE_CODE_BOUNDS_EXCEEDED,
  CLOSE_CODE_PROTOCOL_VIOLATION,
  INITIAL_MAX_DATA_BYTES,
  INITIAL_MAX_STREAM_DATA_BYTES,
  PeerError,
} from "./_limits.ts";
import type { SessionLink } from "./_link.ts";
import type { Dir, LocalStreamIds, PeerStreamIds } from "./_stream_ids.ts";
import type { StreamState, Waiter } from "./_stream_state.ts";

/** Credit and budgets of one session. */
export class FlowControl {
  readonly #link: SessionLink;
  readonly #localIds: LocalStreamIds;
  readonly #peerIds: PeerStreamIds;
  readonly #initialMaxStreams: Record<Dir, number>;
  readonly #maxUnreadBytes: number;

  /** The peer's QX_TRANSPORT_PARAMETERS (qmux), once received. */
  peerParams: TransportParameters | null = null;
  /** Connection send credit granted by the peer, and bytes sent against it. */
  connSendMax = Number.MAX_SAFE_INTEGER;
  connSent = 0;
  #connBlockedReportedAt = -1;
  #connRecvMax = INITIAL_MAX_DATA_BYTES;
  #connReceived = 0;
  #connConsumed = 0;
  /** Bytes received on all streams but not read by the application yet. */
  #unreadBytes = 0;
  readonly #peerMaxStreams: Record<Dir, number> = {
    bidi: Number.MAX_SAFE_INTEGER,
    uni: Number.MAX_SAFE_INTEGER,
  };
  readonly #streamsBlockedReportedAt: Record<Dir, number> = { bidi: -1, uni: -1 };
  readonly #localMaxStreams: Record<Dir, number>;
  readonly #peerRetired: Record<Dir, number> = { bidi: 0, uni: 0 };
  readonly #openWaiters: Record<Dir, Array<Waiter<void>>> = { bidi: [], uni: [] };

  constructor(
    link: SessionLink,
    localIds: LocalStreamIds,
    peerIds: PeerStreamIds,
    initialMaxStreams: Record<Dir, number>,
    maxUnreadBytes: number,
  ) {
    this.#link = link;
    this.#localIds = localIds;
    this.#peerIds = peerIds;
    this.#initialMaxStreams = initialMaxStreams;
    this.#localMaxStreams = { ...initialMaxStreams };
    this.#maxUnreadBytes = maxUnreadBytes;
    if (link.qmux) {
      // Until the peer's parameters arrive we have no credit at all.
      this.connSendMax = 0;
      this.#peerMaxStreams.bidi = 0;
      this.#peerMaxStreams.uni = 0;
    }
  }

  /**
   * The QX_TRANSPORT_PARAMETERS we announce (our first qmux message). The record framings add
   * `max_idle_timeout` (`idleTimeoutMs`), `max_record_size` (the minimum: we accept no larger
   * records), no datagrams, and on `qmux-02` `reset_stream_at`.
   */
  localParameters(idleTimeoutMs: number): TransportParameters {
    const params: TransportParameters = {
      initialMaxData: INITIAL_MAX_DATA_BYTES,
      initialMaxStreamDataBidiLocal: INITIAL_MAX_STREAM_DATA_BYTES,
      initialMaxStreamDataBidiRemote: INITIAL_MAX_STREAM_DATA_BYTES,
      initialMaxStreamDataUni: INITIAL_MAX_STREAM_DATA_BYTES,
      initialMaxStreamsBidi: this.#localMaxStreams.bidi,
      initialMaxStreamsUni: this.#localMaxStreams.uni,
    };
    if (this.#link.records) {
      if (idleTimeoutMs > 0) params.maxIdleTimeoutMs = idleTimeoutMs;
      params.maxRecordSize = DEFAULT_MAX_RECORD_SIZE_BYTES;
      if (this.#link.framing === "qmux-02") params.resetStreamAt = true;
    }
    return params;
  }

  /** Set the initial stream windows of a new stream (qmux). */
  initStream(state: StreamState): void {
    if (!this.#link.qmux) return;
    const params = this.peerParams!;
    if (state.local) {
      state.sendMax = state.dir === "bidi"
        ? params.initialMaxStreamDataBidiRemote
        : params.initialMaxStreamDataUni;
      state.recvWindow = INITIAL_MAX_STREAM_DATA_BYTES;
      state.recvMax = state.dir === "bidi" ? INITIAL_MAX_STREAM_DATA_BYTES : 0;
    } else {
      state.recvWindow = INITIAL_MAX_STREAM_DATA_BYTES;
      state.recvMax = INITIAL_MAX_STREAM_DATA_BYTES;
      state.sendMax = state.dir === "bidi" ? params.initialMaxStreamDataBidiLocal : 0;
    }
  }

  /** Whether the peer's MAX_STREAMS allows one more stream of `dir`. */
  #hasStreamCredit(dir: Dir): boolean {
    return this.#localIds.used(dir) < this.#peerMaxStreams[dir];
  }

  /** Reserve one unit of the peer's stream credit (waits in qmux until MAX_STREAMS allows). */
  takeStreamCredit(dir: Dir): Promise<void> {
    if (this.#link.closed) return Promise.reject(new SessionClosedError());
    const waiters = this.#openWaiters[dir];
    if (waiters.length === 0 && this.#hasStreamCredit(dir)) {
      this.#localIds.reserve(dir);
      return Promise.resolve();
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    waiters.push({ resolve, reject });
    const limit = this.#peerMaxStreams[dir];
    if (this.#link.qmux && this.peerParams && this.#streamsBlockedReportedAt[dir] !== limit) {
      this.#streamsBlockedReportedAt[dir] = limit;
      this.#link.sendFrame({ type: "streams_blocked", bidi: dir === "bidi", limit });
    }
    return promise;
  }

  /** Let waiting openers of `dir` proceed while credit allows. */
  wakeOpenWaiters(dir: Dir): void {
    const waiters = this.#openWaiters[dir];
    while (waiters.length > 0 && this.#hasStreamCredit(dir)) {
      this.#localIds.reserve(dir);
      waiters.shift()!.resolve();
    }
  }

  /** Fail every waiting opener (the session closed). */
  rejectOpenWaiters(error: Error): void {
    for (const dir of ["bidi", "uni"] as const) {
      for (const waiter of this.#openWaiters[dir]) waiter.reject(error);
      this.#openWaiters[dir] = [];
    }
  }

  /** A peer stream index is done: raise MAX_STREAMS when a batch is free or the peer is close to it. */
  retirePeerStream(dir: Dir): void {
    this.#peerRetired[dir]++;
    if (!this.#link.qmux || this.#link.closed) return;
    const initial = this.#initialMaxStreams[dir];
    const target = initial + this.#peerRetired[dir];
    const advertised = this.#localMaxStreams[dir];
    const batch = Math.max(1, Math.floor(initial / 4));
    if (target - advertised >= batch || advertised - this.#peerIds.next(dir) < batch) {
      this.#localMaxStreams[dir] = target;
      this.#link.sendFrame({ type: "max_streams", bidi: dir === "bidi", max: target });
    }
  }

  /** Throw when a peer (qmux) opens stream `index` of `dir` beyond the MAX_STREAMS we granted. */
  checkPeerStreamLimit(dir: Dir, index: number, verb: "opened" | "reset"): void {
    if (this.#link.qmux && index >= this.#localMaxStreams[dir]) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `stream limit exceeded: peer ${verb} ${dir} stream index ${index} but the limit is ` +
          this.#localMaxStreams[dir],
      );
    }
  }

  /** The application consumed `bytes` of `state`: account and grant credit. */
  consume(state: StreamState, bytes: number): void {
    state.unreadBytes -= bytes;
    this.#unreadBytes -= bytes;
    if (!this.#link.qmux || this.#link.closed) return;
    state.recvConsumed += bytes;
    if (state.recvState === "open") {
      const window = state.recvWindow;
      if (state.recvMax - state.recvConsumed <= window / 2) {
        state.recvMax = state.recvConsumed + window;
        this.#link.sendFrame({ type: "max_stream_data", id: state.id, max: state.recvMax });
      }
    }
    this.consumeConnection(bytes);
  }

  /** `bytes` of the connection window are free again (read, or dropped for a finished stream). */
  consumeConnection(bytes: number): void {
    this.#connConsumed += bytes;
    if (this.#connRecvMax - this.#connConsumed <= INITIAL_MAX_DATA_BYTES / 2) {
      this.#connRecvMax = this.#connConsumed + INITIAL_MAX_DATA_BYTES;
      this.#link.sendFrame({ type: "max_data", max: this.#connRecvMax });
    }
  }

  /** Drop what `state` buffered but the application never read. */
  discardUnread(state: StreamState): void {
    this.discardUnreadBeyond(state, 0);
  }

  /** Keep the first `keep` unread bytes of `state` and drop the rest (RESET_STREAM_AT). */
  discardUnreadBeyond(state: StreamState, keep: number): void {
    let kept = 0;
    let dropped = 0;
    const chunks: Uint8Array[] = [];
    for (const chunk of state.chunks) {
      if (kept >= keep) {
        dropped += chunk.length;
      } else if (kept + chunk.length <= keep) {
        chunks.push(chunk);
        kept += chunk.length;
      } else {
        chunks.push(chunk.subarray(0, keep - kept));
        dropped += chunk.length - (keep - kept);
        kept = keep;
      }
    }
    state.chunks = chunks;
    if (dropped > 0) this.consume(state, dropped);
  }

  /** Count `length` received STREAM bytes against the connection window (qmux). */
  chargeConnection(length: number): void {
    if (!this.#link.qmux) return;
    this.#connReceived += length;
    if (this.#connReceived > this.#connRecvMax) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `flow control error: peer sent ${this.#connReceived} bytes, connection limit ${this.#connRecvMax}`,
      );
    }
  }

  /** Buffer `data` received on `state` after checking its window and the session's unread budget. */
  buffer(state: StreamState, data: Uint8Array): void {
    const length = data.length;
    if (this.#link.qmux && state.recvOffset + length > state.recvMax) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `flow control error: peer sent ${
          state.recvOffset + length
        } bytes on stream ${state.id}, limit ${state.recvMax}`,
      );
    }
    state.recvOffset += length;
    if (length === 0) return;
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

  /** Record the peer's QX_TRANSPORT_PARAMETERS (the receive path lets only the first through). */
  onTransportParameters(params: TransportParameters): void {
    if (this.peerParams) return;
    this.peerParams = params;
    this.connSendMax = params.initialMaxData;
    this.#peerMaxStreams.bidi = params.initialMaxStreamsBidi;
    this.#peerMaxStreams.uni = params.initialMaxStreamsUni;
    this.wakeOpenWaiters("bidi");
    this.wakeOpenWaiters("uni");
  }

  /** MAX_STREAMS from the peer. */
  onMaxStreams(dir: Dir, max: number): void {
    if (max > this.#peerMaxStreams[dir]) {
      this.#peerMaxStreams[dir] = max;
      this.wakeOpenWaiters(dir);
    }
  }

  /** Report DATA_BLOCKED once per connection limit. */
  reportConnectionBlocked(): void {
    if (this.#connBlockedReportedAt !== this.connSendMax) {
      this.#connBlockedReportedAt = this.connSendMax;
      this.#link.sendFrame({ type: "data_blocked", limit: this.connSendMax });
    }
  }
}
