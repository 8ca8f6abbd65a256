import assert from "node:assert/strict";
import { encodeGroupHeader } from "../session/mod.ts";
import { DEFAULT_FRAME_SIZES, parseOptions } from "./options.ts";
import { CLOSED_LOOP_MAX_WINDOW_GROUPS, CLOSED_LOOP_WINDOW_GROUPS, closedLoopWindow } from "./rig.ts";
import { ratioChart } from "./chart.ts";
import { formatWhole, pooledWholeFraction, sizeDetails, sizeRows } from "./report.ts";
import type { PhaseResult } from "./rig.ts";
import {
  encodeStampedFrame,
  FRAMES_PER_GROUP,
  frameSize,
  KEY_FRAME_BYTES,
  MAX_DELTA_FRAME_BYTES,
  MIN_DELTA_FRAME_BYTES,
  nominalBytesPerSecond,
} from "./media.ts";
import { GroupScanError, GroupScanner } from "./scan.ts";
import { median, percentile, readRssBytes } from "./stats.ts";
import { concat } from "../testing/mod.ts";

Deno.test("frame sizes are media-like: a key frame, then deltas in range, ~1 MiB/s nominal", () => {
  for (let g = 0; g < 4; g++) {
    assert.equal(frameSize(g, 0), KEY_FRAME_BYTES);
    for (let i = 1; i < FRAMES_PER_GROUP; i++) {
      const size = frameSize(g, i);
      assert.ok(size >= MIN_DELTA_FRAME_BYTES && size <= MAX_DELTA_FRAME_BYTES, `frame ${g}/${i}: ${size}`);
    }
  }
  const rate = nominalBytesPerSecond() / (1024 * 1024);
  assert.ok(rate > 0.8 && rate < 1.3, `nominal rate ${rate} MiB/s`);
});

Deno.test("the scanner parses a GROUP stream split at every possible byte boundary", () => {
  const frames = [encodeStampedFrame(8, 1000.5), encodeStampedFrame(300, 2000.25), encodeStampedFrame(70, 3)];
  const stream = concat([encodeGroupHeader({ subscribeId: 7n, sequence: 42 }), ...frames]);
  for (let cut = 1; cut < stream.length; cut++) {
    const scanner = new GroupScanner();
    const seen: Array<[number, number]> = [];
    scanner.push(stream.subarray(0, cut), (size, stamp) => seen.push([size, stamp]));
    scanner.push(stream.subarray(cut), (size, stamp) => seen.push([size, stamp]));
    assert.deepEqual(seen, [[8, 1000.5], [300, 2000.25], [70, 3]], `cut at ${cut}`);
    assert.equal(scanner.sequence, 42);
    assert.equal(scanner.subscribeId, 7);
    assert.ok(scanner.atBoundary);
  }
});

Deno.test("the scanner reports a stream cut inside a frame and rejects a wrong stream type", () => {
  const stream = concat([encodeGroupHeader({ subscribeId: 0n, sequence: 1 }), encodeStampedFrame(100, 5)]);
  const scanner = new GroupScanner();
  let frames = 0;
  scanner.push(stream.subarray(0, stream.length - 10), () => frames++);
  assert.equal(frames, 0);
  assert.equal(scanner.atBoundary, false);
  assert.throws(() => new GroupScanner().push(Uint8Array.of(1, 2, 3), () => {}), GroupScanError);
});

Deno.test("median and percentile use nearest rank", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 10);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("RSS of this process is read from /proc", () => {
  const rss = readRssBytes(Deno.pid);
  assert.ok(rss > 10 * 1024 * 1024 && rss < 8 * 1024 ** 3, `rss ${rss}`);
});

Deno.test("options: defaults and flags", () => {
  const d = parseOptions([]);
  assert.equal(d.runs, 3);
  assert.equal(d.subscribers, 50);
  assert.equal(d.churnMs, 60_000);
  assert.equal(d.only, null);
  assert.equal(d.cpuProfDir, null);
  const o = parseOptions(["--runs=1", "--only=fanout,churn", "--churn-seconds=300", "--cpu-prof=/tmp/p"]);
  assert.equal(o.runs, 1);
  assert.deepEqual([...o.only!], ["fanout", "churn"]);
  assert.equal(o.churnMs, 300_000);
  assert.equal(o.cpuProfDir, "/tmp/p");
  assert.throws(() => parseOptions(["--runs=zero"]), /--runs/);
  assert.throws(() => parseOptions(["--transports=udp"]), /udp/);
});

Deno.test("options: --quick and the frame-size flags", () => {
  const q = parseOptions(["--quick"]);
  assert.equal(q.runs, 1);
  assert.equal(q.measureMs, 3_000);
  assert.deepEqual([...q.only!], ["sizes", "wide", "fanout", "memory"]);
  assert.deepEqual(q.frameSizes, DEFAULT_FRAME_SIZES);
  const o = parseOptions([
    "--frame-sizes=200,1024",
    "--kinds=base,relay",
    "--base-dir=/tmp/x",
    "--no-overload",
  ]);
  assert.deepEqual(o.frameSizes, [200, 1024]);
  assert.deepEqual(o.kinds, ["base", "relay"]);
  assert.equal(o.baseDir, "/tmp/x");
  assert.equal(o.overload, false);
  assert.equal(o.overloadOnly, false);
  assert.equal(parseOptions(["--overload-only"]).overloadOnly, true);
  assert.throws(() => parseOptions(["--kinds=base"]), /--base-dir/);
  assert.throws(() => parseOptions(["--frame-sizes=2"]), /frame-sizes/);
});

Deno.test("closed-loop window: ~512 KiB per subscriber for small frames, 2 groups for large or media frames", () => {
  assert.equal(closedLoopWindow(0), CLOSED_LOOP_WINDOW_GROUPS);
  assert.equal(closedLoopWindow(102_400), CLOSED_LOOP_WINDOW_GROUPS);
  assert.equal(closedLoopWindow(16_384), CLOSED_LOOP_WINDOW_GROUPS);
  assert.equal(closedLoopWindow(1024), CLOSED_LOOP_MAX_WINDOW_GROUPS);
  assert.equal(closedLoopWindow(4096), 5);
});

Deno.test("the ratio chart is one SVG with a bar per ratio and the 0.9 line", () => {
  const svg = ratioChart([
    { label: "QUIC 1KiB", throughputRatio: 0.5, efficiencyRatio: 0.8 },
    { label: "WS 200B", throughputRatio: 1.2, efficiencyRatio: Number.NaN },
  ], "a < b");
  assert.ok(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
  assert.equal(svg.match(/<rect x="\d+" y="[\d.]+" width="22"/g)?.length, 3, "NaN draws no bar");
  assert.ok(svg.includes("a &lt; b"));
  assert.ok(svg.includes('stroke="#c00"'));
});

function phase(cpuPercent: number, bytesPerSecond: number, ended: number, whole: number): PhaseResult {
  return {
    deliveredBytesPerSecond: bytesPerSecond,
    deliveredFramesPerSecond: bytesPerSecond / 1024,
    groupsEnded: ended,
    groupsWhole: whole,
    groupsClean: ended,
    perSubscriberMedian: 0,
    perSubscriberMin: 0,
    slowPerSubscriber: [],
    latencyP50Ms: 0,
    latencyP99Ms: 0,
    latencySamples: 0,
    serverCpuPercent: cpuPercent,
    clientCpuPercent: [],
    serverRssBytes: 0,
    publishedBytes: 0,
    publishedGroups: 0,
    errors: 0,
  };
}

Deno.test("overload whole groups: a window in which no group ended reads as such, never NaN %", () => {
  assert.ok(Number.isNaN(pooledWholeFraction([phase(50, 1e8, 0, 0)])));
  assert.equal(pooledWholeFraction([phase(50, 1e8, 0, 0), phase(50, 1e8, 10, 9)]), 0.9);
  assert.equal(formatWhole(NaN), "no group ended in the window");
  assert.equal(formatWhole(0.969), "97 % whole");
  const run = (kind: "relay" | "raw", overload: PhaseResult | null) => ({
    transport: "quic" as const,
    kind,
    frameBytes: 16384,
    subscribers: 50,
    loaded: phase(60, 1.5e8, 100, 100),
    overload,
  });
  const runs = [run("relay", phase(60, 6e7, 0, 0)), run("raw", null)];
  const row = sizeRows(runs, []).find((r) => r.figure.startsWith("Overload"));
  assert.ok(row, "an overload row");
  assert.ok(!row.relay.includes("NaN"), row.relay);
  assert.ok(row.relay.includes("no group ended"), row.relay);
  assert.equal(row.met, false, "no whole group seen: not met");
  const table = sizeDetails(runs, "t").join("\n");
  assert.ok(!table.includes("NaN"), table);
  assert.ok(table.includes("none ended"), table);
});
