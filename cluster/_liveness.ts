/**
 * Liveness of an outbound cluster link, independent of the QUIC idle timeout: the dialer opens a
 * PROBE stream (draft-lcurley-moq-lite-04 §PROBE) every {@link LIVENESS_PING_INTERVAL_MS}, sends
 * only its type and FIN, and counts any answer (the peer's FIN, a reset) as a sign of life. A
 * peer that has not answered for {@link LIVENESS_TIMEOUT_MS} is suspected: unless there is
 * independent evidence its process is still there (a busy peer on a loaded machine), it is
 * declared dead and the link is closed, so routes learned over it are withdrawn (a redundant
 * route to the same publisher takes over seamlessly). The accepting side counts these pings too
 * (`_accepted.ts`). A dead peer *process* is found sooner by the death sensor (`_sensor.ts`);
 * pings are for a hung peer or a host gone without closing anything.
 *
 * A stall of our own event loop (a late timer) is not blamed on the peer: the silence counts
 * from when our loop ran again.
 *
 * @module
 */

import { SessionClosedError, type TransportSession } from "../transport/mod.ts";

/**
 * How often the dialer pings a cluster peer. A dead peer process is noticed sooner by the death
 * sensor (`_sensor.ts`); pings catch a hung peer or a host gone without a trace, and each costs a
 * stream on both sides, so they are sparse (at 100 ms, pings were most of an idle relay's CPU).
 */
export const LIVENESS_PING_INTERVAL_MS = 1_000;
/** A peer silent this long is suspected dead (and dead unless {@link LivenessOptions.stillThere}). */
export const LIVENESS_TIMEOUT_MS = 1_500;
/** A peer silent this long is dead whatever {@link LivenessOptions.stillThere} says. */
export const LIVENESS_HARD_TIMEOUT_MS = 3_000;
/** Stream type of a PROBE bidirectional stream (moq-lite-03 and later). */
const PROBE_STREAM_TYPE = new Uint8Array([0x04]);

/** Options of {@link watchLiveness}. */
export interface LivenessOptions {
  /** Ping interval (default {@link LIVENESS_PING_INTERVAL_MS}). */
  intervalMs?: number;
  /** Silence after which the peer is dead (default {@link LIVENESS_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Silence after which the peer is dead regardless (default {@link LIVENESS_HARD_TIMEOUT_MS}). */
  hardTimeoutMs?: number;
  /**
   * Asked when the peer is suspected: resolves true when there is independent evidence the peer
   * process may still be there (e.g. its TCP listener does not refuse: a killed process's port
   * refuses at once), so a peer merely too busy to answer on time is given until the hard timeout. Absent = every suspicion is fatal.
   */
  stillThere?: () => Promise<boolean>;
  /** Called once when the peer is declared dead (the caller closes the link). */
  onDead(silentMs: number): void;
  /** Stops the watch (the link ended). */
  signal: AbortSignal;
}

/** One ping: resolves true when the peer answered, false when the session is gone. */
async function ping(transport: TransportSession): Promise<boolean> {
  try {
    const stream = await transport.openBidi();
    await stream.send.write(PROBE_STREAM_TYPE);
    await stream.send.close();
    // Any answer proves the peer is there: its FIN, data, or a reset of the stream.
    // A relay keeps PROBE silent; another implementation may report bitrates: read to its FIN.
    while ((await stream.recv.read()) !== null) continue;
    return true;
  } catch (err) {
    return !(err instanceof SessionClosedError);
  }
}

/** Ping `transport` until `signal` aborts or the peer is declared dead. */
export function watchLiveness(transport: TransportSession, options: LivenessOptions): void {
  const intervalMs = options.intervalMs ?? LIVENESS_PING_INTERVAL_MS;
  const timeoutMs = options.timeoutMs ?? LIVENESS_TIMEOUT_MS;
  const hardTimeoutMs = options.hardTimeoutMs ?? LIVENESS_HARD_TIMEOUT_MS;
  const { signal } = options;
  /** Last answer (or our own stall). */
  let lastAlive = Date.now();
  /** Last answer, or the last time {@link LivenessOptions.stillThere} vouched for the peer. */
  let vouched = lastAlive;
  let lastTick = lastAlive;
  let outstanding = false;
  let checking = false;
  let dead = false;
  const die = (now: number) => {
    if (dead || signal.aborted) return;
    dead = true;
    stop();
    options.onDead(now - lastAlive);
  };
  const stop = () => clearInterval(timer);
  const timer = setInterval(() => {
    const now = Date.now();
    // Our own loop stalled: the peer had no chance to be heard.
    if (now - lastTick > intervalMs + timeoutMs / 2) lastAlive = vouched = now;
    lastTick = now;
    if (now - lastAlive > hardTimeoutMs) return die(now);
    if (now - vouched > timeoutMs && !checking) {
      if (!options.stillThere) return die(now);
      checking = true;
      options.stillThere().then((there) => {
        checking = false;
        if (there) vouched = Date.now();
        else die(Date.now());
      }, () => die(Date.now()));
    }
    if (outstanding) return;
    outstanding = true;
    ping(transport).then((alive) => {
      outstanding = false;
      if (alive) lastAlive = vouched = Date.now();
      else stop();
    });
  }, intervalMs);
  signal.addEventListener("abort", stop, { once: true });
}
