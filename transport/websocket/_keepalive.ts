/**
 * Idle timeout and QX_PING keep-alive of the record framings (`qmux-01`, `qmux-02`;
 * draft-ietf-quic-qmux-01, RFC 9000 §10.1).
 *
 * The effective idle timeout is the smaller of the two non-zero `max_idle_timeout` values (either
 * alone if the other is 0; none if both are 0). A session that received nothing for that long is
 * closed. When nothing was received, or nothing sent, for a third of it, a QX_PING request goes
 * out (at most once per third); any peer answers it, which keeps both ends' timers satisfied even
 * on a one-way session. Messages are only *counted* on the hot path; a timer that ticks six
 * times per timeout turns the counts into times.
 *
 * QX_PING rules of `qmux-02`: request sequence numbers strictly increase, and a response must echo
 * a sequence we sent. Requests are answered at most once per received message (the newest one;
 * any answer serves the keep-alive), and not while our send buffer is over its bound, so a peer
 * packing thousands of requests into records, or not reading, cannot make us queue answers.
 *
 * @module
 */

import { CLOSE_CODE_PROTOCOL_VIOLATION, PeerError } from "./_limits.ts";
import type { SessionLink } from "./_link.ts";

/** Shortest tick of the idle timer, so tiny test timeouts do not spin. */
const MIN_TICK_MS = 10;

/** The effective idle timeout of RFC 9000 §10.1 for two announced values (0 = none). */
export function effectiveIdleTimeoutMs(ours: number, peer: number): number {
  if (ours === 0) return peer;
  if (peer === 0) return ours;
  return Math.min(ours, peer);
}

/** Keep-alive and idle detection of one session; inactive until {@link begin}. */
export class KeepAlive {
  readonly #link: SessionLink;
  readonly #ourTimeoutMs: number;
  readonly #onIdle: (timeoutMs: number) => void;
  readonly #congested: () => boolean;
  #owedAnswer = -1;
  #received = 0;
  #sent = 0;
  #seenReceived = 0;
  #seenSent = 0;
  #lastReceiveAt = 0;
  #lastSendAt = 0;
  #lastPingAt = 0;
  #nextPingSequence = 0;
  #lastPingRequest = -1;
  #timer: ReturnType<typeof setInterval> | undefined;
  #timeoutMs = 0;

  /**
   * `ourTimeoutMs`: the `max_idle_timeout` we announce; `onIdle`: close the session; `congested`:
   * whether the send buffer is over its bound (QX_PING answers are skipped then).
   */
  constructor(
    link: SessionLink,
    ourTimeoutMs: number,
    onIdle: (timeoutMs: number) => void,
    congested: () => boolean,
  ) {
    this.#link = link;
    this.#ourTimeoutMs = ourTimeoutMs;
    this.#onIdle = onIdle;
    this.#congested = congested;
  }

  /** The effective timeout once started (0 = none). */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Count one received message (hot path: no clock read). */
  received(): void {
    this.#received++;
  }

  /** Count one sent message (hot path: no clock read). */
  sent(): void {
    this.#sent++;
  }

  /** The peer's parameters arrived: start the timer with the effective timeout (record framings). */
  begin(peerTimeoutMs: number): void {
    if (!this.#link.records || this.#timer !== undefined || this.#link.closed) return;
    const timeoutMs = effectiveIdleTimeoutMs(this.#ourTimeoutMs, peerTimeoutMs);
    if (timeoutMs === 0) return;
    this.#timeoutMs = timeoutMs;
    const now = Date.now();
    this.#lastReceiveAt = now;
    this.#lastSendAt = now;
    this.#lastPingAt = now;
    this.#timer = setInterval(() => this.#tick(), Math.max(MIN_TICK_MS, Math.floor(timeoutMs / 6)));
  }

  /** Stop the timer (the session closed). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A QX_PING request arrived: check the qmux-02 ordering rule; {@link answer} replies. */
  onPingRequest(sequence: number): void {
    if (this.#link.framing === "qmux-02") {
      if (sequence <= this.#lastPingRequest) {
        throw new PeerError(
          CLOSE_CODE_PROTOCOL_VIOLATION,
          `QX_PING request sequence ${sequence} does not increase (previous ${this.#lastPingRequest})`,
        );
      }
      this.#lastPingRequest = sequence;
    }
    this.#owedAnswer = sequence;
  }

  /** The received message is applied: answer its newest QX_PING request, if any. */
  answer(): void {
    const sequence = this.#owedAnswer;
    if (sequence < 0) return;
    this.#owedAnswer = -1;
    if (this.#link.closed || this.#congested()) return;
    this.#link.sendFrame({ type: "ping", response: true, sequence });
  }

  /** A QX_PING response arrived: in qmux-02 it must echo a sequence we sent. */
  onPingResponse(sequence: number): void {
    if (this.#link.framing === "qmux-02" && sequence >= this.#nextPingSequence) {
      throw new PeerError(
        CLOSE_CODE_PROTOCOL_VIOLATION,
        `QX_PING response echoes sequence ${sequence}, which was never sent`,
      );
    }
  }

  #tick(): void {
    if (this.#link.closed) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (this.#received !== this.#seenReceived) {
      this.#seenReceived = this.#received;
      this.#lastReceiveAt = now;
    }
    if (this.#sent !== this.#seenSent) {
      this.#seenSent = this.#sent;
      this.#lastSendAt = now;
    }
    const timeoutMs = this.#timeoutMs;
    if (now - this.#lastReceiveAt > timeoutMs) {
      this.stop();
      this.#onIdle(timeoutMs);
      return;
    }
    const third = timeoutMs / 3;
    const quiet = now - this.#lastReceiveAt > third || now - this.#lastSendAt > third;
    if (quiet && now - this.#lastPingAt >= third) {
      this.#lastPingAt = now;
      this.#link.sendFrame({ type: "ping", response: false, sequence: this.#nextPingSequence++ });
    }
  }
}
