import assert from "node:assert/strict";
import {
  FRAME_CHUNK_MAX_BYTES,
  FRAME_HEADER_OVERHEAD_BYTES,
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

Deno.test("memoised frame headers are copied, charged, uncharged when their frame drops, released", () => {
  const { group, charged } = budgeted();
  for (let i = 0; i < MAX_GROUP_FRAMES; i++) group.append(new Uint8Array([0]), BigInt(i));
  const frames = GROUP_OVERHEAD_BYTES + MAX_GROUP_FRAMES * frameCost(1);
  assert.equal(charged(), frames);
  const header = Uint8Array.of(0x40, 0x7f);
  group.setFrameHeader(0, header);
  group.setFrameHeader(1, Uint8Array.of(2));
  header[0] = 0; // the group kept its own copy
  assert.deepEqual(group.frameHeader(0), Uint8Array.of(0x40, 0x7f));
  group.setFrameHeader(0, Uint8Array.of(9)); // already set: ignored, not charged twice
  assert.deepEqual(group.frameHeader(0), Uint8Array.of(0x40, 0x7f));
  const two = 2 * FRAME_HEADER_OVERHEAD_BYTES + 3;
  assert.equal(group.headerBytes, two);
  assert.equal(charged(), frames + two);
  group.append(new Uint8Array([0]), 99n); // frame 0 drops, and with it its header's charge
  assert.equal(group.frameHeader(0), undefined);
  assert.equal(charged(), frames + FRAME_HEADER_OVERHEAD_BYTES + 1);
  group.setFrameHeader(0, Uint8Array.of(1)); // a dropped frame takes no header
  assert.equal(charged(), frames + FRAME_HEADER_OVERHEAD_BYTES + 1);
  group.release(0);
  assert.equal(charged(), 0);
});
