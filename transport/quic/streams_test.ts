import assert from "node:assert/strict";
import {
  exposeGarbageCollector,
  NativeMemoryReclaimer,
  QuicSendHalf,
  SEND_HIGH_WATER_BYTES,
  StreamClosedError,
  StreamRegistry,
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
  const reclaimer = new NativeMemoryReclaimer({ collector: () => () => runs++, delayMs: 30 });
  await sleep(60);
  assert.equal(runs, 0);
  reclaimer.connectionClosed();
  assert.equal(runs, 0, "never synchronously");
  await until("one collection", () => runs === 1);
  await sleep(100);
  assert.equal(runs, 1, "no further collection without closes");
  assert.equal(reclaimer.collections, 1);
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

Deno.test("reclaimer: disabled when no collector is available; registries report to it", async () => {
  let asked = 0;
  const off = new NativeMemoryReclaimer({ collector: () => (asked++, null), delayMs: 10 });
  off.connectionClosed();
  off.connectionClosed();
  await sleep(50);
  assert.equal(off.collections, 0);
  assert.equal(asked, 1, "the collector is looked up once");

  let runs = 0;
  const on = new NativeMemoryReclaimer({ collector: () => () => runs++, delayMs: 10 });
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
