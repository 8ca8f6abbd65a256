import assert from "node:assert/strict";
import { BoundsError, DecodeError } from "../../codec/mod.ts";
import { type Draft, DRAFTS } from "./draft.ts";
import {
  type ControlKind,
  controlKinds,
  type ControlMessage,
  decodeControl,
  decodeControlFrame,
  encodeControl,
  type Filter,
  readControlFrame,
  UnknownMessageError,
} from "./control.ts";
import { EncodeError, IetfWriter, type Param, ParameterError, writeNamespace } from "./wire.ts";
import { spacedHex } from "../../testing/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A sample of `kind` for `draft` carrying every field the draft has, so round trips are exact. */
function sample(kind: ControlKind, d: Draft): ControlMessage {
  const rid = d <= 16 ? { requestId: 2 } : {};
  const rrid = d === 17 ? { requiredRequestIdDelta: 1 } : {};
  const props: Param[] = d >= 16 ? [{ type: 0x08, value: 1_000_000 }, { type: 0x0b, value: enc("p") }] : [];
  const params: Param[] = [{ type: 0x02, value: 500 }, { type: 0x03, value: enc("token") }];
  const ns = ["live", "room"];
  switch (kind) {
    case "clientSetup":
      return {
        kind,
        versions: d === 14 ? [0xff00000e, 0xff00000f] : [],
        options: [{ type: 1, value: enc("/room") }, { type: 2, value: 100 }],
      };
    case "serverSetup":
      return { kind, version: d === 14 ? 0xff00000e : 0, options: [{ type: 2, value: 100 }] };
    case "setup":
      return { kind, options: [{ type: 1, value: enc("/room") }, { type: 7, value: enc("deno") }] };
    case "goaway":
      if (d === 18) return { kind, uri: "https://other/", timeout: 5000, requestId: 12 };
      return d >= 17 ? { kind, uri: "https://other/", timeout: 5000 } : { kind, uri: "https://other/" };
    case "maxRequestId":
      return { kind, requestId: 42 };
    case "requestsBlocked":
      return { kind, maxRequestId: 42 };
    case "subscribe":
      return {
        kind,
        requestId: 4,
        ...rrid,
        namespace: ns,
        name: "video",
        subscriberPriority: 7,
        groupOrder: 1,
        forward: true,
        filter: { type: "absoluteRange", start: { group: 5, object: 1 }, endGroup: 9 },
        params,
      };
    case "trackStatus":
      if (d === 14) return { ...sample("subscribe", d), kind } as ControlMessage;
      return { kind, requestId: 4, ...rrid, namespace: ns, name: "video", params };
    case "subscribeOk":
    case "trackStatusOk":
      return {
        kind,
        ...rid,
        trackAlias: 9,
        expires: 1000,
        groupOrder: 2,
        largest: { group: 3, object: 4 },
        params: [{ type: 0x04, value: 60000 }],
        properties: props,
      };
    case "subscribeError":
    case "publishError":
    case "publishNamespaceError":
    case "subscribeNamespaceError":
    case "trackStatusError":
    case "fetchError":
      return { kind, requestId: 2, code: 4, reason: "nope" };
    case "requestError":
      return {
        kind,
        ...rid,
        code: 0x10,
        ...(d >= 16 ? { retryInterval: 1000 } : {}),
        reason: "no such track",
      };
    case "requestOk":
      return { kind, ...rid, params: [{ type: 0x08, value: 5 }], properties: props };
    case "requestUpdate":
      if (d === 14) {
        return {
          kind,
          requestId: 4,
          existingRequestId: 2,
          start: { group: 1, object: 2 },
          endGroup: 8,
          subscriberPriority: 3,
          forward: false,
          params: [],
        };
      }
      return {
        kind,
        requestId: 4,
        ...(d <= 16 ? { existingRequestId: 2 } : {}),
        ...rrid,
        subscriberPriority: 3,
        forward: false,
        params: [{ type: 0x02, value: 100 }],
      };
    case "unsubscribe":
    case "fetchCancel":
    case "unsubscribeNamespace":
    case "publishNamespaceOk":
    case "subscribeNamespaceOk":
      return { kind, requestId: 6 };
    case "publishDone":
      return { kind, ...rid, statusCode: 2, streamCount: 3, reason: "ended" };
    case "publish":
      return {
        kind,
        requestId: 1,
        ...rrid,
        namespace: ns,
        name: "audio",
        trackAlias: 5,
        groupOrder: 2,
        largest: { group: 1, object: 2 },
        forward: true,
        params: [{ type: 0x02, value: 100 }],
        properties: props,
      };
    case "publishOk":
      return {
        kind,
        requestId: 1,
        forward: true,
        subscriberPriority: 3,
        groupOrder: 1,
        filter: { type: "absoluteStart", start: { group: 1, object: 0 } },
        params: [],
      };
    case "publishNamespace":
      return { kind, requestId: 3, ...rrid, namespace: ns, params: [{ type: 0x03, value: enc("t") }] };
    case "publishNamespaceDone":
      return d === 16 ? { kind, requestId: 3 } : { kind, namespace: ns };
    case "publishNamespaceCancel":
      return d === 16
        ? { kind, requestId: 3, code: 1, reason: "gone" }
        : { kind, namespace: ns, code: 1, reason: "gone" };
    case "namespace":
      return { kind, suffix: ["cam1"], params: [{ type: 0x02, value: 1 }] };
    case "namespaceDone":
      return { kind, suffix: ["cam1"] };
    case "publishBlocked":
      return { kind, suffix: ["cam1"], name: "video" };
    case "subscribeNamespace":
      return {
        kind,
        requestId: 8,
        ...rrid,
        prefix: ["live"],
        ...(d === 16 || d === 17 ? { subscribeOptions: 3 } : {}),
        params: [],
      };
    case "fetch":
      return {
        kind,
        requestId: 10,
        ...rrid,
        subscriberPriority: 5,
        groupOrder: 1,
        spec: {
          type: "standalone",
          namespace: ns,
          name: "video",
          start: { group: 1, object: 0 },
          end: { group: 4, object: 9 },
        },
        params: [],
      };
    case "fetchOk":
      return {
        kind,
        ...rid,
        groupOrder: 1,
        endOfTrack: true,
        endLocation: { group: 4, object: 9 },
        params: [],
        properties: props,
      };
  }
}

/** Kinds whose body ends in an open run (properties, count-less options, optional params). */
function openTail(kind: ControlKind, d: Draft): boolean {
  if (kind === "setup" || kind === "namespace") return true;
  if (kind === "goaway" && d === 18) return true; // the trailing request id is optional
  return d >= 16 && ["subscribeOk", "requestOk", "publish", "fetchOk"].includes(kind);
}

Deno.test("every message of every draft round trips", () => {
  let count = 0;
  for (const d of DRAFTS) {
    for (const kind of controlKinds(d)) {
      const msg = sample(kind, d);
      const frame = encodeControl(msg, d);
      assert.deepEqual(decodeControlFrame(frame, d), msg, `${kind} in draft-${d}`);
      count++;
    }
  }
  assert.ok(count >= 140, `covered ${count} message/draft pairs`);
});

Deno.test("message ids per draft", () => {
  const id = (m: ControlMessage, d: Draft) => readControlFrame(encodeControl(m, d), d)!.type;
  assert.equal(id(sample("clientSetup", 14), 14), 0x20);
  assert.equal(id(sample("setup", 17), 17), 0x2f00);
  assert.equal(id(sample("subscribeError", 14), 14), 0x05);
  assert.equal(id(sample("requestError", 15), 15), 0x05);
  assert.equal(id(sample("subscribeNamespace", 17), 17), 0x11);
  assert.equal(id(sample("subscribeNamespace", 18), 18), 0x50);
  assert.throws(() => encodeControl(sample("clientSetup", 14), 17), EncodeError);
  assert.throws(() => encodeControl(sample("maxRequestId", 14), 17), EncodeError);
  assert.throws(() => decodeControl(0x20, new Uint8Array(), 17), UnknownMessageError);
  assert.throws(() => decodeControl(0x2f00, new Uint8Array(), 14), UnknownMessageError);
  assert.throws(() => decodeControl(0x51, new Uint8Array([0]), 18), UnknownMessageError);
  assert.throws(() => decodeControl(0x12, new Uint8Array([0]), 15), UnknownMessageError);
});

Deno.test("known byte vectors", () => {
  // Draft-14 CLIENT_SETUP: one version (8-byte QUIC varint), PATH "/".
  const cs = encodeControl({
    kind: "clientSetup",
    versions: [0xff00000e],
    options: [{ type: 1, value: enc("/") }],
  }, 14);
  assert.equal(spacedHex(cs), "20 00 0d 01 c0 00 00 00 ff 00 00 0e 01 01 01 2f");
  // Draft-17 SETUP: type 0x2f00 as a 2-byte leading-ones varint, count-less delta-coded options.
  const s = encodeControl(
    { kind: "setup", options: [{ type: 1, value: enc("/") }, { type: 2, value: 100 }] },
    17,
  );
  assert.equal(spacedHex(s), "af 00 00 05 01 01 2f 01 64");
  // Draft-14 SUBSCRIBE, LargestObject filter, no parameters.
  const sub = encodeControl({
    kind: "subscribe",
    requestId: 0,
    namespace: ["a"],
    name: "b",
    subscriberPriority: 128,
    groupOrder: 2,
    forward: true,
    filter: { type: "largestObject" },
    params: [],
  }, 14);
  assert.equal(spacedHex(sub), "03 00 0b 00 01 01 61 01 62 80 02 01 02 00");
  // Draft-16 SUBSCRIBE: priority, group order, forward and filter as delta-coded parameters.
  const sub16 = encodeControl({
    kind: "subscribe",
    requestId: 0,
    namespace: ["a"],
    name: "b",
    subscriberPriority: 1,
    forward: true,
    filter: { type: "nextGroup" },
    params: [],
  }, 16);
  // count 3: 0x10 forward=1, +0x10 (0x20) priority=1, +1 (0x21) filter bytes [01]
  assert.equal(spacedHex(sub16), "03 00 0e 00 01 01 61 01 62 03 10 01 10 01 01 01 01");
});

Deno.test("every filter round trips in the drafts that can carry it", () => {
  const common: Filter[] = [
    { type: "nextGroup" },
    { type: "largestObject" },
    { type: "absoluteStart", start: { group: 7, object: 3 } },
    { type: "absoluteRange", start: { group: 7, object: 3 }, endGroup: 12 },
  ];
  const d20: Filter[] = [{ type: "relative", groups: 3 }, {
    type: "absoluteRange",
    start: { group: 1, object: 0 },
    endGroup: 2,
    endObject: 5,
  }];
  for (const d of DRAFTS) {
    for (const filter of [...common, ...(d === 20 ? d20 : [])]) {
      const msg = { ...sample("subscribe", d), filter } as ControlMessage;
      assert.deepEqual(decodeControlFrame(encodeControl(msg, d), d), msg, `${filter.type} draft-${d}`);
    }
    if (d < 20) {
      for (const filter of d20) {
        assert.throws(
          () => encodeControl({ ...sample("subscribe", d), filter } as ControlMessage, d),
          EncodeError,
        );
      }
    }
  }
});

Deno.test("every fetch type round trips", () => {
  for (const d of DRAFTS.filter((d) => d < 20)) {
    for (
      const spec of [
        { type: "relativeJoining", joiningRequestId: 4, offset: 2 },
        { type: "absoluteJoining", joiningRequestId: 4, group: 100 },
      ] as const
    ) {
      const msg = { ...sample("fetch", d), spec } as ControlMessage;
      assert.deepEqual(decodeControlFrame(encodeControl(msg, d), d), msg);
    }
  }
});

function isDecodeFailure(e: unknown): boolean {
  return e instanceof DecodeError || e instanceof BoundsError;
}

Deno.test("truncated bodies and frames are refused", () => {
  for (const d of DRAFTS) {
    for (const kind of controlKinds(d)) {
      const frame = encodeControl(sample(kind, d), d);
      const f = readControlFrame(frame, d)!;
      for (let n = 0; n < frame.length; n++) {
        assert.equal(readControlFrame(frame.subarray(0, n), d), null, `${kind} d${d} frame prefix ${n}`);
      }
      if (openTail(kind, d)) continue;
      for (let n = 0; n < f.body.length; n++) {
        assert.throws(
          () => decodeControl(f.type, f.body.subarray(0, n), d),
          isDecodeFailure,
          `${kind} d${d} ${n}`,
        );
      }
    }
  }
});

Deno.test("trailing bytes are refused", () => {
  for (const d of DRAFTS) {
    for (const kind of controlKinds(d)) {
      if (kind === "namespace") continue; // a trailing 0x00 reads as an empty parameter list there
      const f = readControlFrame(encodeControl(sample(kind, d), d), d)!;
      const body = new Uint8Array([...f.body, 0x00]);
      assert.throws(() => decodeControl(f.type, body, d), isDecodeFailure, `${kind} d${d}`);
    }
  }
});

Deno.test("malformed fields are refused", () => {
  // Bad draft-14 filter type.
  const w = new IetfWriter(14).varint(0);
  writeNamespace(w, ["a"]);
  w.string("b").u8(0).u8(0).u8(1).varint(5).varint(0);
  assert.throws(
    () => decodeControl(0x03, w.finish(), 14),
    (e) => e instanceof DecodeError && /filter type 5/.test(e.message),
  );
  // Bad filter inside the draft-15 parameter.
  const w15 = new IetfWriter(15).varint(0);
  writeNamespace(w15, ["a"]);
  w15.string("b").varint(1).varint(0x21).varint(1).varint(0);
  assert.throws(() => decodeControl(0x03, w15.finish(), 15), DecodeError);
  // Draft-20 filter with five fields.
  const w20 = new IetfWriter(20).varint(0);
  writeNamespace(w20, ["a"]);
  w20.string("b").varint(1).varint(0x21).varint(5).bytes(new Uint8Array([1, 1, 1, 1, 1]));
  assert.throws(
    () => decodeControl(0x03, w20.finish(), 20),
    (e) => e instanceof DecodeError && /four/.test(e.message),
  );
  // Group order 3.
  const go = new IetfWriter(14).varint(0);
  writeNamespace(go, ["a"]);
  go.string("b").u8(0).u8(3).u8(1).varint(2).varint(0);
  assert.throws(
    () => decodeControl(0x03, go.finish(), 14),
    (e) => e instanceof DecodeError && /group order/.test(e.message),
  );
  // Forward byte 2.
  const fw = new IetfWriter(14).varint(0);
  writeNamespace(fw, ["a"]);
  fw.string("b").u8(0).u8(0).u8(2).varint(2).varint(0);
  assert.throws(() => decodeControl(0x03, fw.finish(), 14), DecodeError);
  // Duplicate parameter (named field and the same parameter on the wire).
  const dup = new IetfWriter(15).varint(0);
  writeNamespace(dup, ["a"]);
  dup.string("b").varint(2).varint(0x20).varint(1).varint(0x20).varint(2);
  assert.throws(() => decodeControl(0x03, dup.finish(), 15), ParameterError);
  // Draft-20-only parameter in draft-19.
  const fill = new IetfWriter(19).varint(0);
  writeNamespace(fill, ["a"]);
  fill.string("b").varint(1).varint(0x23).varint(0);
  assert.throws(() => decodeControl(0x03, fill.finish(), 19), ParameterError);
  // Oversize reason phrase.
  const reason = new IetfWriter(14).varint(1).varint(0).varint(100000);
  assert.throws(() => decodeControl(0x05, reason.finish(), 14), BoundsError);
  // Too many versions in CLIENT_SETUP.
  assert.throws(() => decodeControl(0x20, new IetfWriter(14).varint(65).finish(), 14), BoundsError);
  // Bad fetch type.
  assert.throws(
    () => decodeControl(0x16, new IetfWriter(15).varint(0).varint(4).varint(0).finish(), 15),
    DecodeError,
  );
  // A reversed standalone range.
  const rev = new IetfWriter(15).varint(0).varint(1);
  writeNamespace(rev, ["a"]);
  rev.string("b").varint(5).varint(0).varint(4).varint(0).varint(0);
  assert.throws(
    () => decodeControl(0x16, rev.finish(), 15),
    (e) => e instanceof DecodeError && /ends before/.test(e.message),
  );
  // A parameter named twice at encode time.
  const m = { ...sample("subscribe", 16), params: [{ type: 0x20, value: 1 }] } as ControlMessage;
  assert.throws(() => encodeControl(m, 16), EncodeError);
  // Responses of 14-16 need a request id.
  assert.throws(
    () => encodeControl({ kind: "publishDone", statusCode: 0, streamCount: 0, reason: "" }, 15),
    EncodeError,
  );
});

Deno.test("AbsoluteRange end group: absolute through 16, a delta from 17; draft-20 FETCH", () => {
  const filter: Filter = { type: "absoluteRange", start: { group: 5, object: 0 }, endGroup: 7 };
  const at = (d: Draft) => {
    const body = readControlFrame(
      encodeControl({ kind: "subscribe", requestId: 0, namespace: [], name: "", filter, params: [] }, d),
      d,
    )!.body;
    return spacedHex(body.subarray(body.length - 5));
  };
  // parameter value: tag 4, group 5, object 0, end
  assert.equal(at(16), "04 04 05 00 07");
  assert.equal(at(17), "04 04 05 00 02");
  const joining = {
    ...sample("fetch", 20),
    spec: { type: "relativeJoining", joiningRequestId: 0, offset: 1 },
  };
  assert.throws(() => encodeControl(joining as ControlMessage, 20), EncodeError);
  const f = readControlFrame(encodeControl(sample("fetch", 20), 20), 20)!;
  // request id 10, then the namespace count (no fetch type any more)
  assert.equal(spacedHex(f.body.subarray(0, 2)), "0a 02");
});
