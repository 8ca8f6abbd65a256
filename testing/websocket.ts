/**
 * Test helpers for the WebSocket transport: a real `Deno.serve` relay on 127.0.0.1 (port 0) that
 * accepts sessions with {@link acceptWebSocket}, and a raw frame-level WebSocket client.
 *
 * @module
 */

import { silentLogger } from "../log/mod.ts";
import { serveHttp } from "../http/mod.ts";
import { within } from "./timing.ts";
import { concat } from "./bytes.ts";
import {
  acceptWebSocket,
  type AcceptWebSocketOptions,
  decodeFrames,
  encodeFrame,
  type Frame,
  type Framing,
  interpretSelectedSubprotocol,
  type TransportParameters,
  type TransportSession,
} from "../transport/mod.ts";
import { hexBytes } from "./bytes.ts";

/**
 * The transport parameters a test QMux client sends (docs/protocol.md §11.2: 1 MiB connection
 * window, 256 KiB stream windows, 100 streams each way).
 */
export const QMUX_CLIENT_PARAMS: TransportParameters = {
  initialMaxData: 1_048_576,
  initialMaxStreamDataBidiLocal: 262_144,
  initialMaxStreamDataBidiRemote: 262_144,
  initialMaxStreamDataUni: 262_144,
  initialMaxStreamsBidi: 100,
  initialMaxStreamsUni: 100,
};

/** One of each QMux frame every framing carries (STREAM with and without FIN, close, flow control). */
export const QMUX_SAMPLE_FRAMES: readonly Frame[] = [
  { type: "stream", id: 3, data: hexBytes("aa bb cc"), fin: false },
  { type: "stream", id: 7, data: new Uint8Array(0), fin: true },
  { type: "reset_stream", id: 3, code: 13, finalSize: 123_456 },
  { type: "stop_sending", id: 4, code: 0 },
  { type: "close", code: 6, reason: "unauthorized", application: true },
  { type: "close", code: 3, reason: "flow control", application: false },
  { type: "max_data", max: 2 ** 40 },
  { type: "max_stream_data", id: 8, max: 524_288 },
  { type: "max_streams", bidi: true, max: 1000 },
  { type: "max_streams", bidi: false, max: 1001 },
  { type: "data_blocked", limit: 1_048_576 },
  { type: "stream_data_blocked", id: 2, limit: 262_144 },
  { type: "streams_blocked", bidi: true, limit: 100 },
  { type: "streams_blocked", bidi: false, limit: 100 },
];

/**
 * {@link within} with the arguments in the order the transport tests use: reject with a named error
 * if `promise` does not settle within `ms`.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return within(ms, what, promise);
}

/** A relay-side test server. */
export interface TestRelay {
  /** `ws://127.0.0.1:<port>/room?jwt=t` */
  url: string;
  port: number;
  /** The next accepted session. */
  nextSession(): Promise<TransportSession>;
  /** Every accepted session so far. */
  sessions: TransportSession[];
  /** Close every session and stop the server. */
  close(): Promise<void>;
}

/** Start a `Deno.serve` on 127.0.0.1:0 that upgrades every request with {@link acceptWebSocket}. */
export function startWebSocketServer(options: Partial<AcceptWebSocketOptions> = {}): TestRelay {
  const acceptor = new SessionAcceptor(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) => acceptor.handle(request, info.remoteAddr),
  );
  return acceptor.relay(server.addr.port, () => server.shutdown());
}

/**
 * Like {@link startWebSocketServer}, but served by the relay's HTTP gate with direct WebSockets
 * (`serveHttp` with `directWebSocket`): sessions run on the gate's own RFC 6455 socket
 * (`ConnWebSocket`), as plain-HTTP WebSocket sessions do in the relay.
 */
export async function startGateWebSocketServer(
  options: Partial<AcceptWebSocketOptions> = {},
): Promise<TestRelay> {
  const acceptor = new SessionAcceptor(options);
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: (request, info) => acceptor.handle(request, info.remoteAddr as Deno.NetAddr),
    signal: abort.signal,
    logger: silentLogger(),
    directWebSocket: true,
  });
  return acceptor.relay(listener.addr.port, async () => {
    abort.abort();
    await listener.finished;
  });
}

/** Accepts WebSocket sessions for a test server and hands them out in order. */
class SessionAcceptor {
  readonly #options: Partial<AcceptWebSocketOptions>;
  readonly #sessions: TransportSession[] = [];
  readonly #pending: TransportSession[] = [];
  readonly #waiters: Array<(session: TransportSession) => void> = [];
  readonly #sessionPromises: Promise<unknown>[] = [];

  constructor(options: Partial<AcceptWebSocketOptions>) {
    this.#options = options;
  }

  handle(request: Request, remote: Deno.NetAddr): Response {
    const result = acceptWebSocket(request, {
      logger: silentLogger(),
      peer: `${remote.hostname}:${remote.port}`,
      ...this.#options,
    });
    if ("error" in result) return result.error;
    this.#sessionPromises.push(result.session.then((session) => {
      this.#sessions.push(session);
      const waiter = this.#waiters.shift();
      if (waiter) waiter(session);
      else this.#pending.push(session);
    }, () => {}));
    return result.response;
  }

  relay(port: number, stop: () => Promise<void>): TestRelay {
    const sessions = this.#sessions;
    return {
      url: `ws://127.0.0.1:${port}/room?jwt=t`,
      port,
      sessions,
      nextSession: () => {
        const session = this.#pending.shift();
        if (session) return Promise.resolve(session);
        return withTimeout(
          new Promise((resolve) => this.#waiters.push(resolve)),
          5000,
          "a session to be accepted",
        );
      },
      close: async () => {
        await Promise.all(this.#sessionPromises);
        for (const session of sessions) session.close(0, "test over");
        await Promise.all(sessions.map((session) => session.closed));
        await stop();
      },
    };
  }
}

/** A frame-level WebSocket client that logs every frame it receives. */
export class RawClient {
  readonly ws: WebSocket;
  /** Known once the socket is open. */
  framing: Framing = "webtransport";
  /** Every frame received, in order. */
  readonly frames: Frame[] = [];
  /** Every raw message received, in order. */
  readonly messages: Uint8Array[] = [];
  /** Resolves with the WebSocket close event. */
  readonly closed: Promise<CloseEvent>;
  #waiters: Array<() => void> = [];
  decodeError: Error | null = null;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("open", () => this.framing = interpretSelectedSubprotocol(ws.protocol).framing);
    this.closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
    ws.addEventListener("message", (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      const bytes = new Uint8Array(event.data);
      this.messages.push(bytes);
      try {
        this.frames.push(...decodeFrames(bytes, this.framing));
      } catch (error) {
        this.decodeError = error as Error;
      }
      this.#wake();
    });
    ws.addEventListener("close", () => this.#wake());
  }

  /** Connect and wait for the socket to open. */
  static async connect(url: string, protocols: string[] = ["qmux-00", "webtransport"]): Promise<RawClient> {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    // Listen before the socket opens: the relay may send its first frame right away.
    const client = new RawClient(ws);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.addEventListener("open", () => resolve(), { once: true });
        ws.addEventListener("error", () => reject(new Error("websocket failed to open")), { once: true });
      }),
      5000,
      "the WebSocket to open",
    );
    return client;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Send one frame as one message. */
  send(frame: Frame): void {
    this.ws.send(encodeFrame(frame, this.framing));
  }

  /** Send raw bytes or text. */
  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Wait until a received frame matches `predicate` (searching the whole log); returns it. */
  async until(predicate: (frame: Frame) => boolean, what: string, ms = 5000): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (true) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${what}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${what}`);
      await withTimeout(new Promise<void>((resolve) => this.#waiters.push(resolve)), remaining, what).catch(
        () => {},
      );
    }
  }

  /** STREAM frames received for `id`. */
  streamFrames(id: number): Array<Extract<Frame, { type: "stream" }>> {
    return this.frames.filter((frame): frame is Extract<Frame, { type: "stream" }> =>
      frame.type === "stream" && frame.id === id
    );
  }

  /** Concatenated payload received on `id`. */
  streamData(id: number): Uint8Array {
    return concat(this.streamFrames(id).map((frame) => frame.data));
  }

  /** Wait for FIN on `id` and return the stream's bytes. */
  async readStream(id: number, ms = 5000): Promise<Uint8Array> {
    await this.until(
      (frame) => frame.type === "stream" && frame.id === id && frame.fin,
      `FIN on stream ${id}`,
      ms,
    );
    return this.streamData(id);
  }

  /** Close the socket (without an application close) and wait for it. */
  async close(): Promise<CloseEvent> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    return await this.closed;
  }
}
