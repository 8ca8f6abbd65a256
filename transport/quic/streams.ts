/**
 * {@link SendStream} / {@link RecvStream} adapters over Deno's QUIC stream halves, shared by raw
 * QUIC and WebTransport sessions.
 *
 * Deno 2.9.6 facts these adapters absorb:
 * - `writer.write()` settles once quinn accepted the bytes within the stream's flow-control window:
 *   1.25 MB per stream settled while the peer did not read (20 streams: 24.9 MB; no connection-wide
 *   cap seen). Everything beyond waits in the WritableStream's own unbounded JS queue
 *   (`desiredSize` goes negative, high-water mark 1 chunk). Awaiting `write()` is therefore real
 *   backpressure, and {@link QuicSendHalf.bufferedBytes} counts the bytes whose write has not
 *   settled yet.
 * - `writer.abort()` reaches the peer as a clean FIN: no RESET_STREAM, no codes.
 * - `reader.cancel()` sends STOP_SENDING with code 0: the application code is lost.
 * - Reset/stop codes exist only in error messages (see {@link classifyQuicError}).
 * - A send stream nobody references is garbage-collected and FINs: the adapters keep the Deno
 *   stream objects, and sessions keep live adapters.
 * - A connection's native state (≈ 1.1 MB with 10 000 concurrent streams per direction, ≈ 160 KB
 *   with 1 000: quinn sizes its stream tables by the limit) is freed only when V8 collects the JS
 *   connection object, and V8 does not count that memory: a bare server accepting and closing
 *   ~250 connections/s grew by 3 GB in 12 s and never shrank; the relay under the churn benchmark
 *   (max_streams 1 000) was at 1.1 GB after a minute and still growing. {@link NativeMemoryReclaimer}
 *   forces a (rate-limited) collection after sessions close, then a glibc `malloc_trim`: the 40 s
 *   churn run stays flat at ~0.12 GB (a full collection takes 40–350 ms on a loaded 2-core machine).
 * - The default reader of a receive stream reads into a fresh 64 KiB buffer per read, held for as
 *   long as the read is pending: {@link QuicRecvHalf} reads with a BYOB reader into buffers sized
 *   by the traffic instead.
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";
import {
  type BidiStream,
  type RecvStream,
  type SendStream,
  SessionClosedError,
  StreamResetError,
  StreamStoppedError,
} from "../types.ts";
import { concatBytes } from "../../codec/mod.ts";
import { classifyQuicError } from "./errors.ts";

/** Raised when a stream is used after it was closed or reset locally. */
export class StreamClosedError extends Error {
  constructor(message = "the stream is already closed") {
    super(message);
    this.name = "StreamClosedError";
  }
}

/** Something that can be ended when its session ends. */
export interface Terminable {
  /** End the stream because the session is gone. Never throws. */
  terminate(): void;
}

/** What a stream adapter needs from its session. */
export interface StreamOwner {
  /** True once the session is closed. */
  readonly isClosed: boolean;
  /** Translate a wire error code (RESET_STREAM / STOP_SENDING) into the application's code. */
  mapCode(wireCode: number): number;
  /** Track a live stream (terminated when the session closes). */
  track(stream: Terminable): void;
  /** Stop tracking a finished stream. */
  untrack(stream: Terminable): void;
}

/**
 * Bytes a {@link QuicSendHalf} accepts before `write()` makes the caller wait: below this a write
 * resolves at once (the bytes wait in the stream's own queue), so a sender can hand over many small
 * frames without one promise round trip each. It is also what one slow stream can hold in JS
 * memory besides the write Deno is busy with.
 */
export const SEND_HIGH_WATER_BYTES = 64 * 1024;

/**
 * Queued chunks smaller than this are gathered into one Deno write of at most this size: every
 * `writer.write()` is a native op and a promise, which at 1 KiB frames cost more than the copy.
 */
export const COALESCE_MAX_BYTES = 16 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();
/** What `read()` returns once the stream ended. */
const READ_DONE: Promise<null> = Promise.resolve(null);

/** A caller waiting for the queue to fall below {@link SEND_HIGH_WATER_BYTES}. */
interface DrainWaiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The sending half of a Deno QUIC stream as a {@link SendStream}.
 *
 * Writes are queued and handed to Deno by one loop, one `writer.write()` at a time: small chunks
 * queued meanwhile go out together as one write (≤ {@link COALESCE_MAX_BYTES}), larger ones as they
 * are (never copied). `write()` resolves at once while fewer than {@link SEND_HIGH_WATER_BYTES} are
 * queued, else when the queue drained below that: backpressure without a promise per chunk. A write
 * that fails after its promise resolved surfaces on the next `write()`/`close()` and in `stopped`.
 */
export class QuicSendHalf implements SendStream, Terminable {
  readonly #stream: WritableStream<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #owner: StreamOwner;
  #prefix: Uint8Array | null;
  /** Chunks not handed to Deno yet. */
  readonly #queue: Uint8Array[] = [];
  /** Bytes queued plus the bytes of the Deno write in flight. */
  #buffered = 0;
  /** The loop handing chunks to Deno runs. */
  #flushing = false;
  #drainWaiters: DrainWaiter[] = [];
  /** Resolves when the queue is empty and no write is in flight (used by close). */
  #idle: PromiseWithResolvers<void> | null = null;
  #state: "open" | "closing" | "done" = "open";
  #failure: Error | null = null;
  /** Reset locally: its error is made only if someone asks (a relay resets many streams). */
  #resetLocally = false;
  readonly #stopped = Promise.withResolvers<number>();

  /**
   * @param stream the Deno send stream
   * @param owner the session
   * @param prefix bytes sent before the first payload (the WebTransport stream header), in the same write
   */
  constructor(
    stream: Deno.QuicSendStream | WritableStream<Uint8Array>,
    owner: StreamOwner,
    prefix?: Uint8Array,
  ) {
    this.#stream = stream;
    this.#writer = stream.getWriter();
    this.#owner = owner;
    this.#prefix = prefix && prefix.byteLength > 0 ? prefix : null;
    owner.track(this);
  }

  get stopped(): Promise<number> {
    return this.#stopped.promise;
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** The underlying Deno stream (kept referenced so it is not garbage-collected). */
  get raw(): WritableStream<Uint8Array> {
    return this.#stream;
  }

  write(data: Uint8Array): Promise<void> {
    if (this.#state !== "open") {
      const rejected = Promise.reject(this.#closedError());
      rejected.catch(() => {});
      return rejected;
    }
    let chunk = data;
    if (this.#prefix) {
      chunk = concatBytes([this.#prefix, data]);
      this.#prefix = null;
    }
    if (chunk.byteLength === 0) return RESOLVED;
    this.#queue.push(chunk);
    this.#buffered += chunk.byteLength;
    if (!this.#flushing) this.#flush();
    if (this.#buffered < SEND_HIGH_WATER_BYTES) return RESOLVED;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#drainWaiters.push({ resolve, reject });
    // Callers that do not await must not turn a failure into an unhandled rejection.
    promise.catch(() => {});
    return promise;
  }

  /** Hand the queue to Deno, one write at a time, small chunks gathered. */
  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      // Start on the next microtask: what the caller writes in the same turn (a group header and
      // the frames after it) goes out as one Deno write.
      await RESOLVED;
      while (this.#queue.length > 0 && this.#state !== "done") {
        const chunk = this.#take();
        try {
          await this.#writer.write(chunk);
        } catch (error) {
          this.#fail(error);
          return;
        } finally {
          this.#buffered -= chunk.byteLength;
        }
        if (this.#buffered < SEND_HIGH_WATER_BYTES && this.#drainWaiters.length > 0) {
          const waiters = this.#drainWaiters;
          this.#drainWaiters = [];
          for (const w of waiters) w.resolve();
        }
      }
    } finally {
      this.#flushing = false;
      if (this.#idle) {
        this.#idle.resolve();
        this.#idle = null;
      }
    }
  }

  /**
   * The next chunk to write: the head of the queue, extended over the chunks that lie right after
   * it in the same buffer (runs of one cached group written one after the other: one view, no
   * copy), else several small ones copied together.
   */
  #take(): Uint8Array {
    const queue = this.#queue;
    const head = queue[0];
    let count = 1;
    let end = head.byteOffset + head.byteLength;
    while (count < queue.length && queue[count].buffer === head.buffer && queue[count].byteOffset === end) {
      end += queue[count].byteLength;
      count++;
    }
    if (count > 1) {
      queue.splice(0, count);
      return new Uint8Array(head.buffer, head.byteOffset, end - head.byteOffset);
    }
    let bytes = head.byteLength;
    while (count < queue.length && bytes + queue[count].byteLength <= COALESCE_MAX_BYTES) {
      bytes += queue[count].byteLength;
      count++;
    }
    if (count === 1) {
      queue.shift();
      return head;
    }
    const out = new Uint8Array(bytes);
    let at = 0;
    for (let i = 0; i < count; i++) {
      out.set(queue[i], at);
      at += queue[i].byteLength;
    }
    queue.splice(0, count);
    return out;
  }

  /** Resolves once everything queued was handed to Deno (or the stream ended). */
  #drained(): Promise<void> {
    if (!this.#flushing) return RESOLVED;
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  async close(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "closing";
    try {
      await this.#drained();
      if (this.#failure) return;
      if (this.#prefix) {
        const prefix = this.#prefix;
        this.#prefix = null;
        await this.#writer.write(prefix);
      }
      await this.#writer.close();
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#finish(-1);
    }
  }

  reset(_code: number): void {
    // Deno 2.9.6 cannot send RESET_STREAM: abort() ends the stream with a FIN.
    if (this.#state === "done") return;
    if (this.#failure === null) this.#resetLocally = true;
    this.#finish(-1);
    this.#writer.abort().catch(() => {});
  }

  terminate(): void {
    if (this.#state === "done") return;
    this.#failure ??= new SessionClosedError();
    this.#finish(-1);
    this.#writer.abort().catch(() => {});
  }

  #closedError(): Error {
    if (this.#failure) return this.#failure;
    if (this.#resetLocally) return new StreamClosedError("the stream was reset locally");
    if (this.#owner.isClosed) return new SessionClosedError();
    return new StreamClosedError();
  }

  /** Record a write/close failure and return the error to surface. */
  #fail(error: unknown): Error {
    if (this.#failure) return this.#failure;
    if (this.#resetLocally) return this.#closedError(); // the abort we caused, not a new failure
    const info = classifyQuicError(error);
    if (info.kind === "stopped") {
      const code = this.#owner.mapCode(info.code);
      this.#failure = new StreamStoppedError(code);
      this.#finish(code);
    } else if (this.#owner.isClosed || info.kind === "lost" || info.kind === "gone") {
      this.#failure = new SessionClosedError(
        this.#owner.isClosed ? undefined : `the connection is gone: ${info.message}`,
      );
      this.#finish(-1);
    } else {
      this.#failure = error instanceof Error ? error : new Error(info.message);
      this.#finish(-1);
    }
    return this.#failure;
  }

  #finish(stoppedCode: number): void {
    if (this.#state === "done") return;
    this.#state = "done";
    this.#prefix = null;
    // Queued chunks will never be sent: drop them (and their memory) now.
    for (const chunk of this.#queue) this.#buffered -= chunk.byteLength;
    this.#queue.length = 0;
    if (this.#drainWaiters.length > 0) {
      // A clean close never leaves waiters (close waits for the queue); anything else fails them.
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      const error = this.#closedError();
      for (const w of waiters) w.reject(error);
    }
    this.#stopped.resolve(stoppedCode);
    this.#owner.untrack(this);
  }
}

/** Chunks up to this size are handed over as compact copies when their buffer is much larger. */
export const COMPACT_CHUNK_MAX_BYTES = 4 * 1024;
/**
 * Smallest buffer a {@link QuicRecvHalf} reads into: what an idle stream (a control stream, a group
 * waiting for its next frame) holds while its read is pending.
 */
export const RECV_MIN_READ_BYTES = 512;
/**
 * What the first read of a unidirectional stream reads into. In moq-lite a peer's unidirectional
 * streams carry groups, which hold data from the start: a 512-byte first read split a 6 KiB group
 * into three reads, and every read wakes each subscriber of the group (one transport write each).
 * An idle bidirectional stream (control, subscribe, announce) still starts at
 * {@link RECV_MIN_READ_BYTES}.
 */
export const RECV_UNI_FIRST_READ_BYTES = 8 * 1024;
/**
 * Smallest buffer a bidirectional stream reads into once its first read is done. Bidirectional
 * streams are control streams (a subscription, an announce interest): after their first message they
 * idle, receiving at most a short update now and then, and each holds its pending read's buffer all
 * its life (300 subscriptions: a 512-byte buffer was ~0.5 KiB of each subscription's memory).
 */
export const RECV_CONTROL_MIN_READ_BYTES = 64;
/** Largest buffer a {@link QuicRecvHalf} reads into (Deno's own default read size). */
export const RECV_MAX_READ_BYTES = 64 * 1024;

/**
 * The buffer size of the read after one that got `got` bytes into a buffer of `size`: a full
 * buffer grows it sixteenfold (a burst ramps 512 B → 8 KiB → 64 KiB in two reads: every read wakes
 * each subscriber of the group once, so a 6 KiB group read in three or four small reads cost three or
 * four transport writes per subscriber), a partial one sizes it to the power of two that holds twice
 * the bytes (the next batch may be a little larger: a buffer just big enough for this one would cut
 * the next read short and turn one read into two), never outside
 * [`min`, {@link RECV_MAX_READ_BYTES}] (`min` is {@link RECV_MIN_READ_BYTES} unless given).
 */
export function nextReadBytes(size: number, got: number, min = RECV_MIN_READ_BYTES): number {
  if (got >= size) return Math.min(RECV_MAX_READ_BYTES, size * 16);
  let next = min;
  while (next < 2 * got && next < RECV_MAX_READ_BYTES) next *= 2;
  return next;
}

/** A byte stream's BYOB reader, or null when the stream is not a byte stream (test doubles). */
function byobReaderOf(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | null {
  try {
    return stream.getReader({ mode: "byob" });
  } catch {
    return null;
  }
}

/**
 * The receiving half of a Deno QUIC stream as a {@link RecvStream}.
 *
 * Deno's default reader reads each chunk into a fresh 64 KiB buffer, so every pending read (one
 * per idle control stream, per subscription, per group waiting for its next frame) held 64 KiB.
 * This half reads with a BYOB reader into buffers sized by what the stream delivers
 * ({@link nextReadBytes}: {@link RECV_MIN_READ_BYTES} while it is quiet, up to
 * {@link RECV_MAX_READ_BYTES} under a burst; a unidirectional stream, a group, starts at
 * {@link RECV_UNI_FIRST_READ_BYTES}). Small chunks (≤ {@link COMPACT_CHUNK_MAX_BYTES}) in a
 * buffer at least four times larger are still copied out, so a message kept by its parser never
 * pins a large buffer. Streams that are not byte streams are read with a default reader.
 */
export class QuicRecvHalf implements RecvStream, Terminable {
  /** The QUIC stream id, when known. */
  readonly id: bigint | undefined;
  readonly #stream: ReadableStream<Uint8Array>;
  readonly #reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  readonly #byob: boolean;
  readonly #owner: StreamOwner;
  readonly #pending: Uint8Array[];
  #readBytes = RECV_MIN_READ_BYTES;
  /** The smallest read buffer ({@link RECV_CONTROL_MIN_READ_BYTES} on a bidirectional stream). */
  #minReadBytes = RECV_MIN_READ_BYTES;
  #state: "open" | "fin" | "stopped" | "failed" = "open";
  #failure: Error | null = null;
  #terminated = false;

  /**
   * @param stream the Deno receive stream
   * @param owner the session
   * @param reader an already acquired reader of `stream` (when a header was read from it); it must
   *   have no read pending: its lock is handed to a BYOB reader
   * @param pending bytes already read from `stream` that belong to the payload
   * @param id the stream id, when it was read earlier
   */
  constructor(
    stream: ReadableStream<Uint8Array>,
    owner: StreamOwner,
    reader?: ReadableStreamDefaultReader<Uint8Array>,
    pending: Uint8Array[] = [],
    id?: bigint,
  ) {
    this.#stream = stream;
    if (id === undefined) {
      try {
        id = (stream as Deno.QuicReceiveStream).id;
      } catch {
        id = undefined;
      }
    }
    this.id = id;
    // Bit 0x2 of a QUIC stream id marks a unidirectional stream (RFC 9000 §2.1).
    if (id !== undefined) {
      if ((id & 2n) !== 0n) this.#readBytes = RECV_UNI_FIRST_READ_BYTES;
      else this.#minReadBytes = RECV_CONTROL_MIN_READ_BYTES;
    }
    let byob: ReadableStreamBYOBReader | null = null;
    if (!reader) byob = byobReaderOf(stream);
    else {
      try {
        reader.releaseLock();
        byob = byobReaderOf(stream);
        if (!byob) reader = stream.getReader();
      } catch {
        // a read is still pending on it: keep reading with it
      }
    }
    this.#byob = byob !== null;
    this.#reader = byob ?? reader ?? stream.getReader();
    this.#owner = owner;
    this.#pending = [];
    for (const chunk of pending) if (chunk.byteLength > 0) this.#pending.push(compact(chunk));
    owner.track(this);
  }

  /** The underlying Deno stream. */
  get raw(): ReadableStream<Uint8Array> {
    return this.#stream;
  }

  // Not an async function: an idle stream (a subscription, an announce interest) waits in it all
  // its life, and a suspended async frame (its generator, promise and await closures) costs more
  // than one `then`.
  read(): Promise<Uint8Array | null> {
    if (this.#pending.length > 0) return Promise.resolve(this.#pending.shift()!);
    if (this.#state === "fin" || this.#state === "stopped") return READ_DONE;
    if (this.#state === "failed") return Promise.reject(this.#failure!);
    let result: Promise<ReadableStreamReadResult<Uint8Array>>;
    try {
      result = this.#byob
        ? (this.#reader as ReadableStreamBYOBReader).read(new Uint8Array(this.#readBytes))
        : (this.#reader as ReadableStreamDefaultReader<Uint8Array>).read();
    } catch (error) {
      return Promise.reject(this.#fail(error));
    }
    return result.then((r) => this.#got(r), (error) => {
      throw this.#fail(error);
    });
  }

  /** One read's result: a chunk, FIN, or (an empty chunk) the next read. */
  #got(result: ReadableStreamReadResult<Uint8Array>): Uint8Array | null | Promise<Uint8Array | null> {
    if (result.done) {
      if (this.#terminated) throw this.#fail(new SessionClosedError());
      if (this.#state === "open") {
        this.#state = "fin";
        this.#owner.untrack(this);
      }
      return null;
    }
    const chunk = result.value;
    if (this.#byob) this.#readBytes = nextReadBytes(this.#readBytes, chunk.byteLength, this.#minReadBytes);
    if (chunk.byteLength === 0) return this.read();
    return compact(chunk);
  }

  stop(_code: number): void {
    // Deno 2.9.6 sends STOP_SENDING with code 0 whatever the application asked for.
    if (this.#state !== "open") return;
    this.#state = "stopped";
    this.#pending.length = 0;
    this.#owner.untrack(this);
    this.#reader.cancel().catch(() => {});
  }

  terminate(): void {
    if (this.#state !== "open") return;
    this.#terminated = true;
    this.#pending.length = 0;
    this.#fail(new SessionClosedError());
    this.#reader.cancel().catch(() => {});
  }

  #fail(error: unknown): Error {
    if (this.#state === "failed") return this.#failure!;
    if (this.#state === "stopped") return new StreamClosedError("the stream was stopped locally");
    const info = classifyQuicError(error);
    let failure: Error;
    if (error instanceof SessionClosedError) failure = error;
    else if (info.kind === "reset") failure = new StreamResetError(this.#owner.mapCode(info.code));
    else if (this.#owner.isClosed || info.kind === "lost" || info.kind === "gone") {
      failure = new SessionClosedError(
        this.#owner.isClosed ? undefined : `the connection is gone: ${info.message}`,
      );
    } else failure = error instanceof Error ? error : new Error(info.message);
    this.#state = "failed";
    this.#failure = failure;
    this.#owner.untrack(this);
    return failure;
  }
}

/** A small chunk in a much larger buffer, copied out (see {@link COMPACT_CHUNK_MAX_BYTES}). */
function compact(chunk: Uint8Array): Uint8Array {
  if (chunk.byteLength <= COMPACT_CHUNK_MAX_BYTES && chunk.buffer.byteLength >= 4 * chunk.byteLength) {
    return chunk.slice();
  }
  return chunk;
}

/** Delay between a session closing and the collection that frees its native memory. */
export const RECLAIM_DELAY_MS = 1_000;
/**
 * Fewer closed connections than this wait {@link RECLAIM_FEW_DELAY_MS} instead of
 * {@link RECLAIM_DELAY_MS}: a full collection stalls the relay (70–600 ms on a loaded 2-core machine),
 * and one lost cluster link or viewer holds only ~200 KB of native state, not worth a stall at the
 * moment a route fails over.
 */
export const RECLAIM_BATCH_CONNECTIONS = 8;
/** Delay before collecting when fewer than {@link RECLAIM_BATCH_CONNECTIONS} connections closed. */
export const RECLAIM_FEW_DELAY_MS = 30_000;
/** A collection may take at most 1/this of the time between collections (few closes). */
export const RECLAIM_BUDGET_FACTOR = 100;
/**
 * Closed connections awaiting collection beyond which they count as pressure (≈ 11 MB of native
 * state at the default 1 024 streams per direction, see the module notes).
 */
export const RECLAIM_PRESSURE_CONNECTIONS = 64;
/**
 * Under pressure a collection may take up to 1/this of the time: with collections of 70–300 ms
 * on a loaded 2-core machine, the 1 % budget let 20–35 s of closed connections pile up (the
 * 40 s churn benchmark reached 0.5–0.9 GB and kept growing).
 */
export const RECLAIM_PRESSURE_BUDGET_FACTOR = 10;

/**
 * Sessions opened since the last collection that make the reclaimer collect once the openings
 * went quiet ({@link RECLAIM_OPEN_QUIET_MS}): setting a session up fills V8's young generation, and
 * V8 grows it (16 MiB and more) while many long-lived session objects survive its scavenges; nothing
 * shrinks it again while the sessions then sit idle. One full collection does (and a malloc trim
 * returns the setup's freed native memory): 300 idle WebSocket sessions held 88 KiB each without it,
 * 49 KiB with collections (a bare WebSocket: 45 KiB).
 */
export const RECLAIM_OPEN_BATCH_CONNECTIONS = 32;
/** How long no session may open before a burst of {@link RECLAIM_OPEN_BATCH_CONNECTIONS} counts as over. */
export const RECLAIM_OPEN_QUIET_MS = 1_000;
/** A young generation smaller than this is not worth a collection after a burst of opens. */
export const RECLAIM_OPEN_MIN_YOUNG_BYTES = 4 * 1024 * 1024;

/**
 * Whether a burst of opens left a young generation worth a full collection: at least
 * {@link RECLAIM_OPEN_MIN_YOUNG_BYTES}, and a quarter of the heap or more. On a large heap (thousands
 * of sessions) the young generation's at most a few tens of MiB are a small share, and a full
 * collection there stalls the relay for longer.
 */
export function youngGenerationWorthCollecting(): boolean {
  let young = 0;
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    used += space.space_used_size;
    if (space.space_name === "new_space") young = space.space_size;
  }
  return young >= RECLAIM_OPEN_MIN_YOUNG_BYTES && young * 4 >= used;
}

/**
 * Returns a function that runs a full V8 garbage collection, or null if the runtime refuses.
 * (`--expose-gc` set at run time through `node:v8`, `gc` taken from a fresh `node:vm` context.)
 */
export function exposeGarbageCollector(): (() => void) | null {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc: unknown = vm.runInNewContext("gc");
    return typeof gc === "function" ? () => gc() : null;
  } catch {
    return null;
  }
}

/**
 * Returns glibc's `malloc_trim(0)` (through FFI), or null where it is not available (another libc,
 * no FFI permission). A collection frees closed connections' native state to malloc, but glibc keeps
 * freed pages inside its main heap (only the top can shrink): trimming hands them back to the system.
 */
export function exposeMallocTrim(): (() => void) | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const lib = Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } });
    return () => void lib.symbols.malloc_trim(0n);
  } catch {
    return null;
  }
}

/** Options of {@link NativeMemoryReclaimer}. */
export interface ReclaimerOptions {
  /** Provides the collection function (default {@link exposeGarbageCollector}); null disables. */
  collector?: () => (() => void) | null;
  /** Delay after a close (default {@link RECLAIM_DELAY_MS}); also the shortest interval. */
  delayMs?: number;
  /** Provides the malloc trim run after each collection (default {@link exposeMallocTrim}); null: none. */
  trimmer?: () => (() => void) | null;
  /** Pending closes that count as pressure (default {@link RECLAIM_PRESSURE_CONNECTIONS}). */
  pressureConnections?: number;
  /** Pending closes collected after `delayMs` (default {@link RECLAIM_BATCH_CONNECTIONS}). */
  batchConnections?: number;
  /** Delay while fewer closes than `batchConnections` wait (default {@link RECLAIM_FEW_DELAY_MS}). */
  fewDelayMs?: number;
  /** Opened sessions that ask for a collection once quiet (default {@link RECLAIM_OPEN_BATCH_CONNECTIONS}). */
  openBatchConnections?: number;
  /** Quiet time after the last open (default {@link RECLAIM_OPEN_QUIET_MS}). */
  openQuietMs?: number;
  /** Whether a burst of opens is worth its collection (default {@link youngGenerationWorthCollecting}). */
  openWorthCollecting?: () => boolean;
}

/**
 * Frees the native memory of closed QUIC connections and streams, which Deno releases only when V8
 * garbage-collects their JS objects (see the module notes), and hands what was freed back to the
 * system ({@link exposeMallocTrim}: without it the relay's RSS stayed ~50 MiB above its idle level
 * after 300 sessions closed, in glibc's main heap). Sessions of other transports report their close
 * too (their sockets' buffers and objects). After a session closes it schedules
 * one full collection {@link RECLAIM_DELAY_MS} later once {@link RECLAIM_BATCH_CONNECTIONS} have closed, else
 * {@link RECLAIM_FEW_DELAY_MS} later (an unref'd timer: it never keeps the process
 * alive), and one more if further sessions closed meanwhile (they may not have been unreachable
 * yet). Collections are at least the delay apart and take at most 1/{@link RECLAIM_BUDGET_FACTOR}
 * of the time (a slow collection pushes the next one back), or 1/{@link RECLAIM_PRESSURE_BUDGET_FACTOR}
 * once {@link RECLAIM_PRESSURE_CONNECTIONS} closed connections are waiting (churn). A burst of
 * {@link RECLAIM_OPEN_BATCH_CONNECTIONS} session opens gets one collection too, once no session opened
 * for {@link RECLAIM_OPEN_QUIET_MS} (within the same 1 % budget). Nothing runs while no session opens
 * or closes.
 */
export class NativeMemoryReclaimer {
  readonly #collector: () => (() => void) | null;
  readonly #delayMs: number;
  readonly #pressure: number;
  readonly #batch: number;
  readonly #fewDelayMs: number;
  #collect: (() => void) | null | undefined;
  readonly #trimmer: () => (() => void) | null;
  #trim: (() => void) | null | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires (performance.now() time). */
  #dueMs = 0;
  /** Connections closed since the last collection started (or not yet reachable then). */
  #pending = 0;
  /** Connections closed since the timer was armed. */
  #closedSinceArmed = 0;
  #lastEndMs = -Infinity;
  #lastDurationMs = 0;
  readonly #openBatch: number;
  readonly #openQuietMs: number;
  /** Sessions opened since the last collection started. */
  #opened = 0;
  readonly #openWorth: () => boolean;
  #lastOpenMs = -Infinity;
  /** Collections run so far. */
  collections = 0;

  constructor(options: ReclaimerOptions = {}) {
    this.#collector = options.collector ?? exposeGarbageCollector;
    this.#trimmer = options.trimmer ?? exposeMallocTrim;
    this.#delayMs = options.delayMs ?? RECLAIM_DELAY_MS;
    this.#pressure = options.pressureConnections ?? RECLAIM_PRESSURE_CONNECTIONS;
    this.#batch = options.batchConnections ?? RECLAIM_BATCH_CONNECTIONS;
    this.#fewDelayMs = Math.max(this.#delayMs, options.fewDelayMs ?? RECLAIM_FEW_DELAY_MS);
    this.#openBatch = Math.max(1, options.openBatchConnections ?? RECLAIM_OPEN_BATCH_CONNECTIONS);
    this.#openQuietMs = options.openQuietMs ?? RECLAIM_OPEN_QUIET_MS;
    this.#openWorth = options.openWorthCollecting ?? youngGenerationWorthCollecting;
  }

  /**
   * A session opened. Once {@link RECLAIM_OPEN_BATCH_CONNECTIONS} opened since the last collection,
   * one collection runs when none opened for {@link RECLAIM_OPEN_QUIET_MS}.
   */
  connectionOpened(): void {
    this.#opened++;
    this.#lastOpenMs = performance.now();
    if (this.#opened < this.#openBatch) return;
    if (this.#collect === undefined) this.#collect = this.#collector();
    if (this.#collect === null) return;
    if (this.#timer === undefined) this.#arm();
    else if (this.#opened === this.#openBatch && this.#earliestMs() < this.#dueMs) {
      // A close armed the long wait: the burst is collected sooner.
      clearTimeout(this.#timer);
      this.#arm();
    }
  }

  /** A session (connection) closed: its native memory should be reclaimed soon. */
  connectionClosed(): void {
    if (this.#collect === undefined) this.#collect = this.#collector();
    if (this.#collect === null) return;
    this.#pending++;
    this.#closedSinceArmed++;
    if (this.#timer === undefined) this.#arm();
    else if (
      (this.#pending === this.#batch || this.#pending === this.#pressure) && this.#earliestMs() < this.#dueMs
    ) {
      // A batch (or pressure) reached while waiting out the longer wait: collect sooner.
      clearTimeout(this.#timer);
      this.#arm();
    }
  }

  /** The earliest time the next collection may run, given the pending closes. */
  #earliestMs(): number {
    let due = Infinity;
    if (this.#pending > 0) {
      const factor = this.#pending >= this.#pressure ? RECLAIM_PRESSURE_BUDGET_FACTOR : RECLAIM_BUDGET_FACTOR;
      const gap = Math.max(this.#delayMs, this.#lastDurationMs * factor);
      const wait = this.#pending >= this.#batch ? this.#delayMs : this.#fewDelayMs;
      due = Math.max(performance.now() + wait, this.#lastEndMs + gap);
    }
    if (this.#opened >= this.#openBatch) {
      const gap = Math.max(this.#delayMs, this.#lastDurationMs * RECLAIM_BUDGET_FACTOR);
      due = Math.min(due, Math.max(this.#lastOpenMs + this.#openQuietMs, this.#lastEndMs + gap));
    }
    return due;
  }

  /** Sessions are still opening (a burst is not over): an opens-only collection waits. */
  #opening(): boolean {
    return this.#pending === 0 && performance.now() - this.#lastOpenMs < this.#openQuietMs;
  }

  #arm(): void {
    this.#closedSinceArmed = 0;
    this.#dueMs = this.#earliestMs();
    if (this.#dueMs === Infinity) return; // nothing to collect for
    const timer = setTimeout(() => this.#run(), Math.max(0, this.#dueMs - performance.now()));
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#opening()) {
      this.#arm();
      return;
    }
    if (this.#pending === 0 && !this.#openWorth()) {
      this.#opened = 0; // nothing much to shrink: no stall for it
      return;
    }
    // Closes after the one that armed this timer happened less than the delay ago: they may still
    // have been reachable, so they stay pending and get one more collection.
    const closedWhileArmed = this.#closedSinceArmed;
    const start = performance.now();
    try {
      this.#collect!();
      if (this.#trim === undefined) this.#trim = this.#trimmer();
      this.#trim?.();
    } catch {
      // A failed collection only delays reclaiming.
    }
    const end = performance.now();
    this.collections++;
    this.#lastEndMs = end;
    this.#lastDurationMs = end - start;
    this.#opened = 0;
    this.#pending = closedWhileArmed;
    if (closedWhileArmed > 0) this.#arm();
  }
}

/**
 * A tracking set for a session's live streams, implementing the {@link StreamOwner} bookkeeping.
 * `terminateAll` ends every live stream (used when the session closes) and tells the
 * {@link NativeMemoryReclaimer} that a connection's native memory can be reclaimed.
 */
export class StreamRegistry {
  readonly #live = new Set<Terminable>();
  readonly #reclaimer: NativeMemoryReclaimer | null;

  /**
   * @param reclaimer told when the session ends (default none: the relay's server reports every
   *   session's open and close to its own reclaimer)
   */
  constructor(reclaimer: NativeMemoryReclaimer | null = null) {
    this.#reclaimer = reclaimer;
  }

  /** Track a stream. */
  add(stream: Terminable): void {
    this.#live.add(stream);
  }

  /** Forget a stream. */
  delete(stream: Terminable): void {
    this.#live.delete(stream);
  }

  /** How many streams are live. */
  get size(): number {
    return this.#live.size;
  }

  /** End every live stream (the session is over). */
  terminateAll(): void {
    const streams = [...this.#live];
    this.#live.clear();
    for (const stream of streams) {
      try {
        stream.terminate();
      } catch {
        // terminate never throws; belt and braces.
      }
    }
    this.#reclaimer?.connectionClosed();
  }
}

/** The error to throw when opening a stream failed: SessionClosedError once the connection is gone. */
function openError(error: unknown, closed: boolean): Error {
  const info = classifyQuicError(error);
  if (closed || info.kind === "lost" || info.kind === "gone") {
    return new SessionClosedError(`cannot open a stream: ${info.message}`);
  }
  return error instanceof Error ? error : new Error(info.message);
}

/**
 * Open a bidirectional stream on `conn` for `owner` (waiting for stream credit). `prefix` goes out
 * with the first write (the WebTransport stream header). Throws {@link SessionClosedError} once
 * the owner is closed, also when it closed while the stream was being opened.
 */
export async function openBidiStream(
  conn: Deno.QuicConn,
  owner: StreamOwner,
  prefix?: Uint8Array,
): Promise<BidiStream> {
  if (owner.isClosed) throw new SessionClosedError();
  let bidi: Deno.QuicBidirectionalStream;
  try {
    bidi = await conn.createBidirectionalStream({ waitUntilAvailable: true });
  } catch (error) {
    throw openError(error, owner.isClosed);
  }
  if (owner.isClosed) {
    bidi.writable.abort().catch(() => {});
    bidi.readable.cancel().catch(() => {});
    throw new SessionClosedError();
  }
  return {
    send: new QuicSendHalf(bidi.writable, owner, prefix),
    recv: new QuicRecvHalf(bidi.readable, owner),
  };
}

/** Open a unidirectional stream on `conn` for `owner`; see {@link openBidiStream}. */
export async function openUniStream(
  conn: Deno.QuicConn,
  owner: StreamOwner,
  prefix?: Uint8Array,
): Promise<SendStream> {
  if (owner.isClosed) throw new SessionClosedError();
  let stream: Deno.QuicSendStream;
  try {
    stream = await conn.createUnidirectionalStream({ waitUntilAvailable: true });
  } catch (error) {
    throw openError(error, owner.isClosed);
  }
  if (owner.isClosed) {
    stream.abort().catch(() => {});
    throw new SessionClosedError();
  }
  return new QuicSendHalf(stream, owner, prefix);
}
