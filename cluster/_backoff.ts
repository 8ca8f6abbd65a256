/**
 * Reconnect backoff for cluster links (docs/relay.md §6.4): start at 1 s, double up to a
 * 10 s ceiling, sleep a random 50–100 % of the current delay, and start over only after a session
 * lasted at least 10 s. Beyond upstream (docs/relay.md §8 item 30): a peer that refused our credential
 * keeps doubling up to a one-minute ceiling instead of being redialed every 10 s forever.
 *
 * @module
 */

/** First reconnect delay. */
export const BACKOFF_INITIAL_MS = 1_000;
/** Reconnect delay ceiling. */
export const BACKOFF_MAX_MS = 10_000;
/** A session that lasted this long resets the backoff. */
export const BACKOFF_RESET_AFTER_MS = 10_000;
/** Reconnect delay ceiling for a peer that refused our credential (401/403, close code 6). */
export const REJECTED_BACKOFF_MAX_MS = 60_000;

/** How the last attempt ended. */
export interface AttemptOutcome {
  /** How long the session lasted (0 when the dial itself failed). */
  lastedMs: number;
  /** The peer refused our credential. */
  rejected: boolean;
}

/** The backoff state of one peer link. */
export class Backoff {
  #currentMs = BACKOFF_INITIAL_MS;
  readonly #random: () => number;

  /** `random` returns a number in [0, 1) (injectable for tests). */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** The delay the next failure would start from (before jitter). */
  get currentMs(): number {
    return this.#currentMs;
  }

  /** The delay before the next dial after `outcome`; advances the schedule. */
  next(outcome: AttemptOutcome): number {
    const ceiling = outcome.rejected ? REJECTED_BACKOFF_MAX_MS : BACKOFF_MAX_MS;
    if (outcome.lastedMs >= BACKOFF_RESET_AFTER_MS) this.#currentMs = BACKOFF_INITIAL_MS;
    // A credential that works again (or any other failure) drops back under the normal ceiling.
    const base = Math.min(this.#currentMs, ceiling);
    this.#currentMs = Math.min(base * 2, ceiling);
    return base * (0.5 + this.#random() * 0.5);
  }
}
