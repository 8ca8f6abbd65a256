/**
 * What every part of one moq-lite session shares: the transport, the negotiated version, the
 * scope, the relay and the limits.
 *
 * @module
 */

import type { LimitsConfig } from "../config/mod.ts";
import type { LogFields, Logger } from "../log/mod.ts";
import { type Origin, PathError, type RelayStats } from "../relay/mod.ts";
import type { BidiStream, StreamReader, TransportSession } from "../transport/mod.ts";
import type { Version } from "./messages.ts";
import { codeForError05 } from "./lite05.ts";
import { BoundsError, DecodeError } from "../codec/mod.ts";
import type { SessionScope } from "../auth/mod.ts";

/** Session close / stream reset codes (docs/protocol.md §9). */
export const Code = {
  Cancel: 0,
  Old: 2,
  Timeout: 3,
  Decode: 5,
  Unauthorized: 6,
  Version: 9,
  UnexpectedStream: 10,
  Bounds: 11,
  Duplicate: 12,
  NotFound: 13,
  ProtocolViolation: 15,
  Unexpected: 16,
  Unsupported: 17,
  Closed: 25,
} as const;

/** Raised inside a session for a peer's protocol error; closes the session with `code`. */
export class ProtocolError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/**
 * The session close code for a peer's bad input (protocol violation, malformed or oversize
 * data, unusable path), or null when the error is not the peer's fault (stream reset, session
 * gone) and only the stream ends.
 */
export function peerErrorCode(err: unknown): number | null {
  if (err instanceof ProtocolError) return err.code;
  const lite05 = codeForError05(err);
  if (lite05 !== null) return lite05;
  if (err instanceof DecodeError) return Code.Decode;
  if (err instanceof BoundsError || err instanceof PathError) return Code.Bounds;
  return null;
}

/** Default limits when the config does not say. */
export const DEFAULT_LIMITS: LimitsConfig = {
  maxBroadcastsPerSession: 256,
  maxSubscriptionsPerSession: 1024,
  maxStreamsPerSession: 10_000,
  subscriberQueueBytes: 4 * 1024 * 1024,
  subscribeWaitMs: 2_000,
  warmMs: 5_000,
  drainTimeoutMs: 10_000,
};

/**
 * Frames one GROUP stream may move back to back (read from a publisher, or written to a
 * subscriber) before it yields to the event loop. Buffered input and accepted writes continue
 * through already-resolved promises (microtasks), so without a yield a flood of tiny frames would
 * run as one task and starve timers, `/health` and every other session.
 */
export const FRAMES_PER_YIELD = 1024;
/**
 * Frames a group stream reads or sends before adding them to the session's stats (and at the
 * group's end): the stats view forwards every increment to tier and broadcast totals, too much work
 * per frame per subscriber.
 */
export const STATS_BATCH_FRAMES = 32;

/** Control messages one stream may have handled back to back before it yields (as above). */
export const MESSAGES_PER_YIELD = 1024;

/** The project's event-loop yield, re-exported for the session modules. */
export { yieldToEventLoop } from "../util/mod.ts";

/**
 * Read and drop whatever a peer still sends on a stream, until its FIN (or reset, which throws).
 * Whole chunks are dropped at a time: skipping byte by byte would let megabytes of junk run as
 * millions of microtasks in one task and starve the event loop.
 */
export async function discardRest(reader: StreamReader): Promise<void> {
  if (await reader.done()) return;
  // What the reader still buffers is dropped with it; the rest goes straight from the stream.
  while ((await reader.stream.read()) !== null) {
    // discard
  }
}

/**
 * Per-session warnings a peer can trigger at will (quota hits, ignored announcements): each kind is
 * logged at warn level once per session, then at debug level, so a peer cannot flood the log.
 */
export class SessionWarnings {
  /** Kinds warned about so far (made on the first warning: most sessions never warn). */
  #seen: Set<string> | null = null;

  /** Warn about `kind` (its first occurrence in this session) or note it at debug level. */
  warn(log: Logger, kind: string, message: string, fields?: LogFields): void {
    if (this.#seen?.has(kind)) {
      log.debug(message, fields);
      return;
    }
    (this.#seen ??= new Set()).add(kind);
    log.warn(`${message} (further ones in this session are logged at debug level)`, fields);
  }
}

/** Largest frame the relay accepts. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** Shared state of one session. */
export interface SessionContext {
  readonly id: number;
  readonly transport: TransportSession;
  readonly version: Version;
  readonly scope: SessionScope;
  readonly origin: Origin;
  readonly stats: RelayStats;
  readonly log: Logger;
  readonly limits: LimitsConfig;
  /** This relay's origin id (lite-04 hop id). */
  readonly originId: number;
  /** Aborted when the session ends. */
  readonly signal: AbortSignal;
  /** Close the whole session. */
  fail(code: number, reason: string): void;
  /** Warnings a peer can repeat at will, logged once per session. */
  readonly warnings: SessionWarnings;
}

/**
 * Closes a session when its credential expires: {@link arm} (re)starts the timer for an expiry
 * time (ms since epoch; undefined = never), re-arming in steps for expiries beyond what
 * `setTimeout` can wait; {@link cancel} stops it.
 */
export class CredentialExpiry {
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onExpired: () => void;

  constructor(onExpired: () => void) {
    this.#onExpired = onExpired;
  }

  /** Start (or restart) the timer for `expiresAtMs`; undefined stops it. */
  arm(expiresAtMs: number | undefined): void {
    this.cancel();
    if (expiresAtMs === undefined) return;
    const wait = (left: number) => {
      this.#timer = setTimeout(() => {
        const rest = expiresAtMs - Date.now();
        if (rest > 0) wait(rest);
        else this.#onExpired();
      }, Math.min(left, MAX_TIMER_MS));
    };
    wait(Math.max(0, expiresAtMs - Date.now()));
  }

  /** Stop the timer. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Longest single `setTimeout` wait (it caps at 2^31 − 1 ms). */
const MAX_TIMER_MS = 2_000_000_000;

/** Refuse a bidi stream: reset our sending side and stop the peer's, both with `code`. */
export function refuse(stream: BidiStream, code: number): void {
  stream.send.reset(code);
  stream.recv.stop(code);
}
