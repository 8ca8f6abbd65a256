import assert from "node:assert/strict";
import { BoundsError, DecodeError } from "../../codec/mod.ts";
import { DRAFTS } from "./draft.ts";
import {
  type Datagram,
  type DataObject,
  decodeDatagram,
  encodeDatagram,
  encodeFetchObject,
  encodeStreamHeader,
  encodeSubgroupObject,
  type FetchObject,
  isSubgroupType,
  ObjectStatus,
  readFetchObject,
  readStreamHeader,
  readSubgroupObject,
  type SubgroupHeader,
  type SubgroupIdMode,
} from "./data.ts";
import { EncodeError, IetfWriter } from "./wire.ts";
import { spacedHex } from "../../testing/mod.ts";

Deno.test("subgroup headers: every type variant round trips in every draft", () => {
  let n = 0;
  for (const d of DRAFTS) {
    for (const mode of ["zero", "firstObject", "explicit"] as SubgroupIdMode[]) {
      for (const extensions of [false, true]) {
        for (const endOfGroup of [false, true]) {
          for (const prio of d >= 15 ? [undefined, 200] : [200]) {
            for (const firstObjectBit of d >= 18 ? [false, true] : [false]) {
              const h: SubgroupHeader = {
                kind: "subgroup",
                trackAlias: 7,
                group: 1000,
                subgroupIdMode: mode,
                extensions,
                endOfGroup,
                firstObjectBit,
              };
              if (mode === "explicit") h.subgroup = 3;
              if (prio !== undefined) h.publisherPriority = prio;
              const bytes = encodeStreamHeader(h, d);
              assert.deepEqual(readStreamHeader(bytes, d), { header: h, size: bytes.length });
              for (let i = 0; i < bytes.length; i++) {
                assert.equal(readStreamHeader(bytes.subarray(0, i), d), null);
              }
              n++;
            }
          }
        }
      }
    }
  }
  assert.ok(n > 200);
});

Deno.test("subgroup header byte vectors and invalid types", () => {
  const h: SubgroupHeader = {
    kind: "subgroup",
    trackAlias: 1,
    group: 2,
    subgroupIdMode: "explicit",
    subgroup: 3,
    publisherPriority: 0x80,
    extensions: false,
    endOfGroup: false,
    firstObjectBit: false,
  };
  assert.equal(spacedHex(encodeStreamHeader(h, 14)), "14 01 02 03 80");
  assert.equal(spacedHex(encodeStreamHeader({ kind: "fetch", requestId: 9 }, 17)), "05 09");
  for (const t of [0x16, 0x17, 0x1e, 0x1f, 0x20, 0x2f, 0x00]) {
    assert.equal(isSubgroupType(t, 14), false, `0x${t.toString(16)}`);
    assert.throws(
      () => readStreamHeader(new IetfWriter(14).varint(t).varint(0).varint(0).finish(), 14),
      DecodeError,
    );
  }
  assert.equal(isSubgroupType(0x30, 14), false);
  assert.equal(isSubgroupType(0x30, 15), true);
  assert.equal(isSubgroupType(0x50, 17), false);
  assert.equal(isSubgroupType(0x50, 18), true);
  assert.throws(() => encodeStreamHeader({ ...h, firstObjectBit: true }, 17), EncodeError);
});

Deno.test("subgroup objects: delta ids, extensions and status round trip", () => {
  for (const d of DRAFTS) {
    const h: SubgroupHeader = {
      kind: "subgroup",
      trackAlias: 1,
      group: 0,
      subgroupIdMode: "zero",
      publisherPriority: 1,
      extensions: true,
      endOfGroup: true,
      firstObjectBit: false,
    };
    const objects: DataObject[] = [
      { objectId: 0, extensions: [{ type: 0x10, value: 123456 }], payload: new Uint8Array([1, 2, 3]) },
      { objectId: 1, extensions: [], payload: new Uint8Array([4]) },
      {
        objectId: 5,
        extensions: [{ type: 0x02, value: 1 }, { type: 0x0b, value: new Uint8Array([9]) }],
        payload: new Uint8Array([5]),
      },
      { objectId: 6, extensions: [], status: ObjectStatus.EndOfGroup, payload: new Uint8Array(0) },
    ];
    let prev: number | undefined;
    const chunks: Uint8Array[] = [];
    for (const o of objects) {
      chunks.push(encodeSubgroupObject(h, o, prev, d));
      prev = o.objectId;
    }
    // The third object's delta is 5 - 1 - 1 = 3.
    assert.equal(chunks[2][0], 3);
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of chunks) {
      all.set(c, off);
      off += c.length;
    }
    prev = undefined;
    off = 0;
    for (const o of objects) {
      const res: { object: DataObject; size: number } = readSubgroupObject(all.subarray(off), h, prev, d)!;
      assert.deepEqual(res.object, o);
      off += res.size;
      prev = o.objectId;
    }
    assert.equal(off, all.length);
    // Every strict prefix of an object is "need more bytes".
    for (let i = 0; i < chunks[0].length; i++) {
      assert.equal(readSubgroupObject(chunks[0].subarray(0, i), h, undefined, d), null);
    }
  }
});

Deno.test("subgroup objects: malformed forms are refused", () => {
  const h: SubgroupHeader = {
    kind: "subgroup",
    trackAlias: 1,
    group: 0,
    subgroupIdMode: "zero",
    publisherPriority: 1,
    extensions: false,
    endOfGroup: false,
    firstObjectBit: false,
  };
  for (const d of DRAFTS) {
    // DoesNotExist (1) is gone from draft-17.
    const dne = () =>
      readSubgroupObject(new IetfWriter(d).varint(0).varint(0).varint(1).finish(), h, undefined, d);
    if (d <= 16) assert.equal(dne()!.object.status, ObjectStatus.DoesNotExist);
    else assert.throws(dne, DecodeError);
    // Status 2 is not registered.
    assert.throws(
      () => readSubgroupObject(new IetfWriter(d).varint(0).varint(0).varint(2).finish(), h, undefined, d),
      DecodeError,
    );
    // Payload above the caller's cap.
    assert.throws(
      () => readSubgroupObject(new IetfWriter(d).varint(0).varint(1000).finish(), h, undefined, d, 100),
      BoundsError,
    );
    // Oversize extension block.
    const withExt = { ...h, extensions: true };
    assert.throws(
      () => readSubgroupObject(new IetfWriter(d).varint(0).varint(100000).finish(), withExt, undefined, d),
      BoundsError,
    );
    // Duplicate extension header.
    const dupExt = new IetfWriter(d).varint(0).varint(4).varint(2).varint(1).varint(d >= 16 ? 0 : 2).varint(1)
      .varint(1).u8(7);
    assert.throws(() => readSubgroupObject(dupExt.finish(), withExt, undefined, d), DecodeError);
    assert.throws(
      () => encodeSubgroupObject(h, { objectId: 1, extensions: [], payload: new Uint8Array(1) }, 1, d),
      EncodeError,
    );
  }
});

Deno.test("fetch streams: header and objects round trip in every draft", () => {
  for (const d of DRAFTS) {
    const hb = encodeStreamHeader({ kind: "fetch", requestId: 12 }, d);
    assert.deepEqual(readStreamHeader(hb, d), { header: { kind: "fetch", requestId: 12 }, size: hb.length });
    const objects: FetchObject[] = [
      {
        group: 1,
        subgroup: 0,
        objectId: 0,
        publisherPriority: 5,
        extensions: [],
        payload: new Uint8Array([1]),
      },
      {
        group: 1,
        subgroup: 0,
        objectId: 1,
        publisherPriority: 5,
        extensions: [],
        payload: new Uint8Array([2]),
      },
      {
        group: 1,
        subgroup: 1,
        objectId: 2,
        publisherPriority: 6,
        extensions: [],
        payload: new Uint8Array([3]),
      },
      {
        group: 2,
        subgroup: 4,
        objectId: 7,
        publisherPriority: 6,
        extensions: [{ type: 0x10, value: 99 }],
        payload: new Uint8Array([4, 5]),
      },
      {
        group: 2,
        subgroup: 4,
        objectId: 8,
        publisherPriority: 6,
        extensions: [],
        status: ObjectStatus.EndOfTrack,
        payload: new Uint8Array(0),
      },
    ];
    let prev: FetchObject | undefined;
    for (const o of objects) {
      const b = encodeFetchObject(o, prev, d);
      const res = readFetchObject(b, prev, d)!;
      assert.deepEqual(res.object, o, `draft-${d} object ${o.objectId}`);
      assert.equal(res.size, b.length);
      for (let i = 0; i < b.length; i++) assert.equal(readFetchObject(b.subarray(0, i), prev, d), null);
      prev = o;
    }
    if (d >= 15) {
      // A first object that leans on a previous one is malformed.
      assert.throws(
        () => readFetchObject(new IetfWriter(d).varint(0).varint(1).u8(0).finish(), undefined, d),
        DecodeError,
      );
      assert.throws(
        () => readFetchObject(new IetfWriter(d).varint(0x40).finish(), undefined, d),
        DecodeError,
      );
    }
  }
});

Deno.test("datagrams round trip in every draft; bad types are refused", () => {
  for (const d of DRAFTS) {
    const cases: Datagram[] = [
      {
        trackAlias: 3,
        group: 4,
        objectId: 5,
        publisherPriority: 9,
        extensions: [],
        payload: new Uint8Array([1, 2]),
        endOfGroup: false,
      },
      {
        trackAlias: 3,
        group: 4,
        objectId: 6,
        publisherPriority: 9,
        extensions: [{ type: 0x10, value: 7 }],
        payload: new Uint8Array([3]),
        endOfGroup: true,
      },
      {
        trackAlias: 3,
        group: 4,
        objectId: 7,
        publisherPriority: 9,
        extensions: [],
        status: ObjectStatus.EndOfGroup,
        payload: new Uint8Array(0),
        endOfGroup: false,
      },
    ];
    if (d >= 15) {
      cases.push({
        trackAlias: 3,
        group: 4,
        objectId: 0,
        extensions: [],
        payload: new Uint8Array([1]),
        endOfGroup: false,
      });
    }
    for (const c of cases) assert.deepEqual(decodeDatagram(encodeDatagram(c, d), d), c);
    assert.throws(
      () => decodeDatagram(new IetfWriter(d).varint(0x10).varint(0).varint(0).finish(), d),
      DecodeError,
    );
    assert.throws(
      () => decodeDatagram(new IetfWriter(d).varint(0x22).varint(0).varint(0).finish(), d),
      DecodeError,
    );
    // Status datagram with trailing bytes.
    const st = new IetfWriter(d).varint(0x20).varint(0).varint(0).varint(0).u8(1).varint(3).u8(0);
    assert.throws(() => decodeDatagram(st.finish(), d), DecodeError);
  }
  // The priority-absent bit (0x08) is not a draft-14 form.
  assert.throws(
    () => decodeDatagram(new IetfWriter(14).varint(0x08).varint(0).varint(0).finish(), 14),
    DecodeError,
  );
  // Object id 0 rides in the type (0x04) from draft-14 on.
  const zero: Datagram = {
    trackAlias: 1,
    group: 2,
    objectId: 0,
    publisherPriority: 4,
    extensions: [],
    payload: new Uint8Array([0xaa]),
    endOfGroup: false,
  };
  assert.equal(spacedHex(encodeDatagram(zero, 14)), "04 01 02 04 aa");
  assert.deepEqual(decodeDatagram(encodeDatagram(zero, 14), 14), zero);
  assert.equal(
    spacedHex(
      encodeDatagram({
        trackAlias: 1,
        group: 2,
        objectId: 3,
        publisherPriority: 4,
        extensions: [],
        payload: new Uint8Array([0xaa]),
        endOfGroup: false,
      }, 14),
    ),
    "00 01 02 03 04 aa",
  );
});
