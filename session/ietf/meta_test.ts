/** Unit tests of `SubgroupMeta`: what it keeps is charged to the group's cache budget, and the draft-17+ object header is encoded once per object. */

import assert from "node:assert/strict";
import { Group } from "../../relay/mod.ts";
import { SubgroupMeta } from "./_context.ts";
import { IetfReader, IetfWriter, readProperties, writeProperties } from "./wire.ts";

function budgeted(): { group: Group; cost: () => number } {
  let cost = 0;
  const group = new Group(0, (c) => (cost += c));
  return { group, cost: () => cost };
}

Deno.test("SubgroupMeta: kept object ids and properties are charged to the cache and refunded on release", () => {
  const { group, cost } = budgeted();
  const meta = new SubgroupMeta(0, 128, true, true);
  meta.attach(group);
  assert.equal(group.meta, meta);
  const base = cost();
  assert.ok(meta.record(0, 0, undefined));
  assert.equal(cost(), base, "dense ids cost nothing");
  assert.ok(meta.record(1, 5, new Uint8Array(1000)));
  assert.ok(cost() >= base + 1000 + 2 * 8, `ids and 1000 property bytes charged: ${cost() - base}`);
  const before = cost();
  const h = meta.leadingOnesHeader(1, 4, 300);
  assert.ok(cost() > before, "a memoised header is charged");
  group.release(0);
  assert.equal(cost(), 0, "everything is refunded when the cache lets the group go");
  assert.equal(h.length, 3);
});

Deno.test("SubgroupMeta: the draft-17+ object header is shared by every subscriber and decodes back", () => {
  const { group } = budgeted();
  const meta = new SubgroupMeta(0, 128, true, false);
  meta.attach(group);
  for (const [i, delta, length] of [[0, 0, 128], [1, 0, 70_000], [2, 3, 5_000_000], [3, 0, 0]]) {
    const a = meta.leadingOnesHeader(i, delta, length);
    const b = meta.leadingOnesHeader(i, delta, length);
    assert.equal(a, b, "the same bytes object for every subscriber");
    const r = new IetfReader(a, 18, "object header");
    assert.equal(r.varint(), delta);
    assert.equal(r.varint(), length);
    if (length === 0) assert.equal(r.varint(), 0, "status Normal");
    r.end("object header");
  }
});

Deno.test("SubgroupMeta: no header memo once the group dropped frames (the memo stays bounded)", () => {
  const { group } = budgeted();
  const meta = new SubgroupMeta(0, 128, true, false);
  meta.attach(group);
  group.dropped = 1;
  assert.notEqual(meta.leadingOnesHeader(5, 0, 200), meta.leadingOnesHeader(5, 0, 200));
});

Deno.test("SubgroupMeta: extension headers are re-encoded for a subscriber draft that codes properties differently", () => {
  const props = [{ type: 0x04, value: 300 }, { type: 0x02, value: 7 }, {
    type: 0x0b,
    value: Uint8Array.of(1, 2, 3),
  }];
  const w14 = new IetfWriter(14, 32);
  writeProperties(w14, props);
  const kept = w14.finish();
  const meta = new SubgroupMeta(0, 128, true, true, 14);
  assert.ok(meta.record(0, 0, kept));
  assert.equal(meta.extFor(0, 15), kept, "14 and 15 share the encoding: the kept bytes as they are");
  for (const draft of [16, 18] as const) {
    const out = meta.extFor(0, draft);
    assert.ok(out);
    const back = readProperties(new IetfReader(out, draft, "extension headers"));
    assert.deepEqual(back, [...props].sort((a, b) => a.type - b.type), `draft ${draft}`);
  }
});
