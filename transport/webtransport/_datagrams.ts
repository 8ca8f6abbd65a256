/**
 * HTTP datagrams for WebTransport sessions (RFC 9297 §2.1, docs/webtransport.md §10): every QUIC
 * datagram on an HTTP/3 connection is `varint(quarter stream id) + payload`, where the quarter
 * stream id is the session's CONNECT stream id / 4. One pump per connection reads the QUIC datagrams
 * and hands each payload to its session's bounded queue; a session sends by prefixing its id.
 *
 * Everything the peer controls is bounded: a datagram is at most what QUIC accepted (the connection's
 * max_datagram_frame_size), a session queues at most {@link MAX_QUEUED_DATAGRAMS} (newer ones are
 * dropped while its reader is behind), and datagrams for unknown or closed sessions are dropped, at
 * most {@link MAX_UNKNOWN_DATAGRAMS_PER_WINDOW} per {@link UNKNOWN_DATAGRAM_WINDOW_MS} before the
 * connection is closed with H3_EXCESSIVE_LOAD.
 *
 * @module
 */

import type { DatagramChannel } from "../types.ts";
import { AsyncQueue } from "../../util/mod.ts";
import { concatBytes, encodeVarint, getVarint, varintLength } from "../../codec/mod.ts";
import { H3_ERROR } from "./h3.ts";

/** Most received datagrams queued for one session; later ones are dropped until its reader catches up. */
export const MAX_QUEUED_DATAGRAMS = 256;
/** Datagrams for unknown (or already closed) sessions tolerated per window. */
export const MAX_UNKNOWN_DATAGRAMS_PER_WINDOW = 1024;
/** The window {@link MAX_UNKNOWN_DATAGRAMS_PER_WINDOW} counts over. */
export const UNKNOWN_DATAGRAM_WINDOW_MS = 1_000;
/** H3_DATAGRAM_ERROR (RFC 9297 §5.2): a malformed HTTP datagram. */
export const H3_DATAGRAM_ERROR = 0x33;
/** Largest quarter stream id (RFC 9297 §2.1: 2^60 - 1); larger is H3_DATAGRAM_ERROR. */
const MAX_QUARTER_STREAM_ID = 2 ** 60 - 1;

/** The part of a QUIC connection the datagram code uses (a `Deno.QuicConn` provides it). */
export interface DatagramConn {
  readonly maxDatagramSize: number;
  sendDatagram(data: Uint8Array): Promise<void>;
  readDatagram(): Promise<Uint8Array>;
}

/** One WebTransport session's datagram channel: sends with its quarter-stream-id prefix, receives from the pump. */
export class SessionDatagrams implements DatagramChannel {
  readonly #conn: DatagramConn;
  readonly #prefix: Uint8Array;
  readonly #queue = new AsyncQueue<Uint8Array>();
  #closed = false;
  /** Received datagrams dropped because the queue was full. */
  dropped = 0;

  /** `sessionId` is the CONNECT stream id (a multiple of 4). */
  constructor(conn: DatagramConn, sessionId: number) {
    this.#conn = conn;
    this.#prefix = encodeVarint(Math.floor(sessionId / 4));
  }

  get maxBytes(): number {
    if (this.#closed) return 0;
    try {
      return Math.max(0, this.#conn.maxDatagramSize - this.#prefix.length);
    } catch {
      return 0;
    }
  }

  send(data: Uint8Array): void {
    if (this.#closed || data.length > this.maxBytes) return;
    this.#conn.sendDatagram(concatBytes([this.#prefix, data])).catch(() => {});
  }

  receive(): Promise<Uint8Array | null> {
    return this.#queue.next();
  }

  /** A datagram for this session arrived (payload without the prefix). */
  deliver(payload: Uint8Array): void {
    if (this.#closed) return;
    if (this.#queue.size >= MAX_QUEUED_DATAGRAMS) {
      this.dropped++;
      return;
    }
    this.#queue.push(payload);
  }

  /** The session ended: pending and future receives get `null`, sends are dropped. */
  close(): void {
    this.#closed = true;
    this.#queue.close();
  }
}

/** Raised when the peer's datagrams break RFC 9297 or the unknown-session budget. */
export class DatagramAbuseError extends Error {
  /** The HTTP/3 error code to close the connection with. */
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "DatagramAbuseError";
    this.code = code;
  }
}

/**
 * The quarter stream id at the front of an HTTP datagram (its payload starts after
 * `varintLength(data[0])` bytes); malformed input raises {@link DatagramAbuseError}.
 */
export function quarterStreamIdOf(data: Uint8Array): number {
  if (data.length === 0 || varintLength(data[0]) > data.length) {
    throw new DatagramAbuseError(H3_DATAGRAM_ERROR, "HTTP datagram without a whole quarter stream id");
  }
  const id = getVarint(data, 0);
  if (id > MAX_QUARTER_STREAM_ID) {
    throw new DatagramAbuseError(H3_DATAGRAM_ERROR, "HTTP datagram quarter stream id above 2^60 - 1");
  }
  return id;
}

/** Counts datagrams for unknown sessions per window; {@link UnknownDatagramBudget.spend} raises when over. */
export class UnknownDatagramBudget {
  #windowStart = 0;
  #count = 0;
  /** Total dropped over the connection's life (for logs). */
  total = 0;

  /** Count one at `nowMs`; raises {@link DatagramAbuseError} (H3_EXCESSIVE_LOAD) past the budget. */
  spend(nowMs: number): void {
    this.total++;
    if (nowMs - this.#windowStart >= UNKNOWN_DATAGRAM_WINDOW_MS) {
      this.#windowStart = nowMs;
      this.#count = 0;
    }
    if (++this.#count > MAX_UNKNOWN_DATAGRAMS_PER_WINDOW) {
      throw new DatagramAbuseError(
        H3_ERROR.EXCESSIVE_LOAD,
        `more than ${MAX_UNKNOWN_DATAGRAMS_PER_WINDOW} datagrams for unknown sessions within ${UNKNOWN_DATAGRAM_WINDOW_MS} ms`,
      );
    }
  }
}

/**
 * Read the connection's QUIC datagrams until it closes and route each to `route(sessionId)`.
 * Resolves when the connection is gone; raises {@link DatagramAbuseError} on a malformed datagram or
 * a flood of unknown ones (the caller closes the connection with its code).
 */
export async function pumpHttpDatagrams(
  conn: DatagramConn,
  route: (sessionId: number) => SessionDatagrams | undefined,
): Promise<void> {
  const budget = new UnknownDatagramBudget();
  for (;;) {
    let data: Uint8Array;
    try {
      data = await conn.readDatagram();
    } catch {
      return; // the connection closed
    }
    const channel = route(quarterStreamIdOf(data) * 4);
    if (channel) channel.deliver(data.subarray(varintLength(data[0])));
    else budget.spend(Date.now());
  }
}
