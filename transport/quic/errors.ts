/**
 * Classification of the errors Deno 2.9.6's QUIC API throws. Deno carries stream error codes only
 * inside the message text (`stream reset by peer: error 7`), so they are parsed from there.
 *
 * @module
 */

/** What a QUIC operation's error means. */
export type QuicErrorKind =
  /** The peer reset the stream (RESET_STREAM); `code` is its wire code. */
  | "reset"
  /** The peer stopped reading (STOP_SENDING); `code` is its wire code. */
  | "stopped"
  /** The connection is gone (closed, lost, timed out). */
  | "lost"
  /** The stream or connection resource was already closed locally. */
  | "gone"
  /** Anything else. */
  | "other";

/** A classified QUIC error. */
export interface QuicErrorInfo {
  kind: QuicErrorKind;
  /** The wire code for `reset` / `stopped`. */
  code: number;
  /** The original message. */
  message: string;
}

const RESET_PATTERN = /reset by peer: error (\d+)/;
const STOPPED_PATTERN = /stopped by peer: error (\d+)/;
const LOST_PATTERN =
  /connection lost|closed by peer|timed out|aborted by peer|connection closed|closed$|reset by peer$/i;

/** Classify an error thrown by a Deno QUIC stream or connection operation. */
export function classifyQuicError(error: unknown): QuicErrorInfo {
  const message = error instanceof Error ? error.message : String(error);
  const reset = RESET_PATTERN.exec(message);
  if (reset) return { kind: "reset", code: Number(reset[1]), message };
  const stopped = STOPPED_PATTERN.exec(message);
  if (stopped) return { kind: "stopped", code: Number(stopped[1]), message };
  if (error instanceof Deno.errors.BadResource) return { kind: "gone", code: 0, message };
  if (error instanceof Deno.errors.NotConnected || LOST_PATTERN.test(message)) {
    return { kind: "lost", code: 0, message };
  }
  if (error instanceof TypeError && /locked|released|closed|errored/.test(message)) {
    return { kind: "gone", code: 0, message };
  }
  return { kind: "other", code: 0, message };
}

/** A short text for logs. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
