/**
 * One moq-transport request as a message channel, whatever carries it: from draft-17 (and for
 * draft-16 SUBSCRIBE_NAMESPACE) each request has a bidi stream of its own; in drafts 14–16 every
 * other request shares the control stream and is told apart by its Request ID, so the
 * {@link ControlMux} turns those messages into the same channel shape (a virtual stream).
 *
 * @module
 */

import { DecodeError } from "../../codec/mod.ts";
import type { BidiStream, StreamReader } from "../../transport/mod.ts";
import { StreamResetError } from "../../transport/mod.ts";
import { type ControlMessage, encodeControl } from "./control.ts";
import type { Draft } from "./draft.ts";
import { readControl } from "./_io.ts";

/** Most follow-up messages a control-stream request may have queued before it is a violation. */
export const MAX_QUEUED_REQUEST_MESSAGES = 64;

/** A request's message channel. */
export interface Request {
  /** The request id (the peer's for requests it sent, ours for ours). */
  readonly id: number;
  /** The next message from the peer on this request, or null once the peer ended it. */
  next(): Promise<ControlMessage | null>;
  /** Send a message on this request. */
  send(msg: ControlMessage): Promise<void>;
  /** End our side of the request (FIN of its stream; a control-stream request is forgotten). */
  finish(): Promise<void>;
  /** Abort the request (reset its stream; a control-stream request is forgotten). */
  abort(code: number): void;
}

/** A request on a bidi stream of its own. */
export class StreamRequest implements Request {
  readonly id: number;
  readonly #stream: BidiStream;
  readonly #reader: StreamReader;
  readonly #draft: Draft;
  #first: ControlMessage | null;

  /** Wrap `stream`; `first`, when given, is returned by the first {@link next}. */
  constructor(id: number, stream: BidiStream, reader: StreamReader, draft: Draft, first?: ControlMessage) {
    this.id = id;
    this.#stream = stream;
    this.#reader = reader;
    this.#draft = draft;
    this.#first = first ?? null;
  }

  async next(): Promise<ControlMessage | null> {
    if (this.#first) {
      const m = this.#first;
      this.#first = null;
      return m;
    }
    try {
      return await readControl(this.#reader, this.#draft);
    } catch (err) {
      if (err instanceof StreamResetError) return null;
      if (err instanceof Error && err.name === "SessionClosedError") return null;
      throw err;
    }
  }

  async send(msg: ControlMessage): Promise<void> {
    await this.#stream.send.write(encodeControl(msg, this.#draft));
  }

  async finish(): Promise<void> {
    await this.#stream.send.close();
  }

  abort(code: number): void {
    this.#stream.send.reset(code);
    this.#stream.recv.stop(code);
  }
}

/** A request multiplexed on the drafts 14–16 control stream. */
class VirtualRequest implements Request {
  readonly id: number;
  readonly #mux: ControlMux;
  readonly #queue: ControlMessage[] = [];
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(id: number, mux: ControlMux) {
    this.id = id;
    this.#mux = mux;
  }

  push(msg: ControlMessage): void {
    if (this.#ended) return;
    if (this.#queue.length >= MAX_QUEUED_REQUEST_MESSAGES) {
      throw new DecodeError(`request ${this.id} has ${MAX_QUEUED_REQUEST_MESSAGES} unread messages queued`);
    }
    this.#queue.push(msg);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async next(): Promise<ControlMessage | null> {
    for (;;) {
      const m = this.#queue.shift();
      if (m) return m;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  send(msg: ControlMessage): Promise<void> {
    return this.#mux.write(msg);
  }

  finish(): Promise<void> {
    this.#mux.forget(this);
    return Promise.resolve();
  }

  abort(_code: number): void {
    this.#mux.forget(this);
  }
}

/** The control stream of drafts 14–16, serialised writes and per-request routing. */
export class ControlMux {
  readonly #stream: BidiStream;
  readonly #draft: Draft;
  /** Requests the peer sent, by id. */
  readonly incoming = new Map<number, VirtualRequest>();
  /** Requests we sent, by id. */
  readonly outgoing = new Map<number, VirtualRequest>();
  #tail: Promise<void> = Promise.resolve();

  constructor(stream: BidiStream, draft: Draft) {
    this.#stream = stream;
    this.#draft = draft;
  }

  /** Write one message on the control stream, after every earlier one. */
  write(msg: ControlMessage): Promise<void> {
    const bytes = encodeControl(msg, this.#draft);
    const p = this.#tail.then(() => this.#stream.send.write(bytes));
    this.#tail = p.catch(() => {});
    return p;
  }

  /** Register a request the peer opened. */
  openIncoming(id: number): Request {
    const r = new VirtualRequest(id, this);
    this.incoming.set(id, r);
    return r;
  }

  /** Register a request we open (the caller sends its first message). */
  openOutgoing(id: number): Request {
    const r = new VirtualRequest(id, this);
    this.outgoing.set(id, r);
    return r;
  }

  /** Route a follow-up message to a request; false when no such request is open. */
  deliver(map: "incoming" | "outgoing", id: number, msg: ControlMessage | null): boolean {
    const r = this[map].get(id);
    if (!r) return false;
    if (msg === null) {
      r.end();
      this[map].delete(id);
    } else r.push(msg);
    return true;
  }

  /** Stop routing to `r` (its handler is done) and end its queue. */
  forget(r: Request): void {
    if (this.incoming.get(r.id) === r) this.incoming.delete(r.id);
    if (this.outgoing.get(r.id) === r) this.outgoing.delete(r.id);
    (r as VirtualRequest).end();
  }

  /** End every request (the session is over). */
  close(): void {
    for (const r of this.incoming.values()) r.end();
    for (const r of this.outgoing.values()) r.end();
    this.incoming.clear();
    this.outgoing.clear();
  }
}
