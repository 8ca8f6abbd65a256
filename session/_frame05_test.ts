import assert from "node:assert/strict";
import { Group } from "../relay/mod.ts";
import { timestampHeader05 } from "./_frame05.ts";

const hex = (b: Uint8Array | undefined) =>
  Array.from(b ?? [], (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("lite-05 frame headers: zigzag deltas of the cached timestamps, shared by every subscriber", () => {
  const g = new Group(0);
  g.append(Uint8Array.of(2, 0x68, 0x69), 1000n);
  g.append(Uint8Array.of(2, 0x68, 0x69), 1033n);
  g.append(Uint8Array.of(0), 1000n);
  // Vectors of draft-lcurley-moq-lite-05 (docs/lite05.md): 1000 first → zigzag 2000, +33 → 66, −33 → 65.
  const first = timestampHeader05(g, 0, null);
  assert.equal(hex(first), "47 d0");
  assert.equal(hex(timestampHeader05(g, 1, 1000n)), "40 42");
  assert.equal(hex(timestampHeader05(g, 2, 1033n)), "40 41");
  // A second subscriber gets the very same buffers: encoded once per frame, not per subscriber.
  assert.equal(timestampHeader05(g, 0, null), first);
  assert.equal(timestampHeader05(g, 1, 1000n), g.frameHeader(1));
  // A stream that starts mid-group carries the absolute value, not the shared delta.
  assert.equal(hex(timestampHeader05(g, 1, null)), "48 12");
  assert.equal(hex(g.frameHeader(1)), "40 42", "the shared delta is untouched");
});

Deno.test("lite-05 frame headers: frames without a publisher timestamp carry their arrival time in ms", () => {
  const before = BigInt(Date.now());
  const g = new Group(3);
  g.append(Uint8Array.of(0));
  const ts = g.timestamp(0)!;
  assert.ok(ts >= before && ts <= BigInt(Date.now()));
  assert.equal(timestampHeader05(g, 1, null), undefined, "no such frame");
});
