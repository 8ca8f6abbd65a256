import assert from "node:assert/strict";
import { BodyReader, concatBytes, Writer } from "../codec/mod.ts";
import { frameCost, Group, MAX_GROUP_FRAMES } from "../relay/mod.ts";
import { type Run05, run05 } from "./_frame05.ts";
import {
  decodeFrame05,
  EncodeError05,
  encodeFrame05,
  FrameTimestampDecoder,
  FrameTimestampEncoder,
} from "./lite05.ts";

const hex = (b: Uint8Array | undefined) =>
  Array.from(b ?? [], (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("lite-05 frames: zigzag deltas of the cached timestamps; a mid-group start is absolute", () => {
  const g = new Group(0);
  g.append(Uint8Array.of(2, 0x68, 0x69), 1000n);
  g.append(Uint8Array.of(2, 0x68, 0x69), 1033n);
  g.append(Uint8Array.of(0), 1000n);
  // Vectors of draft-lcurley-moq-lite-05 (docs/lite05.md): 1000 first → zigzag 2000, +33 → 66, −33 → 65.
  assert.equal(hex(run05(g, 0, true)?.bytes), "47 d0 02 68 69 40 42 02 68 69 40 41 00");
  // A stream that starts mid-group carries the absolute value, not the shared delta.
  const mid = run05(g, 1, true)!;
  assert.equal(hex(mid.bytes), "48 12");
  assert.equal(mid.tail, g.frame(1));
  assert.equal(hex(run05(g, 1, false)?.bytes), "40 42 02 68 69 40 41 00", "the shared deltas are untouched");
});

Deno.test("lite-05 frames: frames without a publisher timestamp carry their arrival time in ms", () => {
  const before = BigInt(Date.now());
  const g = new Group(3);
  g.append(Uint8Array.of(0));
  const ts = g.timestamp(0)!;
  assert.ok(ts >= before && ts <= BigInt(Date.now()));
  assert.equal(run05(g, 1, true), undefined, "no such frame");
  assert.equal(run05(g, 1, false), undefined, "no such frame");
});

/** Every frame of `runs` decoded with the lite-05 reader: [timestamp, payload length] each. */
function decodeRuns(runs: Run05[]): [bigint, number][] {
  const bytes = concatBytes(runs.flatMap((r) => (r.tail ? [r.bytes, r.tail] : [r.bytes])));
  const reader = new BodyReader(bytes, "frames");
  const clock = new FrameTimestampDecoder();
  const out: [bigint, number][] = [];
  while (reader.remaining > 0) {
    const f = decodeFrame05(reader, clock, 1 << 20);
    out.push([f.timestamp, f.payload.length]);
  }
  return out;
}

/** Read every run from frame `n` on, as a subscriber does. */
function readAll(g: Group, n: number): Run05[] {
  const runs: Run05[] = [];
  const start = n;
  while (n < g.frameCount) {
    const run = run05(g, n, n === start);
    assert.ok(run, `frame ${n} is served`);
    runs.push(run);
    n += run.count;
  }
  return runs;
}

Deno.test("lite-05 runs: frames cached back to back go out as one shared write, byte-exact", () => {
  let cost = 0;
  const g = new Group(0, (c) => (cost += c));
  g.append(Uint8Array.of(2, 0x68, 0x69), 1000n);
  g.append(Uint8Array.of(2, 0x68, 0x69), 1033n);
  g.append(Uint8Array.of(0), 1000n);
  const run = run05(g, 0, true)!;
  assert.equal(run.count, 3);
  assert.equal(run.tail, null);
  assert.equal(hex(run.bytes), "47 d0 02 68 69 40 42 02 68 69 40 41 00");
  assert.equal(run.frameBytes, 7);
  assert.equal(run.cost, frameCost(3) + frameCost(3) + frameCost(1));
  // Every subscriber at frame 0 gets the very same run: encoded once, not per subscriber.
  assert.equal(run05(g, 0, true), run);
  // A subscriber further on gets the rest of the same bytes (a view, not a copy).
  const rest = run05(g, 1, false)!;
  assert.equal(hex(rest.bytes), "40 42 02 68 69 40 41 00");
  assert.equal(rest.bytes.buffer, run.bytes.buffer);
  // A frame appended later extends the encoding; its delta is against the previous frame.
  g.append(Uint8Array.of(1, 0x21), 1040n);
  assert.equal(hex(run05(g, 3, false)!.bytes), "40 50 01 21");
  // The encoding is charged to the group's budget and leaves it with the group.
  const before = cost;
  g.release(0);
  assert.ok(before > 0);
  assert.equal(cost, 0);
});

Deno.test("lite-05 runs: a large frame is encoded once into a buffer of its own, one write", () => {
  const g = new Group(0);
  const big = new Uint8Array(10_002);
  big.set([0x67, 0x10, 0xaa]); // vi53 size 10000, then the payload
  g.append(Uint8Array.of(1, 7), 5n);
  g.append(big, 6n);
  g.append(Uint8Array.of(1, 8), 8n);
  const runs = readAll(g, 0);
  assert.deepEqual(runs.map((r) => r.count), [1, 1, 1]);
  assert.equal(hex(runs[1].bytes.subarray(0, 4)), "02 67 10 aa");
  assert.equal(runs[1].bytes.length, 1 + big.length);
  assert.equal(runs[1].tail, null);
  assert.equal(runs[1].frameBytes, big.length);
  assert.equal(readAll(g, 0)[1].bytes, runs[1].bytes, "the same bytes for the next subscriber");
  assert.deepEqual(decodeRuns(runs), [[5n, 1], [6n, 10_000], [8n, 1]]);
});

Deno.test("lite-05 runs: a stream starting mid-group carries its first timestamp absolute, then the shared deltas", () => {
  let cost = 0;
  const g = new Group(0, (c) => (cost += c));
  // An encoding built while the group still has frame 0 ...
  g.append(Uint8Array.of(0), 100n);
  assert.ok(run05(g, 0, true));
  // ... then the group overflows its frame cap and drops its oldest frames.
  for (let i = 1; i < MAX_GROUP_FRAMES + 5; i++) g.append(Uint8Array.of(0), 100n + BigInt(i));
  assert.equal(g.dropped, 5);
  assert.equal(run05(g, 4, false), undefined, "a dropped frame is lagged");
  const runs = readAll(g, g.dropped);
  assert.equal(runs[0].tail, g.frame(5), "the first frame alone");
  assert.equal(hex(runs[0].bytes), "40 d2", "absolute 105 → zigzag 210");
  const decoded = decodeRuns(runs);
  assert.equal(decoded.length, MAX_GROUP_FRAMES);
  assert.ok(decoded.every(([ts], i) => ts === 105n + BigInt(i)), "every timestamp survives");
  // The encoding followed the group's drops: what it charges stays bounded by the group's frames.
  const perFrame = (cost - g.bytes) / MAX_GROUP_FRAMES;
  assert.ok(perFrame < 200, `encoding costs ${perFrame} bytes per frame`);
  // A group that dropped frames before any lite-05 reader came: the encoding starts after the first.
  const h = new Group(1);
  for (let i = 0; i < MAX_GROUP_FRAMES + 3; i++) h.append(Uint8Array.of(0), BigInt(i));
  assert.deepEqual(decodeRuns(readAll(h, h.dropped)).slice(0, 2), [[3n, 0], [4n, 0]]);
});

Deno.test("lite-05 runs: a timestamp delta beyond 62 bits fails the readers of that frame, not of the ones before", () => {
  let cost = 0;
  const g = new Group(0, (c) => (cost += c));
  g.append(Uint8Array.of(0), 0n);
  g.append(Uint8Array.of(0), (1n << 62n) - 1n); // zigzag of +2^62-1 needs 63 bits
  assert.equal(run05(g, 0, true)?.count, 1, "the frames before it are served");
  assert.throws(() => run05(g, 1, false), EncodeError05);
  assert.throws(() => run05(g, 1, false), EncodeError05);
  g.release(0);
  assert.equal(cost, 0, "nothing charged is left behind");
});

Deno.test("lite-05 runs: timestamps across 2^53 (numbers below, bigints above) stay exact, small and large frames", () => {
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  const stamps = [5n, safe, safe + 10n, 1n << 60n, 7n, 1n << 61n, 3n, safe - 1n];
  const g = new Group(0);
  stamps.forEach((ts, i) =>
    g.append(new Writer().varint(i % 2 ? 5000 : 1).bytes(new Uint8Array(i % 2 ? 5000 : 1)).finish(), ts)
  );
  const decoded = decodeRuns(readAll(g, 0));
  assert.deepEqual(decoded, stamps.map((ts, i) => [ts, i % 2 ? 5000 : 1]));
  // The bytes are what the lite-05 encoder writes for the same frames.
  const clock = new FrameTimestampEncoder();
  const want = concatBytes(stamps.map((ts, i) => encodeFrame05(clock, ts, new Uint8Array(i % 2 ? 5000 : 1))));
  const runs = readAll(g, 0);
  assert.deepEqual(concatBytes(runs.flatMap((r) => (r.tail ? [r.bytes, r.tail] : [r.bytes]))), want);
});
