/**
 * A death sensor for a cluster peer that costs nothing while the peer lives: one idle TCP
 * connection to the peer's TCP listener (its HTTP / WebSocket listener, which relays serve on the
 * port of their node URL). When the peer process dies, however abruptly (kill -9, a crash, an
 * out-of-memory kill), its kernel closes the connection at once; the sensor then connects again:
 * refused means the listener is gone and the peer is dead, so the link is closed within
 * milliseconds instead of after missed pings. A connection the peer's HTTP server closed on its own
 * (an idle request timeout, every 10 s with Deno's server) is simply replaced.
 *
 * The sensor only ever arms on a listener that accepted a first connection, and disarms itself
 * when the peer keeps closing it at once (not a relay listener): pings and the QUIC idle timeout
 * still cover a peer whose host vanished without closing anything.
 *
 * @module
 */

import { sleep } from "../util/mod.ts";
import { LISTENER_CHECK_TIMEOUT_MS } from "./_reach.ts";

/** A sensor connection closed sooner than this counts as a quick close. */
const QUICK_CLOSE_MS = 1_000;
/** After this many quick closes in a row the sensor disarms (the port is not a relay listener). */
const MAX_QUICK_CLOSES = 3;

/** Where a sensor connects. */
export interface SensorTarget {
  hostname: string;
  port: number;
}

/** Options of {@link watchListener}. */
export interface SensorOptions {
  /** Stops the sensor (the link ended). */
  signal: AbortSignal;
  /** Called once when the peer's listener refuses a new connection after the sensor's closed. */
  onDead(): void;
}

/** A connection, or why none: `refused` covers every quick failure (refused, reset, unreachable). */
type Connected = { conn: Deno.Conn } | { refused: boolean };

async function connectTo(target: SensorTarget, signal: AbortSignal): Promise<Connected> {
  const timer = AbortSignal.timeout(LISTENER_CHECK_TIMEOUT_MS);
  const timeout = AbortSignal.any([signal, timer]);
  try {
    const conn = await Deno.connect({
      hostname: target.hostname.replace(/^\[|\]$/g, ""),
      port: target.port,
      signal: timeout,
    } as Deno.ConnectOptions);
    return { conn };
  } catch {
    // Like listenerNotRefused: only a timeout is no evidence (a loaded host, or our own stall).
    return { refused: !timer.aborted && !signal.aborted };
  }
}

/** Wait until the peer closes `conn` (EOF or reset) or `signal` aborts. */
async function untilClosed(conn: Deno.Conn, signal: AbortSignal): Promise<void> {
  const onAbort = () => conn.close();
  signal.addEventListener("abort", onAbort, { once: true });
  const buf = new Uint8Array(64);
  try {
    // An HTTP server sends nothing to a silent client; anything it does send is ignored.
    while ((await conn.read(buf)) !== null) continue;
  } catch {
    // reset, or closed by the abort: either way the connection is over
  } finally {
    signal.removeEventListener("abort", onAbort);
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Arm a sensor on `target`. Resolves true once armed (the first connection succeeded), false when
 * the listener cannot be reached (no sensor: nothing is reported). Runs until `signal` aborts,
 * the peer is found dead, or the sensor disarms.
 */
export async function watchListener(target: SensorTarget, options: SensorOptions): Promise<boolean> {
  const { signal } = options;
  const first = await connectTo(target, signal);
  if (!("conn" in first)) return false;
  (async () => {
    let conn: Deno.Conn | null = first.conn;
    let quickCloses = 0;
    while (!signal.aborted) {
      if (conn !== null) {
        const since = Date.now();
        await untilClosed(conn, signal);
        conn = null;
        if (signal.aborted) return;
        quickCloses = Date.now() - since < QUICK_CLOSE_MS ? quickCloses + 1 : 0;
      }
      const next = await connectTo(target, signal);
      if (signal.aborted) return;
      if ("conn" in next) {
        if (quickCloses >= MAX_QUICK_CLOSES) {
          next.conn.close();
          return; // disarmed: this port closes idle connections at once
        }
        conn = next.conn;
        continue;
      }
      // Refused (or reset, unreachable): the listener is gone. A timeout proves nothing: try later.
      if (next.refused) return options.onDead();
      await sleep(QUICK_CLOSE_MS, signal);
    }
  })().catch(() => {});
  return true;
}
