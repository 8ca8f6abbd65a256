/**
 * Test support: an in-memory pair of {@link TransportSession}s connected back to back, honouring
 * the transport contract (`transport/types.ts`): FIN, RESET_STREAM with a code, STOP_SENDING with
 * a code, session close, and backpressure (a write resolves once the reader has taken the bytes
 * down to `windowBytes`). Unit tests of the session layer run real sessions over it.
 *
 * @module
 */

import {
  type BidiStream,
  type CloseInfo,
  type NegotiatedProtocol,
  type RecvStream,
  type SendStream,
  SessionClosedError,
  StreamResetError,
  type TransportKind,
  type TransportSession,
} from "../transport/mod.ts";

/** Options of {@link memoryTransportPair}. */
export interface MemoryPairOptions {
  /** What the "transport" negotiated (default `moq-lite-04`). */
  protocol?: NegotiatedProtocol;
  /** The server side's URL (default `https://relay.test/`). */
  url?: string;
  /** Unread bytes a stream holds before `write()` waits (default 1 MiB). */
  windowBytes?: number;
  /** The transport both ends report (default `websocket`). */
  kind?: TransportKind;
}

class Pipe {
  readonly chunks: Uint8Array[] = [];
  unread = 0;
  fin = false;
  resetCode: number | null = null;
  stopCode: number | null = null;
  closed = false;
  readonly window: number;
  #readWaiters: (() => void)[] = [];
  #writeWaiters: (() => void)[] = [];
  readonly stopped: Promise<number>;
  resolveStopped!: (code: number) => void;

  constructor(window: number) {
    this.window = window;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  wakeReaders(): void {
    for (const w of this.#readWaiters.splice(0)) w();
  }

  wakeWriters(): void {
    for (const w of this.#writeWaiters.splice(0)) w();
  }

  waitReadable(): Promise<void> {
    return new Promise((resolve) => this.#readWaiters.push(resolve));
  }

  waitWritable(): Promise<void> {
    return new Promise((resolve) => this.#writeWaiters.push(resolve));
  }

  /** The session ended: wake everyone. */
  kill(): void {
    this.closed = true;
    this.resolveStopped(-1);
    this.wakeReaders();
    this.wakeWriters();
  }
}

class MemSend implements SendStream {
  readonly #pipe: Pipe;
  #done = false;

  constructor(pipe: Pipe) {
    this.#pipe = pipe;
  }

  get stopped(): Promise<number> {
    return this.#pipe.stopped;
  }

  get bufferedBytes(): number {
    return this.#pipe.unread;
  }

  async write(data: Uint8Array): Promise<void> {
    const p = this.#pipe;
    if (p.closed) throw new SessionClosedError();
    if (p.stopCode !== null) throw new StreamResetError(p.stopCode, `stream stopped with code ${p.stopCode}`);
    if (this.#done) throw new Error("write after FIN or reset");
    if (data.length === 0) return;
    p.chunks.push(data);
    p.unread += data.length;
    p.wakeReaders();
    while (p.unread > p.window && !p.closed && p.stopCode === null) await p.waitWritable();
  }

  close(): Promise<void> {
    if (!this.#done && !this.#pipe.closed) {
      this.#done = true;
      this.#pipe.fin = true;
      this.#pipe.wakeReaders();
      this.#pipe.resolveStopped(-1);
    }
    return Promise.resolve();
  }

  reset(code: number): void {
    if (this.#done || this.#pipe.closed) return;
    this.#done = true;
    this.#pipe.resetCode = code;
    this.#pipe.chunks.length = 0;
    this.#pipe.unread = 0;
    this.#pipe.wakeReaders();
    this.#pipe.wakeWriters();
    this.#pipe.resolveStopped(-1);
  }
}

class MemRecv implements RecvStream {
  readonly #pipe: Pipe;

  constructor(pipe: Pipe) {
    this.#pipe = pipe;
  }

  async read(): Promise<Uint8Array | null> {
    const p = this.#pipe;
    for (;;) {
      if (p.resetCode !== null) throw new StreamResetError(p.resetCode);
      const chunk = p.chunks.shift();
      if (chunk) {
        p.unread -= chunk.length;
        p.wakeWriters();
        return chunk;
      }
      if (p.fin || p.stopCode !== null) return null;
      if (p.closed) throw new SessionClosedError();
      await p.waitReadable();
    }
  }

  stop(code: number): void {
    const p = this.#pipe;
    if (p.stopCode !== null || p.fin || p.resetCode !== null) return;
    p.stopCode = code;
    p.chunks.length = 0;
    p.unread = 0;
    p.resolveStopped(code);
    p.wakeWriters();
    p.wakeReaders();
  }
}

class Queue<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((v: T | null) => void)[] = [];
  #closed = false;

  push(item: T): void {
    const w = this.#waiters.shift();
    if (w) w(item);
    else this.#items.push(item);
  }

  next(): Promise<T | null> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(null);
  }
}

/** One end of an in-memory session. */
export class MemoryTransport implements TransportSession {
  kind: TransportKind = "websocket";
  readonly protocol: NegotiatedProtocol;
  readonly url: URL;
  readonly peer: string;
  readonly closed: Promise<CloseInfo>;
  other!: MemoryTransport;
  readonly #window: number;
  readonly #bidi = new Queue<BidiStream>();
  readonly #uni = new Queue<RecvStream>();
  readonly #pipes = new Set<Pipe>();
  #resolveClosed!: (info: CloseInfo) => void;
  #isClosed = false;
  /** Streams this end opened, for tests that inspect them. */
  opened = 0;

  constructor(protocol: NegotiatedProtocol, url: URL, peer: string, window: number) {
    this.protocol = protocol;
    this.url = url;
    this.peer = peer;
    this.#window = window;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  #pipe(): Pipe {
    const p = new Pipe(this.#window);
    this.#pipes.add(p);
    this.other.#pipes.add(p);
    return p;
  }

  openBidi(): Promise<BidiStream> {
    if (this.#isClosed) return Promise.reject(new SessionClosedError());
    const out = this.#pipe();
    const back = this.#pipe();
    this.opened++;
    this.other.#bidi.push({ send: new MemSend(back), recv: new MemRecv(out) });
    return Promise.resolve({ send: new MemSend(out), recv: new MemRecv(back) });
  }

  openUni(): Promise<SendStream> {
    if (this.#isClosed) return Promise.reject(new SessionClosedError());
    const p = this.#pipe();
    this.opened++;
    this.other.#uni.push(new MemRecv(p));
    return Promise.resolve(new MemSend(p));
  }

  acceptBidi(): Promise<BidiStream | null> {
    return this.#bidi.next();
  }

  acceptUni(): Promise<RecvStream | null> {
    return this.#uni.next();
  }

  #end(info: CloseInfo): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#bidi.close();
    this.#uni.close();
    for (const p of this.#pipes) p.kill();
    this.#resolveClosed(info);
  }

  close(code: number, reason: string): void {
    if (this.#isClosed) return;
    this.#end({ code, reason, remote: false, abrupt: false });
    this.other.#end({ code, reason, remote: true, abrupt: false });
  }

  /** Simulate losing the connection (both ends see an abrupt close). */
  drop(): void {
    this.#end({ code: 1, reason: "lost", remote: true, abrupt: true });
    this.other.#end({ code: 1, reason: "lost", remote: true, abrupt: true });
  }
}

/** A connected pair: `[client, server]`. */
export function memoryTransportPair(options: MemoryPairOptions = {}): [MemoryTransport, MemoryTransport] {
  const protocol = options.protocol ?? "moq-lite-04";
  const url = new URL(options.url ?? "https://relay.test/");
  const window = options.windowBytes ?? 1024 * 1024;
  const client = new MemoryTransport(protocol, url, "relay.test:443", window);
  const server = new MemoryTransport(protocol, url, "127.0.0.1:50000", window);
  if (options.kind) client.kind = server.kind = options.kind;
  client.other = server;
  server.other = client;
  return [client, server];
}

/** Accept the next bidi stream of `session` and echo every byte back, then FIN. */
export async function echoBidi(session: TransportSession): Promise<void> {
  const bidi = await session.acceptBidi();
  if (!bidi) throw new Error("the session ended before the peer opened a bidi stream to echo");
  for (;;) {
    const chunk = await bidi.recv.read();
    if (chunk === null) break;
    await bidi.send.write(chunk);
  }
  await bidi.send.close();
}
