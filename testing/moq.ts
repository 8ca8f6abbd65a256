/**
 * Helpers around the real `@moq/lite` 0.2.2 client for end-to-end tests.
 *
 * @module
 */

import { loadMoq, type Moq } from "./harness.ts";
import { within } from "./timing.ts";

type Connection = Awaited<ReturnType<Moq["Connection"]["connect"]>>;
type Broadcast = InstanceType<Moq["Broadcast"]>;
type Track = InstanceType<Moq["Track"]>;

/**
 * `@moq/lite` 0.2.2 surfaces a relay's reset of one group stream (code 2 `old`, sent to a
 * subscriber that fell behind) and ordinary connection ends as unhandled rejections inside the
 * library. Browsers only log those; the Deno test runner would fail the file. They are protocol
 * events, not test failures: swallow exactly those. `@moq/qmux` 0.0.6 also rejects (unhandled) when
 * the relay opens a stream on a connection the test just closed ("The stream controller cannot close
 * or enqueue"): a client-library race, not a relay fault.
 */
function tolerateClientStreamErrors(): void {
  globalThis.addEventListener("unhandledrejection", (e) => {
    const message = e.reason instanceof Error ? e.reason.message : String(e.reason);
    if (
      /RESET_STREAM|STOP_SENDING|WebSocket|closed|stream controller cannot close or enqueue/i.test(message)
    ) {
      e.preventDefault();
    }
  });
}

/** `@moq/lite` chats on the console (debug/info/warn); keep test output readable unless asked. */
function quietClientConsole(): void {
  tolerateClientStreamErrors();
  if (Deno.env.get("MOQ_CLIENT_LOG")) return;
  const noop = () => {};
  console.debug = noop;
  console.log = noop;
  console.info = noop;
  console.warn = noop;
  const error = console.error;
  // "fatal error running connection undefined" on every ordinary close (docs/protocol.md §16 item 17).
  console.error = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith("fatal error running connection")) return;
    error(...args);
  };
}

/** Connect a `@moq/lite` client (over WebSocket) to `http://127.0.0.1:<port>/<path>`. */
export async function connect(port: number, path = "", query = ""): Promise<Connection> {
  quietClientConsole();
  const Moq = await loadMoq();
  const url = new URL(`http://127.0.0.1:${port}/${path}${query}`);
  return await within(10_000, `connect to ${url}`, Moq.Connection.connect(url));
}

/** A publisher that records every track the relay requests. */
export class Publisher {
  readonly broadcast: Broadcast;
  readonly requests: { track: Track; priority: number }[] = [];
  #waiters: (() => void)[] = [];

  constructor(Moq: Moq, connection: Connection, path: string) {
    const broadcast = new Moq.Broadcast();
    this.broadcast = broadcast;
    connection.publish(Moq.Path.from(path), broadcast);
    (async () => {
      for (;;) {
        const req = await broadcast.requested();
        if (!req) return;
        this.requests.push(req);
        for (const w of this.#waiters.splice(0)) w();
      }
    })();
  }

  /** Wait for the n-th (1-based) track request. */
  async request(n = 1, timeoutMs = 10_000): Promise<Track> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() > deadline) {
        throw new Error(`publisher saw ${this.requests.length} track requests, wanted ${n}`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.requests[n - 1].track;
  }
}

/** Start publishing `path` on `connection`. */
export async function publish(connection: Connection, path: string): Promise<Publisher> {
  return new Publisher(await loadMoq(), connection, path);
}

/** Subscribe to `track` of `path`. */
export async function subscribe(
  connection: Connection,
  path: string,
  track: string,
  priority = 0,
): Promise<Track> {
  const Moq = await loadMoq();
  return connection.consume(Moq.Path.from(path)).subscribe(track, priority);
}

/** Write one group of frames. */
export function writeGroup(track: Track, frames: Uint8Array[]): number {
  const group = track.appendGroup();
  for (const f of frames) group.writeFrame(f);
  group.close();
  return group.sequence;
}

/** Read the next group (arrival order) and all of its frames. */
export async function readGroup(
  track: Track,
  timeoutMs = 10_000,
): Promise<{ sequence: number; frames: Uint8Array[] } | undefined> {
  return await within(
    timeoutMs,
    "read a group",
    (async () => {
      const group = await track.recvGroup();
      if (!group) return undefined;
      const frames: Uint8Array[] = [];
      for (;;) {
        const f = await group.readFrame();
        if (!f) break;
        frames.push(f);
      }
      return { sequence: group.sequence, frames };
    })(),
  );
}

/** Deterministic test payload. */
export function payload(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Collect announcements under `prefix` into a live list of `+path` / `-path` strings. */
export async function watchAnnounced(connection: Connection, prefix = ""): Promise<string[]> {
  const Moq = await loadMoq();
  const announced = connection.announced(Moq.Path.from(prefix));
  const events: string[] = [];
  (async () => {
    for (;;) {
      const e = await announced.next();
      if (!e) return;
      events.push(`${e.active ? "+" : "-"}${e.path}`);
    }
  })().catch(() => {});
  return events;
}
