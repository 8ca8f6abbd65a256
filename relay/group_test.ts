import assert from "node:assert/strict";
import {
  FRAME_CHUNK_MAX_BYTES,
  frameCost,
  Group,
  GROUP_OVERHEAD_BYTES,
  MAX_GROUP_CACHE_BYTES,
  MAX_GROUP_FRAMES,
  SMALL_FRAME_BYTES,
} from "./group.ts";

/** A group whose budget deltas are summed, as the origin's cache does. */
function budgeted(sequence = 0): { group: Group; charged: () => number } {
  let total = 0;
  const group = new Group(sequence, (cost) => (total += cost));
  return { group, charged: () => total };
}

Deno.test("frames are indexed from the group's first frame; state changes wake readers", async () => {
  const { group } = budgeted();
  const woken = group.changed();
  group.append(new Uint8Array([2, 0xaa, 0xbb]));
  await woken;
  group.append(new Uint8Array([0]));
  assert.equal(group.frameCount, 2);
  assert.deepEqual(group.frame(0), new Uint8Array([2, 0xaa, 0xbb]));
  assert.deepEqual(group.frame(1), new Uint8Array([0]));
  assert.equal(group.frame(2), undefined);
  group.finish();
  group.append(new Uint8Array([0]));
  assert.equal(group.frameCount, 2, "appends after finish are ignored");
  await group.changed(); // resolved at once once the group is done
});

Deno.test("small frames are copied into shared chunks; large frames are kept as given", () => {
  const { group } = budgeted();
  const small = new Uint8Array([3, 1, 2, 3]);
  group.append(small);
  small[1] = 99; // the caller may reuse its buffer
  assert.deepEqual(group.frame(0), new Uint8Array([3, 1, 2, 3]));
  group.append(new Uint8Array([1, 7]));
  assert.equal(group.frame(0)!.buffer, group.frame(1)!.buffer, "consecutive small frames share one chunk");
  const large = new Uint8Array(SMALL_FRAME_BYTES + 1);
  group.append(large);
  assert.equal(group.frame(2), large, "a large frame is not copied");
  // Any small size fits, also as the first frame of a fresh chunk (larger than the first chunk).
  const { group: fresh } = budgeted();
  for (const n of [SMALL_FRAME_BYTES, 3, SMALL_FRAME_BYTES - 1, 700, SMALL_FRAME_BYTES]) {
    const f = new Uint8Array(n).fill(n & 0xff);
    fresh.append(f);
    assert.deepEqual(fresh.frame(fresh.frameCount - 1), f, `a ${n}-byte frame is stored intact`);
  }
  // Chunks stay bounded however many small frames arrive.
  for (let i = 0; i < 2_000; i++) group.append(new Uint8Array(100));
  assert.ok(group.frame(2_002)!.buffer.byteLength <= FRAME_CHUNK_MAX_BYTES);
});

Deno.test("every frame and the group itself are charged; release returns all of it", () => {
  const { group, charged } = budgeted();
  assert.equal(charged(), GROUP_OVERHEAD_BYTES);
  group.append(new Uint8Array([0])); // a zero-length frame: 1 byte on the wire
  group.append(new Uint8Array(5000));
  assert.equal(group.bytes, frameCost(1) + frameCost(5000));
  assert.equal(charged(), GROUP_OVERHEAD_BYTES + frameCost(1) + frameCost(5000));
  group.release(2);
  assert.equal(charged(), 0);
  assert.equal(group.state, "aborted");
  assert.equal(group.abortCode, 2);
  group.release(2);
  assert.equal(charged(), 0, "release is idempotent");
});

Deno.test("at most MAX_GROUP_FRAMES frames are cached; zero-length floods stay bounded and fast", () => {
  const { group, charged } = budgeted();
  const extra = 100_000;
  const started = performance.now();
  for (let i = 0; i < MAX_GROUP_FRAMES + extra; i++) group.append(new Uint8Array([0]));
  const ms = performance.now() - started;
  assert.equal(group.cachedFrames, MAX_GROUP_FRAMES);
  assert.equal(group.dropped, extra);
  assert.equal(group.frame(extra - 1), undefined, "dropped frames are gone");
  assert.deepEqual(group.frame(extra), new Uint8Array([0]));
  assert.equal(charged(), GROUP_OVERHEAD_BYTES + MAX_GROUP_FRAMES * frameCost(1));
  assert.ok(ms < 5_000, `${MAX_GROUP_FRAMES + extra} appends took ${ms.toFixed(0)} ms (amortised O(1))`);
});

Deno.test("the byte budget drops the oldest frames but always keeps the newest", () => {
  const { group } = budgeted();
  const big = new Uint8Array(MAX_GROUP_CACHE_BYTES / 4);
  for (let i = 0; i < 6; i++) group.append(big);
  assert.ok(group.bytes <= MAX_GROUP_CACHE_BYTES);
  assert.equal(group.frameCount, 6);
  assert.ok(group.dropped >= 3);
  const huge = new Uint8Array(MAX_GROUP_CACHE_BYTES + 10);
  group.append(huge);
  assert.equal(group.cachedFrames, 1, "a single frame over the budget stays (it is the newest)");
  assert.equal(group.frame(6), huge);
});

/** An encoded frame (`vi53 size` + payload) of `payload` bytes (< 16 KiB) filled with `fill`. */
function encoded(payload: number, fill: number): Uint8Array {
  const out = new Uint8Array((payload < 64 ? 1 : 2) + payload);
  if (payload < 64) out[0] = payload;
  else {
    out[0] = 0x40 | (payload >> 8);
    out[1] = payload & 0xff;
  }
  out.fill(fill, out.length - payload);
  return out;
}

Deno.test("runs: frames cached back to back go out as one shared view of the cache", () => {
  const group = new Group(0, () => {}, 8 * 1024);
  const frames = Array.from({ length: 30 }, (_, i) => encoded(200, i));
  for (const f of frames) group.append(f);
  const run = group.run(0)!;
  assert.equal(run.count, 30, "a group sized like the last one lies in one chunk");
  assert.equal(run.start, 0);
  const expected = new Uint8Array(30 * 202);
  frames.forEach((f, i) => expected.set(f, i * 202));
  assert.deepEqual(run.bytes, expected, "exactly the GROUP stream bytes");
  assert.equal(run.cost, frames.reduce((n, f) => n + frameCost(f.length), 0));
  assert.equal(group.run(0), run, "readers at the same frame share one run");
  assert.equal(group.run(10)!.count, 20);
  group.append(encoded(200, 99));
  const longer = group.run(10)!;
  assert.notEqual(longer, run);
  assert.equal(longer.count, 21, "a run made before an append is not reused after it");
  assert.equal(group.run(31), undefined, "no such frame yet");
  // A large frame is kept apart: a run of one, the frame itself.
  const large = new Uint8Array(SMALL_FRAME_BYTES + 1);
  group.append(large);
  assert.equal(group.run(30)!.count, 1, "the run stops before a frame stored elsewhere");
  assert.equal(group.run(31)!.bytes, large);
});

Deno.test("runs: without a hint chunks double, and a run stops at a chunk's end", () => {
  const group = new Group(0);
  for (let i = 0; i < 30; i++) group.append(encoded(200, i));
  const counts: number[] = [];
  for (let n = 0; n < 30;) {
    const run = group.run(n)!;
    counts.push(run.count);
    n += run.count;
  }
  assert.ok(counts.length > 1, `several chunks: ${counts}`);
  assert.equal(counts.reduce((a, b) => a + b), 30);
});

Deno.test("runs: dropped frames are no longer served", () => {
  const group = new Group(0);
  for (let i = 0; i < MAX_GROUP_FRAMES + 2; i++) group.append(new Uint8Array([0]));
  assert.equal(group.dropped, 2);
  assert.equal(group.run(1), undefined);
  assert.equal(group.run(2)!.start, 2);
});

Deno.test("deferred wake: frames appended with wake false wake readers once, at wake()", async () => {
  const group = new Group(0);
  let woken = 0;
  group.changed().then(() => woken++);
  group.append(new Uint8Array([0]), undefined, false);
  group.append(new Uint8Array([0]), undefined, false);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(woken, 0, "not woken before wake()");
  assert.equal(group.frameCount, 2, "the frames are readable already");
  group.wake();
  await Promise.resolve();
  assert.equal(woken, 1);
  group.changed().then(() => woken++);
  group.wake(); // nothing new: no wake-up
  await Promise.resolve();
  assert.equal(woken, 1);
  group.append(new Uint8Array([0]), undefined, false);
  group.finish(); // finishing wakes them too
  await Promise.resolve();
  assert.equal(woken, 2);
});

Deno.test("prefixedRun: a header and the run in one buffer, shared by readers with the same key, charged while kept", () => {
  const { group, charged } = budgeted(9);
  group.hold();
  group.hold();
  for (let i = 0; i < 3; i++) group.append(new Uint8Array([2, i, i]));
  let made = 0;
  const header = (id: number) => (g: Group) => (made++, new Uint8Array([id, g.sequence]));
  const before = charged();
  const a = group.prefixedRun(0, 0n, header(0), 1024)!;
  assert.deepEqual([...a.bytes], [0, 9, 2, 0, 0, 2, 1, 1, 2, 2, 2]);
  assert.equal(a.count, 3);
  assert.equal(a.cost, group.run(0)!.cost, "the cost of the frames, as run() reports it");
  assert.equal(charged(), before + a.bytes.length, "the copy is charged while kept");
  assert.equal(group.prefixedRun(0, 0n, header(0), 1024), a, "same key, same frames: shared");
  assert.equal(made, 1, "the prefix is made once");
  const other = group.prefixedRun(0, 1n, header(1), 1024)!;
  assert.notEqual(other, a, "another key gets its own buffer");
  assert.deepEqual([...other.bytes.subarray(0, 3)], [1, 9, 2]);
  assert.equal(charged(), before + other.bytes.length, "one copy kept at a time");
  assert.equal(group.prefixedRun(0, 2n, header(2), 10), undefined, "larger than maxBytes");
  assert.equal(group.prefixedRun(3, 1n, header(1), 1024), undefined, "frame not cached");
  group.append(new Uint8Array([1, 7]));
  assert.equal(group.prefixedRun(0, 1n, header(1), 1024)!.count, 4, "a longer run once frames arrived");
  group.finish();
  group.unhold();
  assert.ok(charged() > before, "kept while a reader holds the group");
  group.unhold();
  assert.equal(charged(), before + frameCost(2), "let go with the last hold (the new frame's cost stays)");
  group.release(0);
  assert.equal(charged(), 0, "release returns everything");
});
