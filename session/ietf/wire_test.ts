import assert from "node:assert/strict";
import { Varint } from "../../testing/moq_net.ts";
import { BoundsError, DecodeError } from "../../codec/mod.ts";
import { draftAlpn, draftFromAlpn, draftFromVersion, DRAFTS, draftVersion } from "./draft.ts";
import {
  encodeDraftVarint,
  IetfReader,
  IetfWriter,
  leadingOnesSize,
  ParameterError,
  readNamespace,
  readParams,
  readSetupOptions,
  writeNamespace,
  writeParams,
} from "./wire.ts";
import { spacedHex } from "../../testing/mod.ts";

Deno.test("leading-ones varints: known vectors (draft-17 §1.4.1)", () => {
  assert.deepEqual(spacedHex(encodeDraftVarint(17, 0)), "00");
  assert.deepEqual(spacedHex(encodeDraftVarint(17, 127)), "7f");
  assert.deepEqual(spacedHex(encodeDraftVarint(17, 128)), "80 80");
  assert.deepEqual(spacedHex(encodeDraftVarint(17, 16383)), "bf ff");
  assert.deepEqual(spacedHex(encodeDraftVarint(17, 16384)), "c0 40 00");
  assert.deepEqual(spacedHex(encodeDraftVarint(17, 0x2f00)), "af 00");
  assert.deepEqual(spacedHex(encodeDraftVarint(14, 0x2f00)), "6f 00");
});

Deno.test("leading-ones varints match @moq/net 0.3.4 and round trip", () => {
  const values = [0, 1, 63, 64, 127, 128, 300, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28];
  values.push(2 ** 35 - 1, 2 ** 35, 2 ** 42 - 1, 2 ** 42, 2 ** 49, Number.MAX_SAFE_INTEGER, 0xff000011);
  for (const v of values) {
    const mine = encodeDraftVarint(18, v);
    assert.deepEqual(spacedHex(mine), spacedHex(Varint.encodeLeadingOnes(v)), `value ${v}`);
    assert.deepEqual(mine.length, leadingOnesSize(v));
    for (const d of DRAFTS) {
      const b = encodeDraftVarint(d, v);
      const r = new IetfReader(b, d);
      assert.deepEqual(r.varint(), v);
      assert.deepEqual(r.remaining, 0);
    }
  }
});

Deno.test("leading-ones: the 7-byte form is reserved in draft-17, read in 18+", () => {
  const seven = new Uint8Array([0xfc, 0, 0, 0, 0, 1, 0]);
  assert.throws(
    () => new IetfReader(seven, 17).varint(),
    (e) => e instanceof DecodeError && e.message.includes("reserved"),
  );
  assert.deepEqual(new IetfReader(seven, 18).varint(), 256);
  // Above 2^53 - 1 is refused rather than rounded.
  assert.throws(
    () => new IetfReader(new Uint8Array([0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]), 18).varint(),
    DecodeError,
  );
  assert.throws(
    () => new IetfReader(new Uint8Array([0xc0, 0x40]), 18).varint(),
    (e) => e instanceof DecodeError && e.message.includes("truncated"),
  );
});

Deno.test("draft versions and ALPNs", () => {
  assert.deepEqual(draftVersion(14), 0xff00000e);
  assert.deepEqual(draftFromVersion(0xff000014), 20);
  assert.deepEqual(draftFromVersion(0xff000015), undefined);
  assert.deepEqual(draftAlpn(14), "moq-00");
  assert.deepEqual(draftAlpn(17), "moqt-17");
  assert.deepEqual(draftFromAlpn("moqt-20"), 20);
  assert.deepEqual(draftFromAlpn("moqt-14"), undefined);
  assert.deepEqual(draftFromAlpn("moq-lite-05"), undefined);
});

Deno.test("namespace tuples: bounds", () => {
  for (const d of DRAFTS) {
    const w = new IetfWriter(d);
    writeNamespace(w, ["a", "bc", ""]);
    assert.deepEqual(readNamespace(new IetfReader(w.finish(), d)), ["a", "bc", ""]);
    const many = new IetfWriter(d).varint(33);
    assert.throws(() => readNamespace(new IetfReader(many.finish(), d)), BoundsError);
    const big = new IetfWriter(d).varint(2);
    big.string("x".repeat(3000)).string("y".repeat(3000));
    assert.throws(() => readNamespace(new IetfReader(big.finish(), d)), BoundsError);
  }
});

Deno.test("parameters: duplicates, forms and counts are checked", () => {
  // Draft-14: absolute types, duplicate refused.
  const dup14 = new IetfWriter(14).varint(2).varint(2).varint(1).varint(2).varint(5);
  assert.throws(
    () => readParams(new IetfReader(dup14.finish(), 14)),
    (e) => e instanceof ParameterError && e.message.includes("twice"),
  );
  // Draft-16: delta 0 after the first is a duplicate.
  const dup16 = new IetfWriter(16).varint(2).varint(2).varint(1).varint(0).varint(5);
  assert.throws(
    () => readParams(new IetfReader(dup16.finish(), 16)),
    (e) => e instanceof ParameterError && e.message.includes("twice"),
  );
  // Draft-17+: an unknown even type cannot be skipped.
  const unknown = new IetfWriter(17).varint(1).varint(0x40).varint(1);
  assert.throws(
    () => readParams(new IetfReader(unknown.finish(), 17)),
    (e) => e instanceof ParameterError && e.message.includes("unknown"),
  );
  // Draft-17+: FORWARD is a bool byte.
  const badBool = new IetfWriter(18).varint(1).varint(0x10).u8(2);
  assert.throws(
    () => readParams(new IetfReader(badBool.finish(), 18)),
    (e) => e instanceof DecodeError && e.message.includes("must be 0 or 1"),
  );
  // Too many.
  assert.throws(() => readParams(new IetfReader(new IetfWriter(15).varint(65).finish(), 15)), BoundsError);
  // Oversize value length.
  const huge = new IetfWriter(15).varint(1).varint(3).varint(100000);
  assert.throws(() => readParams(new IetfReader(huge.finish(), 15)), BoundsError);
  // Setup options: duplicate refused in the count-less form too.
  const dupSetup = new IetfWriter(17).varint(2).varint(1).varint(0).varint(1);
  assert.throws(
    () => readSetupOptions(new IetfReader(dupSetup.finish(), 17)),
    (e) => e instanceof ParameterError && e.message.includes("twice"),
  );
  // Round trip of typed forms.
  for (const d of DRAFTS) {
    const params = [{ type: 0x02, value: 300 }, { type: 0x03, value: new Uint8Array([1, 2]) }, {
      type: 0x10,
      value: 1,
    }, { type: 0x20, value: 200 }];
    const w = new IetfWriter(d);
    writeParams(w, params);
    assert.deepEqual(readParams(new IetfReader(w.finish(), d)), params);
  }
});
