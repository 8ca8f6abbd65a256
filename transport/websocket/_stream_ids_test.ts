import assert from "node:assert/strict";
import { PeerStreamIds, streamDir, streamId, StreamIdGapError, streamIndex } from "./_stream_ids.ts";

Deno.test("stream ids follow the QUIC layout", () => {
  assert.equal(streamId(0, "bidi", false), 0);
  assert.equal(streamId(0, "bidi", true), 1);
  assert.equal(streamId(1, "uni", false), 6);
  assert.equal(streamId(2, "uni", true), 11);
  assert.equal(streamDir(6), "uni");
  assert.equal(streamIndex(11), 2);
});

Deno.test("PeerStreamIds tracks out-of-order ids as ranges", () => {
  const ids = new PeerStreamIds(100);
  assert.ok(ids.use("uni", 10)); // skips 0..9
  assert.equal(ids.gapCount, 10);
  assert.equal(ids.gapRanges, 1);
  assert.ok(ids.use("uni", 5)); // splits the range
  assert.equal(ids.gapRanges, 2);
  assert.ok(ids.use("uni", 0));
  assert.ok(ids.use("uni", 9));
  assert.equal(ids.gapCount, 7);
  assert.ok(!ids.use("uni", 5), "an id is used once");
  assert.ok(!ids.use("uni", 10));
  assert.ok(ids.isUnused("uni", 3));
  assert.ok(!ids.isUnused("uni", 10));
  assert.ok(ids.isUnused("uni", 11));
  assert.ok(ids.isUnused("bidi", 0), "directions are separate");
  for (const i of [1, 2, 3, 4, 6, 7, 8]) assert.ok(ids.use("uni", i));
  assert.equal(ids.gapCount, 0);
  assert.equal(ids.gapRanges, 0);
  assert.equal(ids.next("uni"), 11);
});

Deno.test("PeerStreamIds caps the total of unused ids across jumps and directions", () => {
  const ids = new PeerStreamIds(10_000);
  assert.ok(ids.use("uni", 6_000));
  assert.throws(() => ids.use("bidi", 5_000), StreamIdGapError);
  assert.equal(ids.gapCount, 6_000, "a refused jump changes nothing");
  assert.ok(ids.use("bidi", 4_000));
  assert.throws(() => ids.use("uni", 6_002), /leave 10001 stream ids unused/);
  // Many small jumps are counted together, not one by one.
  const small = new PeerStreamIds(100);
  for (let i = 0; i < 20; i++) small.use("uni", i * 6 + 5);
  assert.throws(() => small.use("uni", 200), StreamIdGapError);
});
