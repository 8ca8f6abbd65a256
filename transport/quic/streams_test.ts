import assert from "node:assert/strict";
import {
  exposeGarbageCollector,
  exposeMallocTrim,
  NativeMemoryReclaimer,
  nextReadBytes,
  QuicRecvHalf,
  QuicSendHalf,
  RECV_CONTROL_MIN_READ_BYTES,
  RECV_MAX_READ_BYTES,
  RECV_MIN_READ_BYTES,
  RECV_UNI_FIRST_READ_BYTES,
  SEND_HIGH_WATER_BYTES,
  StreamClosedError,
  StreamRegistry,
  youngGenerationWorthCollecting,
} from "./streams.ts";
import { sleep } from "../../util/mod.ts";

async function until(what: string, check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

Deno.test("reclaimer: one collection after a close, none while nothing closes", async () => {
  let runs = 0;
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => runs++,
    delayMs: 30,
    batchConnections: 1,
  });
  await sleep(60);
  assert.equal(runs, 0);
  reclaimer.connectionClosed();
  assert.equal(runs, 0, "never synchronously");
  await until("one collection", () => runs === 1);
  await sleep(100);
  assert.equal(runs, 1, "no further collection without closes");
  assert.equal(reclaimer.collections, 1);
});

Deno.test("reclaimer: a few closes (a lost cluster link) wait the long delay; a batch is collected soon", async () => {
  let runs = 0;
  const few = new NativeMemoryReclaimer({
    collector: () => () => runs++,
    delayMs: 20,
    batchConnections: 3,
    fewDelayMs: 400,
  });
  few.connectionClosed();
  await sleep(120);
  assert.equal(runs, 0, "one close does not stall the relay with a collection at once");
  await until("the late collection of a single close", () => runs === 1, 5_000);

  let batchRuns = 0;
  const batch = new NativeMemoryReclaimer({
    collector: () => () => batchRuns++,
    delayMs: 20,
    batchConnections: 3,
    fewDelayMs: 600_000,
  });
  for (let i = 0; i < 3; i++) batch.connectionClosed();
  // Without the batch rule this would wait the 10-minute delay.
  await until("a batch collected after the short delay", () => batchRuns === 1, 5_000);
});

Deno.test("reclaimer: closes during the wait get one follow-up collection, rate-limited", async () => {
  let runs = 0;
  // When each collection ran, taken inside the collector (polling would see it late).
  const at: number[] = [];
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => {
      at.push(performance.now());
      runs++;
    },
    delayMs: 40,
    batchConnections: 1,
  });
  const start = performance.now();
  for (let i = 0; i < 20; i++) reclaimer.connectionClosed();
  await sleep(10);
  reclaimer.connectionClosed();
  await until("the first collection", () => runs === 1);
  assert.ok(at[0] - start >= 39, "not before the delay");
  await until("a follow-up for the sessions that closed while waiting", () => runs === 2);
  assert.ok(at[1] - at[0] >= 39, "collections are at least the delay apart");
  await sleep(150);
  assert.equal(runs, 2);
});

Deno.test("reclaimer: closes piling up (churn) shorten the wait from the 1 % budget to the 10 % one", async () => {
  const at: number[] = [];
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => {
      at.push(performance.now());
      const until = performance.now() + 10; // a 10 ms collection: calm gap 1 s, pressure gap 100 ms
      while (performance.now() < until) { /* busy */ }
    },
    delayMs: 20,
    batchConnections: 1,
    pressureConnections: 3,
  });
  reclaimer.connectionClosed();
  await until("the first collection", () => at.length === 1);
  reclaimer.connectionClosed();
  await sleep(50);
  assert.equal(at.length, 1, "one close waits out the calm budget");
  reclaimer.connectionClosed();
  reclaimer.connectionClosed();
  await until("a collection under pressure", () => at.length === 2, 2_000);
  assert.ok(at[1] - at[0] < 700, `collected ${Math.round(at[1] - at[0])} ms later, not after the calm 1 s`);
});

Deno.test("reclaimer: a burst of opens gets one collection once the opens went quiet", async () => {
  const at: number[] = [];
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => at.push(performance.now()),
    delayMs: 10,
    openBatchConnections: 4,
    openQuietMs: 150,
    openWorthCollecting: () => true,
  });
  for (let i = 0; i < 3; i++) reclaimer.connectionOpened();
  await sleep(250);
  assert.equal(at.length, 0, "fewer opens than the batch never collect");
  // Opens keep arriving every 50 ms for 400 ms: no collection in the middle of the burst.
  let last = 0;
  for (let i = 0; i < 8; i++) {
    reclaimer.connectionOpened();
    last = performance.now();
    await sleep(50);
  }
  assert.equal(at.length, 0, "no collection while sessions keep opening");
  await until("the collection after the burst", () => at.length === 1, 3_000);
  assert.ok(at[0] - last >= 149, `collected ${Math.round(at[0] - last)} ms after the last open`);
  await sleep(300);
  assert.equal(at.length, 1, "one collection per burst");
  reclaimer.connectionOpened();
  await sleep(300);
  assert.equal(at.length, 1, "the next burst counts from zero");
});

Deno.test("reclaimer: a burst of opens does not wait out the long delay a single close armed", async () => {
  let runs = 0;
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => runs++,
    delayMs: 10,
    batchConnections: 8,
    fewDelayMs: 600_000,
    openBatchConnections: 3,
    openQuietMs: 50,
    openWorthCollecting: () => false, // a pending close is collected regardless
  });
  reclaimer.connectionClosed();
  for (let i = 0; i < 3; i++) reclaimer.connectionOpened();
  await until("the burst collected (with the close)", () => runs === 1, 3_000);
});

Deno.test("reclaimer: a burst of opens is not collected when the young generation is not worth it", async () => {
  let runs = 0;
  let asked = 0;
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => runs++,
    delayMs: 10,
    openBatchConnections: 2,
    openQuietMs: 30,
    openWorthCollecting: () => (asked++, false),
  });
  for (let i = 0; i < 5; i++) reclaimer.connectionOpened();
  await until("the burst looked at", () => asked === 1, 3_000);
  await sleep(100);
  assert.equal(runs, 0, "no stall for a small young generation");
  assert.equal(typeof youngGenerationWorthCollecting(), "boolean");
});

Deno.test("reclaimer: every collection is followed by a malloc trim (glibc keeps freed pages otherwise)", async () => {
  const order: string[] = [];
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => order.push("gc"),
    trimmer: () => () => order.push("trim"),
    delayMs: 10,
    batchConnections: 1,
  });
  reclaimer.connectionClosed();
  await until("a collection", () => order.length === 2);
  assert.deepEqual(order, ["gc", "trim"]);
  if (Deno.build.os === "linux") {
    const trim = exposeMallocTrim();
    assert.ok(trim, "glibc's malloc_trim is reachable through FFI here");
    trim();
  }
});

Deno.test("reclaimer: disabled when no collector is available; registries report to it", async () => {
  let asked = 0;
  const off = new NativeMemoryReclaimer({ collector: () => (asked++, null), delayMs: 10 });
  off.connectionClosed();
  off.connectionClosed();
  await sleep(50);
  assert.equal(off.collections, 0);
  assert.equal(asked, 1, "the collector is looked up once");

  let runs = 0;
  const on = new NativeMemoryReclaimer({ collector: () => () => runs++, delayMs: 10, batchConnections: 1 });
  let terminated = 0;
  const registry = new StreamRegistry(on);
  registry.add({ terminate: () => terminated++ });
  registry.terminateAll();
  assert.equal(terminated, 1);
  assert.equal(registry.size, 0);
  await until("the registry's close to be reclaimed", () => runs === 1);
});

Deno.test("reclaimer: the runtime's garbage collector can be exposed and run", () => {
  const gc = exposeGarbageCollector();
  assert.ok(gc, "node:v8 --expose-gc works on this Deno");
  gc();
});

/** A Deno-like send stream whose writes settle when `release()` is called. */
function slowSink() {
  const writes: Uint8Array[] = [];
  let pending: Array<() => void> = [];
  let closed = false;
  const stream = new WritableStream<Uint8Array>({
    write(chunk) {
      writes.push(chunk);
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    close() {
      closed = true;
    },
  });
  const release = () => {
    const list = pending;
    pending = [];
    for (const r of list) r();
  };
  return { stream, writes, release, isClosed: () => closed };
}

function owner() {
  const live = new Set<unknown>();
  return {
    live,
    isClosed: false,
    mapCode: (code: number) => code,
    track: (s: unknown) => live.add(s),
    untrack: (s: unknown) => live.delete(s),
  };
}

Deno.test("quic send half: small writes behind a busy write resolve at once and go out as one write", async () => {
  const sink = slowSink();
  const half = new QuicSendHalf(sink.stream, owner());
  const frames = Array.from({ length: 10 }, (_, i) => new Uint8Array(1000).fill(i));
  let resolved = 0;
  half.write(frames[0]).then(() => resolved++);
  await sleep(5);
  for (const f of frames.slice(1)) half.write(f).then(() => resolved++);
  await sleep(5);
  assert.equal(resolved, 10, "below the high-water mark every write resolves without waiting");
  assert.equal(sink.writes.length, 1, "only the first chunk is in Deno's hands");
  assert.equal(half.bufferedBytes, 10_000);
  sink.release();
  await sleep(5);
  assert.equal(sink.writes.length, 2, "the nine queued frames went out as one write");
  assert.equal(sink.writes[1].byteLength, 9_000);
  assert.deepEqual([...sink.writes[1].subarray(0, 1)], [1]);
  assert.deepEqual([...sink.writes[1].subarray(8_999)], [9]);
  sink.release();
  const closing = half.close();
  await sleep(5);
  sink.release();
  await closing;
  assert.ok(sink.isClosed(), "close waits for the queue, then closes");
  assert.equal(half.bufferedBytes, 0);
});

Deno.test("quic send half: queued chunks that lie back to back in one buffer go out as one view, not a copy", async () => {
  const sink = slowSink();
  const half = new QuicSendHalf(sink.stream, owner());
  const cache = new Uint8Array(3000).fill(5); // a group's shared chunk: runs written one after the other
  half.write(new Uint8Array(100)); // busy
  await sleep(5);
  half.write(cache.subarray(0, 1000));
  half.write(cache.subarray(1000, 1800));
  half.write(cache.subarray(1800, 3000));
  sink.release();
  await sleep(5);
  assert.equal(sink.writes.length, 2);
  assert.equal(sink.writes[1].byteLength, 3000);
  assert.equal(sink.writes[1].buffer, cache.buffer, "a view of the cache, no copy");
  sink.release();
  const closing = half.close();
  await sleep(5);
  sink.release();
  await closing;
});

Deno.test("quic send half: writes made in one turn go out as one Deno write", async () => {
  const sink = slowSink();
  const half = new QuicSendHalf(sink.stream, owner());
  half.write(new Uint8Array([1, 2, 3])); // a group header, say
  await half.write(new Uint8Array(500).fill(7)); // and the frames after it
  await sleep(5);
  assert.equal(sink.writes.length, 1, "header and frames coalesced");
  assert.equal(sink.writes[0].byteLength, 503);
  assert.deepEqual([...sink.writes[0].subarray(0, 4)], [1, 2, 3, 7]);
  sink.release();
  const closing = half.close();
  await sleep(5);
  sink.release();
  await closing;
  assert.ok(sink.isClosed());
});

Deno.test("quic send half: beyond the high-water mark a write waits; large chunks are not copied", async () => {
  const sink = slowSink();
  const half = new QuicSendHalf(sink.stream, owner());
  const big = new Uint8Array(SEND_HIGH_WATER_BYTES);
  let done = false;
  half.write(big).then(() => done = true);
  await sleep(5);
  assert.equal(done, false, "a full queue makes the writer wait");
  assert.equal(sink.writes[0], big, "handed over as is");
  sink.release();
  await sleep(5);
  assert.equal(done, true);
  // A reset fails writes that wait.
  const waiting = half.write(new Uint8Array(SEND_HIGH_WATER_BYTES));
  half.reset(0);
  await assert.rejects(waiting, StreamClosedError);
  await assert.rejects(half.write(new Uint8Array(1)), StreamClosedError);
});

/** A byte stream that answers each read with `sizes[i]` bytes (0 = end) and records the buffer sizes. */
function byteSource(sizes: number[]): { stream: ReadableStream<Uint8Array>; views: number[] } {
  const views: number[] = [];
  let i = 0;
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest!;
      const view = request.view! as Uint8Array;
      views.push(view.byteLength);
      const n = sizes[i++] ?? 0;
      if (n === 0) {
        controller.close();
        request.respond(0);
        return;
      }
      const filled = Math.min(n, view.byteLength);
      view.fill(7, 0, filled);
      request.respond(filled);
    },
  });
  return { stream, views };
}

const quietOwner = {
  isClosed: false,
  mapCode: (code: number) => code,
  track: () => {},
  untrack: () => {},
};

Deno.test("quic recv half: reads into small buffers while quiet, grows under a burst, shrinks back", async () => {
  // An idle stream's pending read used to hold Deno's 64 KiB default buffer.
  const { stream, views } = byteSource([512, 8192, 65536, 65536, 30, 30, 0]);
  const recv = new QuicRecvHalf(stream, quietOwner);
  const got: number[] = [];
  for (let chunk = await recv.read(); chunk !== null; chunk = await recv.read()) got.push(chunk.byteLength);
  assert.deepEqual(got, [512, 8192, 65536, 65536, 30, 30]);
  assert.deepEqual(views, [
    RECV_MIN_READ_BYTES,
    16 * RECV_MIN_READ_BYTES,
    RECV_MAX_READ_BYTES,
    RECV_MAX_READ_BYTES,
    RECV_MAX_READ_BYTES,
    RECV_MIN_READ_BYTES,
    RECV_MIN_READ_BYTES,
  ]);
  // A partial read leaves room for twice as much next time (a batch a little larger than the last
  // one is not cut in two reads).
  assert.equal(nextReadBytes(RECV_MAX_READ_BYTES, 1500), 4096);
  assert.equal(nextReadBytes(4096, 2100), 8192);
  assert.equal(nextReadBytes(RECV_MAX_READ_BYTES, RECV_MAX_READ_BYTES), RECV_MAX_READ_BYTES);
});

Deno.test("quic recv half: a unidirectional stream (a group) starts with a larger read", async () => {
  // Stream id bit 0x2: unidirectional (RFC 9000 §2.1). A 6 KiB group arrives in one read.
  const uni = byteSource([6000, 0]);
  const recv = new QuicRecvHalf(uni.stream, quietOwner, undefined, [], 3n);
  assert.equal((await recv.read())!.byteLength, 6000);
  assert.equal(uni.views[0], RECV_UNI_FIRST_READ_BYTES);
  // A bidirectional stream (control, subscribe) idles with the smallest buffer.
  const bidi = byteSource([6000, 0]);
  const control = new QuicRecvHalf(bidi.stream, quietOwner, undefined, [], 4n);
  assert.equal((await control.read())!.byteLength, RECV_MIN_READ_BYTES);
  assert.equal(bidi.views[0], RECV_MIN_READ_BYTES);
});

Deno.test("quic recv half: an idle bidirectional stream waits with a buffer below the group minimum", async () => {
  // A subscription's stream gets its SUBSCRIBE (~40 bytes), then idles with its read pending.
  const bidi = byteSource([40, 10, 0]);
  const control = new QuicRecvHalf(bidi.stream, quietOwner, undefined, [], 0n);
  assert.equal((await control.read())!.byteLength, 40);
  assert.equal((await control.read())!.byteLength, 10);
  assert.equal(await control.read(), null);
  assert.deepEqual(bidi.views.slice(0, 3), [RECV_MIN_READ_BYTES, 128, RECV_CONTROL_MIN_READ_BYTES]);
  // A unidirectional stream (a group) never goes below the group minimum.
  assert.equal(nextReadBytes(RECV_MIN_READ_BYTES, 10), RECV_MIN_READ_BYTES);
  assert.equal(
    nextReadBytes(RECV_MIN_READ_BYTES, 10, RECV_CONTROL_MIN_READ_BYTES),
    RECV_CONTROL_MIN_READ_BYTES,
  );
});

Deno.test("quic recv half: a small chunk in a large buffer is handed over as a compact copy", async () => {
  const { stream } = byteSource([512, 8192, 65536, 100, 0]);
  const recv = new QuicRecvHalf(stream, quietOwner);
  for (const size of [512, 8192, 65536]) {
    assert.equal((await recv.read())!.buffer.byteLength, size, "a full buffer is handed over as is");
  }
  // The next read used the 64 KiB buffer and got 100 bytes: a parser keeping them must not pin it.
  const small = (await recv.read())!;
  assert.equal(small.byteLength, 100);
  assert.equal(small.buffer.byteLength, 100);
  assert.equal(await recv.read(), null);
});

Deno.test("quic recv half: a handed-over default reader is swapped for a BYOB one; pending bytes come first", async () => {
  const { stream, views } = byteSource([10, 0]);
  const reader = stream.getReader();
  const big = new Uint8Array(64 * 1024).subarray(0, 3); // a header read left 3 payload bytes
  const recv = new QuicRecvHalf(stream, quietOwner, reader, [big]);
  const first = (await recv.read())!;
  assert.equal(first.byteLength, 3);
  assert.equal(first.buffer.byteLength, 3, "pending bytes are compacted too");
  assert.equal((await recv.read())!.byteLength, 10);
  assert.equal(await recv.read(), null);
  assert.equal(views[0], RECV_MIN_READ_BYTES, "read with a BYOB buffer, not the default 64 KiB");
});

Deno.test("quic recv half: a stream that is not a byte stream is read with a default reader", async () => {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array([1, 2, 3]));
      controller.close();
    },
  });
  const recv = new QuicRecvHalf(stream, quietOwner);
  assert.deepEqual(await recv.read(), new Uint8Array([1, 2, 3]));
  assert.equal(await recv.read(), null);
});
