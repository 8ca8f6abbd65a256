/**
 * A server-side WebSocket (RFC 6455) run directly on an accepted TCP connection, for the HTTP
 * gate that already owns the socket: the upgrade response and the framing are written here, so a
 * WebSocket byte crosses JavaScript once instead of being relayed to a loopback `Deno.serve`.
 *
 * {@link ConnWebSocket} looks like a browser `WebSocket` to the session layer (`readyState`,
 * `binaryType` `"arraybuffer"`, `bufferedAmount`, `send()`, `close()`, `open` / `message` / `close` /
 * `error` events), so `WebSocketSession` runs on it unchanged. What differs inside:
 * - received bytes land in one per-connection read buffer (small while the peer is quiet, grown
 *   while it streams); a frame is unmasked in place and copied out once, as the message's own
 *   `ArrayBuffer` (the session keeps views into it); a frame too large for the buffer is read
 *   straight into its message buffer;
 * - messages are framed straight into the pooled send chunks of a `ChunkWriter`
 *   (transport/chunk_writer.ts, shared with the TCP / UNIX record socket): what is sent in one task
 *   goes out in one `conn.write`; `bufferedAmount` counts pending plus in-flight bytes, which is the
 *   session's backpressure signal, and past {@link MAX_WS_WRITE_QUEUE_BYTES} the peer is considered gone;
 * - keep-alive as `Deno.upgradeWebSocket`'s `idleTimeout`: a Ping after half the timeout without a
 *   received frame, close 1001 after the rest without one.
 *
 * Protocol errors fail the connection with the RFC 6455 §7.4.1 code (1002 unmasked or malformed
 * frame, 1007 invalid UTF-8 text, 1009 message over {@link MAX_WS_MESSAGE_BYTES}).
 *
 * @module
 */

import { yieldToEventLoop } from "../../util/mod.ts";
import { ChunkWriter, MAX_IN_PLACE_BYTES } from "../chunk_writer.ts";
import { DEFAULT_MAX_UNREAD_BYTES } from "./_limits.ts";

/** Largest message we accept: a bigger one could never fit the session's unread-bytes budget. */
export const MAX_WS_MESSAGE_BYTES = DEFAULT_MAX_UNREAD_BYTES;
/** Pending plus in-flight bytes past which the peer is treated as gone (it stopped reading). */
export const MAX_WS_WRITE_QUEUE_BYTES = 16 * 1024 * 1024;
/** After we sent Close, how long the peer gets to answer before the TCP connection is closed. */
export const CLOSE_TIMEOUT_MS = 2_000;
/**
 * Read buffer of a quiet connection: what an idle session holds in its pending read. It grows
 * fourfold per read that fills it (512 B → 2 KiB → 8 KiB → 32 KiB → 64 KiB) and drops back here once
 * it is empty and a read brought less than this.
 */
export const READ_BUFFER_MIN_BYTES = 512;
/** Read buffer of a connection that keeps filling it. */
export const READ_BUFFER_MAX_BYTES = 64 * 1024;
/**
 * Longest the read loop runs before it yields to the event loop (a macrotask). A read of bytes
 * already waiting completes without one (as a microtask), so a peer that keeps the socket full
 * would otherwise starve timers and every other connection (measured: `/health` answered in
 * 2–3 s instead of under 1 s while a publisher flooded tiny frames). The budget is time, not reads
 * or bytes: a yield costs 1–4 ms of timer granularity, and yielding after every read or every
 * 4 KiB capped one publisher's ingest at a few hundred messages a second.
 */
const YIELD_AFTER_MS = 4;
/** A read that took longer than this waited for the peer: other tasks ran meanwhile. */
const READ_WAITED_MS = 0.25;

/** Largest message {@link ConnWebSocket.beginBinary} frames in place (a quarter of a send chunk). */
export const MAX_DIRECT_MESSAGE_BYTES = MAX_IN_PLACE_BYTES;
/** RFC 6455 §4.2.2: appended to the client key before hashing. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** RFC 6455 §7.4.1 status codes used here. */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_NO_STATUS = 1005;
const CLOSE_ABNORMAL = 1006;
const CLOSE_INVALID_DATA = 1007;
const CLOSE_TOO_BIG = 1009;

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2 item 5.4). */
export async function websocketAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key.trim() + ACCEPT_GUID));
  let binary = "";
  for (const b of new Uint8Array(digest)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** A close code a peer may put on the wire (RFC 6455 §7.4.1–7.4.2). */
function validWireCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** Whether this machine stores a `Uint32Array` element little-endian (word-wise unmasking). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Payloads from this size on are unmasked four bytes at a time. */
const WORD_UNMASK_MIN_BYTES = 64;

/** XOR `b[start..end)` with the 4-byte `mask`, in place (RFC 6455 §5.3). */
function unmask(b: Uint8Array, start: number, end: number, mask: Uint8Array): void {
  const m0 = mask[0], m1 = mask[1], m2 = mask[2], m3 = mask[3];
  let i = start;
  if (LITTLE_ENDIAN && end - start >= WORD_UNMASK_MIN_BYTES) {
    // Bytewise up to a 4-byte aligned address, then whole words with the mask rotated to match.
    for (; ((b.byteOffset + i) & 3) !== 0; i++) b[i] ^= mask[(i - start) & 3];
    const k = (i - start) & 3;
    const word =
      (mask[k] | (mask[(k + 1) & 3] << 8) | (mask[(k + 2) & 3] << 16) | (mask[(k + 3) & 3] << 24)) >>> 0;
    const words = (end - i) >>> 2;
    const view = new Uint32Array(b.buffer, b.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i += words * 4;
    for (; i < end; i++) b[i] ^= mask[(i - start) & 3];
    return;
  }
  const whole = end - ((end - start) & 3);
  for (; i < whole; i += 4) {
    b[i] ^= m0;
    b[i + 1] ^= m1;
    b[i + 2] ^= m2;
    b[i + 3] ^= m3;
  }
  if (i < end) b[i++] ^= m0;
  if (i < end) b[i++] ^= m1;
  if (i < end) b[i] ^= m2;
}

/** Options of {@link ConnWebSocket}. */
export interface ConnWebSocketOptions {
  /** The chosen subprotocol, answered in `Sec-WebSocket-Protocol` ("" = none). */
  protocol: string;
  /** Silence before the socket is closed (a Ping goes out after half); 0 disables. */
  idleTimeoutMs: number;
  /** Largest message accepted (default {@link MAX_WS_MESSAGE_BYTES}); larger ones close with 1009. */
  maxMessageBytes?: number;
  /** Queued bytes past which the connection is dropped (default {@link MAX_WS_WRITE_QUEUE_BYTES}). */
  maxWriteQueueBytes?: number;
}

/** A frame being read straight into its own buffer (too large for the read buffer). */
interface LargeFrame {
  opcode: number;
  fin: boolean;
  data: Uint8Array;
  filled: number;
  mask: Uint8Array;
}

/**
 * The server end of a WebSocket on a TCP connection whose upgrade request was already read.
 * Created in `CONNECTING` state; {@link ConnWebSocket.run} writes the 101 response and runs the
 * connection until it closes.
 */
export class ConnWebSocket extends EventTarget {
  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3), as `WebSocket.readyState`. */
  readyState = CONNECTING;
  /** The negotiated subprotocol ("" = none). */
  readonly protocol: string;
  /** No extensions are ever negotiated. */
  readonly extensions = "";
  readonly #conn: Deno.Conn;
  readonly #idleTimeoutMs: number;
  readonly #maxMessageBytes: number;
  readonly #maxQueueBytes: number;

  // Send side: frames go straight into the writer's pooled chunks (transport/chunk_writer.ts).
  readonly #writer: ChunkWriter;
  #closeSent = false;

  // Receive side.
  #buf = new Uint8Array(READ_BUFFER_MIN_BYTES);
  #start = 0;
  #end = 0;
  /** When the read loop last let other tasks run (`performance.now()`). */
  #lastYieldMs = 0;
  /** The last read filled the buffer: grow it before the next one. */
  #grow = false;
  /** Bytes the last read brought (a small one lets an empty, grown buffer go). */
  #lastReadBytes = 0;
  #large: LargeFrame | null = null;
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  /** Opcode of the fragmented message being received, -1 = none. */
  #fragmentOpcode = -1;
  readonly #mask = new Uint8Array(4);

  // Lifetime.
  #received = 0;
  #receivedSeen = 0;
  #pinged = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #ended = Promise.withResolvers<void>();

  constructor(conn: Deno.Conn, options: ConnWebSocketOptions) {
    super();
    this.#conn = conn;
    this.protocol = options.protocol;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#maxMessageBytes = options.maxMessageBytes ?? MAX_WS_MESSAGE_BYTES;
    this.#maxQueueBytes = options.maxWriteQueueBytes ?? MAX_WS_WRITE_QUEUE_BYTES;
    this.#writer = new ChunkWriter(conn, {
      maxQueueBytes: this.#maxQueueBytes,
      onFailed: (reason) => this.#abort(reason),
    });
  }

  /** Always `"arraybuffer"`: binary messages arrive as `ArrayBuffer`s. */
  get binaryType(): BinaryType {
    return "arraybuffer";
  }

  set binaryType(value: BinaryType) {
    if (value !== "arraybuffer") throw new TypeError("ConnWebSocket only delivers ArrayBuffer messages");
  }

  /** Size of the receive buffer (what a pending read holds; diagnostics and tests). */
  get readBufferBytes(): number {
    return this.#buf.length;
  }

  /** Bytes handed to {@link send} and not yet written to the TCP connection. */
  get bufferedAmount(): number {
    return this.#writer.bufferedBytes;
  }

  /**
   * Answer the upgrade (`key`: the client's `Sec-WebSocket-Key`), open, and run until the
   * connection is closed. `initial`: bytes the client sent after its request head. Never throws.
   */
  async run(key: string, initial: Uint8Array): Promise<void> {
    let head = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
      `sec-websocket-accept: ${await websocketAccept(key)}\r\n`;
    if (this.protocol) head += `sec-websocket-protocol: ${this.protocol}\r\n`;
    try {
      await this.#writeAll(encoder.encode(head + "\r\n"));
    } catch {
      this.#finish(CLOSE_ABNORMAL, "", false);
      return;
    }
    if (this.readyState !== CONNECTING) return;
    if (initial.length > this.#buf.length) this.#buf = new Uint8Array(initial.length);
    this.#buf.set(initial);
    this.#end = initial.length;
    this.readyState = OPEN;
    this.dispatchEvent(new Event("open"));
    this.#armIdle();
    // Returned, not awaited: this function's frame (the key, the response head, the initial bytes)
    // is let go while the connection runs.
    return this.#readLoop().then(() => this.#ended.promise);
  }

  /** Resolves once the TCP connection is closed and the `close` event was dispatched. */
  get ended(): Promise<void> {
    return this.#ended.promise;
  }

  /**
   * Queue one message (binary for bytes, text for a string). Throws `InvalidStateError` while
   * connecting; ignored once closing, as `WebSocket.send`.
   */
  send(data: Uint8Array | ArrayBuffer | string): void {
    if (this.readyState === CONNECTING) {
      throw new DOMException("the WebSocket is not open yet", "InvalidStateError");
    }
    if (this.readyState !== OPEN) return;
    if (typeof data === "string") this.#queueFrame(OP_TEXT, encoder.encode(data));
    else this.#queueFrame(OP_BINARY, data instanceof Uint8Array ? data : new Uint8Array(data));
  }

  /**
   * Start one binary message of exactly `length` bytes that the caller writes itself, straight
   * into {@link sendBuffer} from the returned offset, before it does anything else with this
   * socket (in the same synchronous run): the message is framed without copying its payload.
   * Returns -1 when nothing may be sent (not open, or the queue cap was hit and the connection is
   * being dropped). `length` is at most {@link MAX_DIRECT_MESSAGE_BYTES}.
   */
  beginBinary(length: number): number {
    if (this.readyState === CONNECTING) {
      throw new DOMException("the WebSocket is not open yet", "InvalidStateError");
    }
    if (length > MAX_DIRECT_MESSAGE_BYTES) {
      throw new RangeError(`a direct message holds at most ${MAX_DIRECT_MESSAGE_BYTES} bytes, not ${length}`);
    }
    if (this.readyState !== OPEN) return -1;
    const headerBytes = length < 126 ? 2 : 4;
    const at = this.#writer.begin(headerBytes + length, headerBytes + length);
    if (at < 0) return -1; // over the queue cap: the writer failed and the connection is dropped
    const out = this.#writer.buffer;
    out[at] = 0x80 | OP_BINARY;
    if (headerBytes === 2) {
      out[at + 1] = length;
    } else {
      out[at + 1] = 126;
      out[at + 2] = length >>> 8;
      out[at + 3] = length & 0xff;
    }
    return at + headerBytes;
  }

  /** The buffer the message begun by {@link beginBinary} is written into. */
  get sendBuffer(): Uint8Array {
    return this.#writer.buffer;
  }

  /**
   * Call `callback` once, when a write completes and at most `thresholdBytes` are left to write
   * (the send pump's drain signal, instead of polling `bufferedAmount`); `null` forgets it. Only
   * one callback is kept. Nothing is called once the connection is closed.
   */
  notifyBelow(thresholdBytes: number, callback: (() => void) | null): void {
    this.#writer.notifyBelow(thresholdBytes, callback);
  }

  /** Start the closing handshake (code 1000 or 3000–4999, as `WebSocket.close`). */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== CLOSE_NORMAL && (code < 3000 || code > 4999)) {
      throw new DOMException(`close code ${code} is not 1000 or 3000-4999`, "InvalidAccessError");
    }
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING) {
      this.#finish(CLOSE_ABNORMAL, "", false);
      return;
    }
    this.readyState = CLOSING;
    this.#sendClose(code ?? CLOSE_NO_STATUS, reason ?? "");
    this.#closeTimer = setTimeout(() => this.#finish(CLOSE_ABNORMAL, "", false), CLOSE_TIMEOUT_MS);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /** Frame one message into the send chunks (its payload copied once). */
  #queueFrame(opcode: number, payload: Uint8Array): void {
    const length = payload.length;
    const headerBytes = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const at = this.#writer.begin(headerBytes, headerBytes + length);
    if (at < 0) return;
    const out = this.#writer.buffer;
    let pos = at;
    out[pos++] = 0x80 | opcode;
    if (headerBytes === 2) {
      out[pos++] = length;
    } else if (headerBytes === 4) {
      out[pos++] = 126;
      out[pos++] = length >>> 8;
      out[pos++] = length & 0xff;
    } else {
      out[pos++] = 127;
      const high = Math.floor(length / 0x1_0000_0000);
      out[pos++] = 0;
      out[pos++] = 0;
      out[pos++] = (high >>> 8) & 0xff;
      out[pos++] = high & 0xff;
      out[pos++] = length >>> 24;
      out[pos++] = (length >>> 16) & 0xff;
      out[pos++] = (length >>> 8) & 0xff;
      out[pos++] = length & 0xff;
    }
    this.#writer.append(payload);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    if (code === CLOSE_NO_STATUS) {
      this.#queueFrame(OP_CLOSE, new Uint8Array(0));
      return;
    }
    const text = encoder.encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + text.length);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    payload.set(text, 2);
    this.#queueFrame(OP_CLOSE, payload);
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  async #readLoop(): Promise<void> {
    this.#lastYieldMs = performance.now();
    for (;;) {
      if (!this.#parse()) return;
      if (performance.now() - this.#lastYieldMs >= YIELD_AFTER_MS) {
        await yieldToEventLoop();
        if (this.readyState === CLOSED) return;
        this.#lastYieldMs = performance.now();
        if (this.#large === null && this.#start < this.#end) continue; // frames may be left in the buffer
      }
      let target: Uint8Array;
      const large = this.#large;
      if (large) {
        target = large.data.subarray(large.filled);
      } else {
        if (this.#start === this.#end) {
          this.#start = this.#end = 0;
          if (
            !this.#grow && this.#lastReadBytes < READ_BUFFER_MIN_BYTES &&
            this.#buf.length > READ_BUFFER_MIN_BYTES
          ) {
            // The burst is over: a quiet connection waits with a small buffer.
            this.#buf = new Uint8Array(READ_BUFFER_MIN_BYTES);
          }
        }
        if (this.#grow || (this.#end === this.#buf.length && this.#start === 0)) {
          // A busy peer keeps filling the buffer: a bigger one means fewer reads.
          this.#grow = false;
          const grown = new Uint8Array(Math.min(this.#buf.length * 4, READ_BUFFER_MAX_BYTES));
          grown.set(this.#buf.subarray(this.#start, this.#end));
          this.#end -= this.#start;
          this.#start = 0;
          this.#buf = grown;
        } else if (this.#end === this.#buf.length) {
          // A partial frame sits at the end: move it to the front.
          this.#buf.copyWithin(0, this.#start, this.#end);
          this.#end -= this.#start;
          this.#start = 0;
        }
        target = this.#buf.subarray(this.#end);
      }
      let n: number | null;
      const readStartMs = performance.now();
      try {
        n = await this.#conn.read(target);
      } catch {
        n = null;
      }
      const readEndMs = performance.now();
      if (readEndMs - readStartMs > READ_WAITED_MS) this.#lastYieldMs = readEndMs;
      if (this.readyState === CLOSED) return;
      if (n === null) {
        this.#finish(CLOSE_ABNORMAL, "", false);
        return;
      }
      if (large) {
        large.filled += n;
        if (large.filled === large.data.length) {
          this.#large = null;
          unmask(large.data, 0, large.data.length, large.mask);
          if (!this.#onFrame(large.opcode, large.fin, large.data)) return;
        }
      } else {
        this.#end += n;
        this.#lastReadBytes = n;
        if (n === target.length && this.#buf.length < READ_BUFFER_MAX_BYTES) this.#grow = true;
      }
    }
  }

  /**
   * Handle every complete frame in the read buffer. Returns false once reading must stop (the
   * peer's Close arrived, or the connection failed).
   */
  #parse(): boolean {
    const buf = this.#buf;
    while (this.#large === null && performance.now() - this.#lastYieldMs < YIELD_AFTER_MS) {
      const start = this.#start;
      const available = this.#end - start;
      if (available < 2) return true;
      const b0 = buf[start];
      const b1 = buf[start + 1];
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) return this.#fail(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension)");
      if ((b1 & 0x80) === 0) return this.#fail(CLOSE_PROTOCOL_ERROR, "client frame not masked");
      let length = b1 & 0x7f;
      let pos = start + 2;
      if (length === 126) {
        if (available < 4) return true;
        length = (buf[pos] << 8) | buf[pos + 1];
        pos += 2;
      } else if (length === 127) {
        if (available < 10) return true;
        if (buf[pos] & 0x80) return this.#fail(CLOSE_PROTOCOL_ERROR, "frame length has its top bit set");
        const high = buf[pos] * 0x100_0000 + (buf[pos + 1] << 16) + (buf[pos + 2] << 8) + buf[pos + 3];
        const low = buf[pos + 4] * 0x100_0000 + (buf[pos + 5] << 16) + (buf[pos + 6] << 8) + buf[pos + 7];
        length = high * 0x1_0000_0000 + low;
        pos += 8;
      }
      if (pos + 4 > this.#end) return true;
      const control = opcode >= 0x8;
      if (control) {
        if (opcode > OP_PONG) return this.#fail(CLOSE_PROTOCOL_ERROR, `unknown opcode ${opcode}`);
        if (!fin) return this.#fail(CLOSE_PROTOCOL_ERROR, "fragmented control frame");
        if (length > 125) return this.#fail(CLOSE_PROTOCOL_ERROR, "control frame longer than 125 bytes");
      } else {
        if (opcode > OP_BINARY) return this.#fail(CLOSE_PROTOCOL_ERROR, `unknown opcode ${opcode}`);
        if (opcode === OP_CONTINUATION && this.#fragmentOpcode < 0) {
          return this.#fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue");
        }
        if (opcode !== OP_CONTINUATION && this.#fragmentOpcode >= 0) {
          return this.#fail(CLOSE_PROTOCOL_ERROR, "new message before the fragmented one ended");
        }
        if (this.#fragmentBytes + length > this.#maxMessageBytes) {
          return this.#fail(CLOSE_TOO_BIG, `message over ${this.#maxMessageBytes} bytes`);
        }
      }
      const mask = this.#mask;
      mask[0] = buf[pos];
      mask[1] = buf[pos + 1];
      mask[2] = buf[pos + 2];
      mask[3] = buf[pos + 3];
      pos += 4;
      const end = pos + length;
      if (end > this.#end) {
        // Incomplete: wait for more if it fits the buffer (possibly after moving it to the front or
        // growing it), else read the rest straight into the message's own buffer.
        if (length <= READ_BUFFER_MAX_BYTES / 2) return true;
        const data = new Uint8Array(length);
        data.set(buf.subarray(pos, this.#end));
        this.#large = { opcode, fin, data, filled: this.#end - pos, mask: mask.slice() };
        this.#start = this.#end = 0;
        if (this.#buf.length > READ_BUFFER_MIN_BYTES) this.#buf = new Uint8Array(READ_BUFFER_MIN_BYTES);
        return true;
      }
      unmask(buf, pos, end, mask);
      this.#start = end;
      if (!this.#onFrame(opcode, fin, buf.subarray(pos, end), true)) return false;
    }
    return true;
  }

  /**
   * One complete, unmasked frame. `borrowed`: `payload` is a view into the read buffer (copied if
   * kept). Returns false once reading must stop.
   */
  #onFrame(opcode: number, fin: boolean, payload: Uint8Array, borrowed = false): boolean {
    this.#received++;
    switch (opcode) {
      case OP_PING:
        if (this.readyState === OPEN) this.#queueFrame(OP_PONG, payload);
        return true;
      case OP_PONG:
        return true;
      case OP_CLOSE:
        return this.#onClose(payload);
    }
    if (this.readyState !== OPEN) return true; // closing: data is dropped
    if (opcode !== OP_CONTINUATION && fin) return this.#deliver(opcode, borrowed ? payload.slice() : payload);
    if (opcode !== OP_CONTINUATION) this.#fragmentOpcode = opcode;
    this.#fragments.push(borrowed ? payload.slice() : payload);
    this.#fragmentBytes += payload.length;
    if (!fin) return true;
    const whole = new Uint8Array(this.#fragmentBytes);
    let off = 0;
    for (const part of this.#fragments) {
      whole.set(part, off);
      off += part.length;
    }
    const kind = this.#fragmentOpcode;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = -1;
    return this.#deliver(kind, whole);
  }

  #deliver(opcode: number, data: Uint8Array): boolean {
    let message: ArrayBuffer | string;
    if (opcode === OP_TEXT) {
      try {
        message = utf8.decode(data);
      } catch {
        return this.#fail(CLOSE_INVALID_DATA, "text message is not valid UTF-8");
      }
    } else {
      message = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? data.buffer as ArrayBuffer
        : data.slice().buffer;
    }
    this.dispatchEvent(new MessageEvent("message", { data: message }));
    return this.readyState !== CLOSED;
  }

  #onClose(payload: Uint8Array): boolean {
    let code = CLOSE_NO_STATUS;
    let reason = "";
    if (payload.length === 1) return this.#fail(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!validWireCode(code)) return this.#fail(CLOSE_PROTOCOL_ERROR, `invalid close code ${code}`);
      try {
        reason = utf8.decode(payload.subarray(2));
      } catch {
        return this.#fail(CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
      }
    }
    if (this.readyState === OPEN) {
      // Echo the peer's code (RFC 6455 §5.5.1), then close the TCP connection once it went out.
      this.readyState = CLOSING;
      this.#sendClose(code, "");
    }
    this.#closeAfterDrain(code, reason, true);
    return false;
  }

  /** Fail the connection (RFC 6455 §7.1.7): Close with `code`, then drop TCP once it is written. */
  #fail(code: number, reason: string): false {
    if (this.readyState === CLOSED) return false;
    this.readyState = CLOSING;
    this.#sendClose(code, reason);
    this.#closeAfterDrain(code, reason, false);
    return false;
  }

  /** Close TCP once our last frames are written, or after {@link CLOSE_TIMEOUT_MS} regardless. */
  #closeAfterDrain(code: number, reason: string, wasClean: boolean): void {
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#finish(code, reason, false), CLOSE_TIMEOUT_MS);
    this.#writer.drained().then(() => this.#finish(code, reason, wasClean));
  }

  /** Drop the TCP connection now (the peer is gone or stopped reading). */
  #abort(reason: string): void {
    if (this.readyState === CLOSED) return;
    this.#writer.stop();
    queueMicrotask(() => {
      if (this.readyState !== CLOSED) this.dispatchEvent(new ErrorEvent("error", { message: reason }));
      this.#finish(CLOSE_ABNORMAL, "", false);
    });
    this.readyState = CLOSING;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  /** Close the TCP connection and dispatch `close` (once). */
  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#closeTimer);
    this.#writer.stop();
    this.#fragments = [];
    this.#large = null;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
    this.#ended.resolve();
  }

  // ---------------------------------------------------------------------------------------------
  // Keep-alive

  #armIdle(): void {
    if (this.#idleTimeoutMs <= 0) return;
    this.#idleTimer = setTimeout(() => this.#idleTick(), this.#idleTimeoutMs / 2);
  }

  #idleTick(): void {
    if (this.readyState !== OPEN) return;
    this.#writer.trim();
    if (this.#received !== this.#receivedSeen) {
      this.#receivedSeen = this.#received;
      this.#pinged = false;
    } else if (!this.#pinged) {
      this.#pinged = true;
      this.#queueFrame(OP_PING, new Uint8Array(0));
    } else {
      this.#fail(CLOSE_GOING_AWAY, "No response from ping frame.");
      return;
    }
    this.#armIdle();
  }
}

/**
 * An HTTP/1.1 WebSocket upgrade request read by the HTTP gate from a TCP connection it owns.
 * `acceptWebSocket` upgrades it with {@link ConnUpgradeRequest.upgrade} instead of
 * `Deno.upgradeWebSocket`; the gate then runs the returned socket on the connection (or, if the
 * handler answered otherwise, writes that answer).
 */
export class ConnUpgradeRequest extends Request {
  readonly #conn: Deno.Conn;
  #socket: ConnWebSocket | null = null;
  /** Bytes the client sent after the request head (its first frames), set by the gate. */
  initialBytes: Uint8Array = new Uint8Array(0);

  /** `url`: absolute URL of the request; `headers`: its header fields; `conn`: its connection. */
  constructor(url: string, headers: Headers, conn: Deno.Conn) {
    super(url, { method: "GET", headers });
    this.#conn = conn;
  }

  /** The socket, once {@link upgrade} was called. */
  get socket(): ConnWebSocket | null {
    return this.#socket;
  }

  /** Accept the upgrade: the gate answers 101 and runs the returned socket (once). */
  upgrade(options: ConnWebSocketOptions): ConnWebSocket {
    if (this.#socket) throw new TypeError("this request was already upgraded");
    this.#socket = new ConnWebSocket(this.#conn, options);
    return this.#socket;
  }
}
