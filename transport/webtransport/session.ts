/**
 * One WebTransport session (draft-02 signalling, as Chromium 156 speaks it) on an HTTP/3
 * connection, as a {@link TransportSession}. Created by {@link H3Connection} once the CONNECT is
 * authorised and answered.
 *
 * Close sequence (docs/webtransport.md §8): locally, DATA(CLOSE_WEBTRANSPORT_SESSION) → FIN → wait for
 * the peer's CONNECT FIN (≤ 2 s) → 100 ms → the connection closes QUIC with H3_NO_ERROR. When the
 * peer closes (capsule or FIN), every stream of the session is ended here, our side of the CONNECT
 * stream gets a FIN and the QUIC connection is closed (browsers leave all of that open).
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type {
  BidiStream,
  CloseInfo,
  NegotiatedProtocol,
  RecvStream,
  SendStream,
  TransportSession,
} from "../types.ts";
import {
  classifyQuicError,
  errorMessage,
  openBidiStream,
  openUniStream,
  QuicRecvHalf,
  QuicSendHalf,
  type StreamOwner,
  StreamRegistry,
  type Terminable,
} from "../quic/mod.ts";
import { AsyncQueue, sleep } from "../../util/mod.ts";
import type { BufferedReader } from "./_buffered_reader.ts";
import { CapsuleParser, encodeCloseSessionData } from "./_capsule.ts";
import { http3ToWebtransport } from "./_error_codes.ts";
import { FRAME, readFrameHeader, RESERVED_H2_FRAMES, UNI_STREAM, WEBTRANSPORT_BIDI_SIGNAL } from "./h3.ts";
import { encodeVarint } from "../../codec/mod.ts";
import { SessionDatagrams } from "./_datagrams.ts";

/** How long to wait for the peer's CONNECT FIN after our CLOSE capsule + FIN. */
export const PEER_FIN_TIMEOUT_MS = 2000;
/** Pause between the peer's FIN and closing the QUIC connection (lets the capsule settle in browsers). */
export const CLOSE_LINGER_MS = 100;
/** Largest chunk read at once from a DATA frame on the CONNECT stream. */
const DATA_CHUNK_BYTES = 16 * 1024;

/** Everything a session needs from its connection. */
export interface WebTransportSessionInit {
  conn: Deno.QuicConn;
  /** The session id: the CONNECT stream id. */
  id: number;
  url: URL;
  protocol: NegotiatedProtocol;
  peer: string;
  logger: Logger;
  /** The CONNECT stream (kept referenced for the whole session). */
  connectStream: Deno.QuicBidirectionalStream;
  /** The writer of the CONNECT stream's send side (already holding the lock). */
  connectWriter: WritableStreamDefaultWriter<Uint8Array>;
  /** Called once when the session is completely finished (the connection may then close QUIC). */
  onEnded: (session: WebTransportSession) => void;
}

/** Frame types that must not appear on a request stream (RFC 9114 §7.2): a protocol error. */
const FRAME_UNEXPECTED_ON_REQUEST: ReadonlySet<number> = new Set([
  FRAME.CANCEL_PUSH,
  FRAME.SETTINGS,
  FRAME.PUSH_PROMISE,
  FRAME.GOAWAY,
  FRAME.MAX_PUSH_ID,
  ...RESERVED_H2_FRAMES,
]);

/** Whether a frame type is a protocol error on a request (CONNECT) stream. */
export function isFrameUnexpectedOnRequest(type: number): boolean {
  return FRAME_UNEXPECTED_ON_REQUEST.has(type);
}

/**
 * Resolve when `promise` settles, after `ms`, or when `signal` aborts, whichever is first; never
 * rejects and always clears its timer.
 */
export async function settleWithin(
  promise: Promise<unknown>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      promise.then(() => {}, () => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        if (signal) {
          onAbort = () => resolve();
          signal.addEventListener("abort", onAbort, { once: true });
        }
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

/** A WebTransport session: kind `"webtransport"`, one per extended CONNECT. */
export class WebTransportSession implements TransportSession, StreamOwner {
  readonly kind = "webtransport" as const;
  readonly protocol: NegotiatedProtocol;
  readonly url: URL;
  readonly peer: string;
  /** The session id (= CONNECT stream id). */
  readonly id: number;
  /** HTTP datagrams of this session (RFC 9297), routed here by the connection's datagram pump. */
  readonly datagrams: SessionDatagrams;
  readonly #conn: Deno.QuicConn;
  readonly #logger: Logger;
  readonly #connectStream: Deno.QuicBidirectionalStream;
  readonly #connectWriter: WritableStreamDefaultWriter<Uint8Array>;
  readonly #onEnded: (session: WebTransportSession) => void;
  readonly #streams = new StreamRegistry();
  readonly #bidi = new AsyncQueue<BidiStream>();
  readonly #uni = new AsyncQueue<RecvStream>();
  readonly #closed = Promise.withResolvers<CloseInfo>();
  readonly #peerFin = Promise.withResolvers<void>();
  readonly #uniHeader: Uint8Array;
  readonly #bidiHeader: Uint8Array;
  #info: CloseInfo | null = null;
  #ended = false;
  /** Aborted when the session is completely finished: cuts the close sequence's waits short. */
  readonly #endController = new AbortController();
  #ourFinSent = false;
  #reader: BufferedReader | null = null;

  constructor(init: WebTransportSessionInit) {
    this.#conn = init.conn;
    this.id = init.id;
    this.url = init.url;
    this.protocol = init.protocol;
    this.peer = init.peer;
    this.#logger = init.logger.with({ session: init.id });
    this.#connectStream = init.connectStream;
    this.#connectWriter = init.connectWriter;
    this.#onEnded = init.onEnded;
    const sessionId = encodeVarint(init.id);
    this.#uniHeader = Uint8Array.from([...encodeVarint(UNI_STREAM.WEBTRANSPORT), ...sessionId]);
    this.#bidiHeader = Uint8Array.from([...encodeVarint(WEBTRANSPORT_BIDI_SIGNAL), ...sessionId]);
    this.datagrams = new SessionDatagrams(init.conn, init.id);
  }

  get closed(): Promise<CloseInfo> {
    return this.#closed.promise;
  }

  /** How the session ended, once it has (`null` while open). */
  get closeInfo(): CloseInfo | null {
    return this.#info;
  }

  /** The CONNECT stream (exposed for diagnostics). */
  get connectStream(): Deno.QuicBidirectionalStream {
    return this.#connectStream;
  }

  // ---- StreamOwner ----
  get isClosed(): boolean {
    return this.#info !== null;
  }
  mapCode(wireCode: number): number {
    return http3ToWebtransport(wireCode) ?? 0;
  }
  track(stream: Terminable): void {
    this.#streams.add(stream);
  }
  untrack(stream: Terminable): void {
    this.#streams.delete(stream);
  }

  openBidi(): Promise<BidiStream> {
    return openBidiStream(this.#conn, this, this.#bidiHeader);
  }

  openUni(): Promise<SendStream> {
    return openUniStream(this.#conn, this, this.#uniHeader);
  }

  acceptBidi(): Promise<BidiStream | null> {
    return this.#bidi.next();
  }

  acceptUni(): Promise<RecvStream | null> {
    return this.#uni.next();
  }

  close(code: number, reason: string): void {
    if (this.#info) return;
    this.#finish({ code, reason, remote: false, abrupt: false });
    void this.#closeSequence(code, reason);
  }

  /** Hand over a peer-opened bidi stream whose header named this session (called by the connection). */
  deliverBidi(send: QuicSendHalf, recv: QuicRecvHalf): void {
    if (this.#info || !this.#bidi.push({ send, recv })) {
      send.terminate();
      recv.terminate();
    }
  }

  /** Hand over a peer-opened uni stream whose header named this session (called by the connection). */
  deliverUni(recv: QuicRecvHalf): void {
    if (this.#info || !this.#uni.push(recv)) recv.terminate();
  }

  /**
   * Read the CONNECT stream after the 200 until it ends: DATA frames carry capsules; the CLOSE
   * capsule or a FIN ends the session. Resolves when the peer's side of the stream is done.
   */
  async run(reader: BufferedReader): Promise<void> {
    this.#reader = reader;
    const parser = new CapsuleParser();
    let remoteDeadline: ReturnType<typeof setTimeout> | undefined;
    try {
      while (true) {
        const header = await readFrameHeader(reader);
        if (header === null) break;
        if (header.type === FRAME.DATA) {
          let rest = header.length;
          while (rest > 0) {
            const chunk = await reader.readSome(Math.min(rest, DATA_CHUNK_BYTES));
            if (!chunk) throw new Error("CONNECT stream ended inside a DATA frame");
            rest -= chunk.byteLength;
            for (const capsule of parser.push(chunk)) {
              if (capsule.type === "close") {
                this.#logger.debug("peer closed the WebTransport session", {
                  code: capsule.code,
                  reason: capsule.reason,
                });
                this.#remoteClose({
                  code: capsule.code,
                  reason: capsule.reason,
                  remote: true,
                  abrupt: false,
                });
                // The peer should FIN right after its capsule; do not wait forever for it.
                remoteDeadline ??= setTimeout(
                  () => reader.reader.cancel().catch(() => {}),
                  PEER_FIN_TIMEOUT_MS,
                );
              } else {
                this.#logger.debug("peer asked to drain the WebTransport session");
              }
            }
          }
        } else if (isFrameUnexpectedOnRequest(header.type)) {
          throw new Error(`unexpected HTTP/3 frame 0x${header.type.toString(16)} on the CONNECT stream`);
        } else {
          // Trailers (HEADERS), GREASE and unknown frames are skipped.
          await reader.skip(header.length);
        }
      }
      // FIN on the CONNECT stream: the session is over (clean when it came without a capsule too).
      this.#remoteClose({ code: 0, reason: "", remote: true, abrupt: false });
    } catch (error) {
      if (!this.#info) {
        const info = classifyQuicError(error);
        const reset = info.kind === "reset";
        this.#logger.debug("WebTransport CONNECT stream failed", { error: errorMessage(error) });
        this.#remoteClose({
          code: reset ? this.mapCode(info.code) : 0,
          reason: reset ? "CONNECT stream reset by peer" : errorMessage(error),
          remote: true,
          abrupt: true,
        });
      }
    } finally {
      clearTimeout(remoteDeadline);
      this.#peerFin.resolve();
    }
  }

  /** The QUIC connection is gone: end the session (called by the connection). */
  connectionClosed(ending: { code: number; reason: string; abrupt: boolean; remote?: boolean }): void {
    if (!this.#info) {
      this.#finish({
        code: ending.code,
        reason: ending.reason,
        remote: ending.remote ?? true,
        abrupt: ending.abrupt,
      });
    }
    this.#peerFin.resolve();
    this.#end();
  }

  #remoteClose(info: CloseInfo): void {
    const first = this.#info === null;
    if (first) this.#finish(info);
    if (first) void this.#afterRemoteClose();
  }

  async #afterRemoteClose(): Promise<void> {
    const signal = this.#endController.signal;
    await this.#sendFin();
    await settleWithin(this.#peerFin.promise, PEER_FIN_TIMEOUT_MS + 100, signal);
    // Let our FIN reach the peer before the connection goes.
    await sleep(CLOSE_LINGER_MS, signal);
    this.#end();
  }

  async #closeSequence(code: number, reason: string): Promise<void> {
    try {
      if (!this.#ourFinSent) await this.#connectWriter.write(encodeCloseSessionData(code, reason));
    } catch (error) {
      this.#logger.debug("writing the CLOSE capsule failed", { error: errorMessage(error) });
    }
    const signal = this.#endController.signal;
    await this.#sendFin();
    await settleWithin(this.#peerFin.promise, PEER_FIN_TIMEOUT_MS, signal);
    await sleep(CLOSE_LINGER_MS, signal);
    // The peer did not FIN in time: stop reading the CONNECT stream.
    this.#reader?.reader.cancel().catch(() => {});
    this.#end();
  }

  async #sendFin(): Promise<void> {
    if (this.#ourFinSent) return;
    this.#ourFinSent = true;
    try {
      await settleWithin(this.#connectWriter.close(), PEER_FIN_TIMEOUT_MS, this.#endController.signal);
    } catch {
      // the connection is gone
    }
  }

  #finish(info: CloseInfo): void {
    if (this.#info) return;
    this.#info = info;
    this.#logger.debug("WebTransport session closed", {
      code: info.code,
      reason: info.reason,
      remote: info.remote,
      abrupt: info.abrupt,
    });
    for (const bidi of this.#bidi.close()) {
      (bidi.send as QuicSendHalf).terminate();
      (bidi.recv as QuicRecvHalf).terminate();
    }
    for (const recv of this.#uni.close()) (recv as QuicRecvHalf).terminate();
    this.datagrams.close();
    this.#streams.terminateAll();
    this.#closed.resolve(info);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endController.abort();
    this.#reader?.reader.cancel().catch(() => {});
    try {
      this.#onEnded(this);
    } catch (error) {
      this.#logger.warn("session end hook failed", { error: errorMessage(error) });
    }
  }
}
