/**
 * Draft-14 reached through a legacy CLIENT_SETUP: when a transport negotiated no protocol (`moql`,
 * bare WebSocket framings), the first bidi stream's CLIENT_SETUP decides between moq-lite (01/02)
 * and moq-transport-14 (`0xff00000e`). {@link peekClientSetup} reads that message and hands back a
 * transport that replays it, so whichever session runs reads the stream from its first byte.
 *
 * @module
 */

import { getVarint, varintLength } from "../../codec/mod.ts";
import type { BidiStream, RecvStream, TransportSession } from "../../transport/mod.ts";
import { decodeControl } from "./control.ts";

/** The CLIENT_SETUP message type (drafts 14–16 and moq-lite 01/02). */
const CLIENT_SETUP = 0x20;
/** Most bytes read while looking for a whole CLIENT_SETUP. */
const MAX_PEEK_BYTES = 3 + 0xffff;

/** A receive half that yields `head` first, then the stream's own bytes. */
class ReplayRecv implements RecvStream {
  #head: Uint8Array | null;
  readonly #inner: RecvStream;

  constructor(head: Uint8Array, inner: RecvStream) {
    this.#head = head.length > 0 ? head : null;
    this.#inner = inner;
  }

  read(): Promise<Uint8Array | null> {
    const h = this.#head;
    if (h) {
      this.#head = null;
      return Promise.resolve(h);
    }
    return this.#inner.read();
  }

  stop(code: number): void {
    this.#head = null;
    this.#inner.stop(code);
  }
}

/** A transport whose first accepted bidi stream is `first` (its peeked bytes replayed). */
class ReplayTransport implements TransportSession {
  readonly #inner: TransportSession;
  #first: BidiStream | null;

  constructor(inner: TransportSession, first: BidiStream | null) {
    this.#inner = inner;
    this.#first = first;
  }

  get kind() {
    return this.#inner.kind;
  }
  get protocol() {
    return this.#inner.protocol;
  }
  get url() {
    return this.#inner.url;
  }
  get peer() {
    return this.#inner.peer;
  }
  get closed() {
    return this.#inner.closed;
  }
  openBidi() {
    return this.#inner.openBidi();
  }
  openUni() {
    return this.#inner.openUni();
  }
  acceptBidi() {
    const f = this.#first;
    if (f) {
      this.#first = null;
      return Promise.resolve(f);
    }
    return this.#inner.acceptBidi();
  }
  acceptUni() {
    return this.#inner.acceptUni();
  }
  close(code: number, reason: string) {
    this.#inner.close(code, reason);
  }
}

/** What {@link peekClientSetup} found. */
export interface PeekedSetup {
  /** The transport to run the session on (replays what was read). */
  transport: TransportSession;
  /** The versions the CLIENT_SETUP offered (empty when the first stream was something else). */
  versions: number[];
}

/** The close code when no CLIENT_SETUP arrived in time (moq-lite's `timeout`). */
export const SETUP_PEEK_TIMEOUT_CODE = 3;

/**
 * Read the CLIENT_SETUP on the first bidi stream `transport` accepts (at most `timeoutMs`, then the
 * session is closed: a read still pending would swallow bytes), without consuming it. Never throws:
 * anything unexpected yields no versions and a transport that replays whatever was read, so the
 * moq-lite session reports the problem as it always does.
 */
export async function peekClientSetup(transport: TransportSession, timeoutMs: number): Promise<PeekedSetup> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((
    resolve,
  ) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  const first = await Promise.race([transport.acceptBidi(), timeout]);
  if (first === null || first === "timeout") {
    clearTimeout(timer);
    transport.close(SETUP_PEEK_TIMEOUT_CODE, "no CLIENT_SETUP received");
    return { transport, versions: [] };
  }
  let size = 0;
  let versions: number[] = [];
  let buf = new Uint8Array(0);
  try {
    for (;;) {
      const whole = parseSetup(buf);
      if (whole !== undefined) {
        versions = whole;
        break;
      }
      if (size >= MAX_PEEK_BYTES) break;
      const c = await Promise.race([first.recv.read(), timeout]);
      if (c === "timeout") {
        transport.close(SETUP_PEEK_TIMEOUT_CODE, "no CLIENT_SETUP received");
        break;
      }
      if (c === null) break; // FIN: the session sees the short stream
      size += c.length;
      const joined = new Uint8Array(size);
      joined.set(buf);
      joined.set(c, buf.length);
      buf = joined;
    }
  } catch {
    // reset or session loss: the session sees the stream as it is
  }
  clearTimeout(timer);
  const replay: BidiStream = { send: first.send, recv: new ReplayRecv(buf, first.recv) };
  return { transport: new ReplayTransport(transport, replay), versions };
}

/**
 * The versions of a whole CLIENT_SETUP at the start of `buf`; `[]` when `buf` starts with anything
 * else or the message does not decode; undefined while incomplete.
 */
function parseSetup(buf: Uint8Array): number[] | undefined {
  if (buf.length === 0) return undefined;
  const tl = varintLength(buf[0]);
  if (buf.length < tl) return undefined;
  if (getVarint(buf, 0) !== CLIENT_SETUP) return [];
  if (buf.length < tl + 2) return undefined;
  const len = (buf[tl] << 8) | buf[tl + 1];
  if (buf.length < tl + 2 + len) return undefined;
  try {
    const m = decodeControl(CLIENT_SETUP, buf.subarray(tl + 2, tl + 2 + len), 14);
    return m.kind === "clientSetup" ? m.versions : [];
  } catch {
    return [];
  }
}
