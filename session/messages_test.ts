import assert from "node:assert/strict";
import {
  decodeAnnounce,
  decodeAnnounceInit,
  decodeAnnounceInterest,
  decodeClientSetup,
  decodeGroupHeader,
  decodeProbe,
  decodeSubscribe,
  decodeSubscribeFields,
  encodeAnnounce,
  encodeAnnounceInit,
  encodeAnnounceInterest,
  encodeGroupHeader,
  encodeProbe,
  encodeServerSetup,
  encodeSubscribe,
  encodeSubscribeOk,
  type Subscribe,
  Version,
} from "./messages.ts";
import { BodyReader, BoundsError, DecodeError, encodeVarint, Writer } from "../codec/mod.ts";
import { type RecvStream, StreamReader } from "../transport/mod.ts";
import { spacedHex } from "../testing/mod.ts";

const hex = (s: string) => new Uint8Array(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));

/** Strip the size prefix of an encoded message and return a reader over its body. */
function body(encoded: Uint8Array): BodyReader {
  const r = new BodyReader(encoded);
  const size = r.varint();
  assert.equal(r.remaining, size, "size prefix matches body length");
  return new BodyReader(r.bytes(size));
}

Deno.test("varint encodes the spec examples minimally", () => {
  assert.equal(spacedHex(encodeVarint(0)), "00");
  assert.equal(spacedHex(encodeVarint(37)), "25");
  assert.equal(spacedHex(encodeVarint(300)), "41 2c");
  assert.equal(spacedHex(encodeVarint(42069)), "80 00 a4 55");
  assert.equal(spacedHex(encodeVarint(1_000_000)), "80 0f 42 40");
  assert.equal(spacedHex(encodeVarint(0xff0dad02)), "c0 00 00 00 ff 0d ad 02");
  assert.equal(spacedHex(encodeVarint(Number.MAX_SAFE_INTEGER)), "c0 1f ff ff ff ff ff ff");
});

Deno.test("varint decoding accepts non-minimal forms and rejects > 2^53", () => {
  assert.equal(new BodyReader(hex("40 25")).varint(), 37);
  assert.equal(new BodyReader(hex("c0 00 00 00 00 00 00 25")).varint(), 37);
  assert.throws(() => new BodyReader(hex("c0 20 00 00 00 00 00 00")).varint(), DecodeError);
  assert.equal(new BodyReader(hex("ff ff ff ff ff ff ff ff")).varint62(), (1n << 62n) - 1n);
  assert.throws(() => new BodyReader(hex("80 00 01")).varint(), DecodeError);
  assert.throws(() => new BodyReader(new Uint8Array()).varint(), DecodeError);
  assert.throws(() => encodeVarint(-1));
  assert.throws(() => encodeVarint(1.5));
});

Deno.test("legacy CLIENT_SETUP from @moq/lite 0.2.2 decodes; SERVER_SETUP matches the capture", () => {
  const setup = hex(`03 c0 00 00 00 ff 0d ad 02 c0 00 00 00 ff 0d ad 01 c0 00 00 00 ff 00 00 0e 02
    02 80 00 a4 55 07 0b 6d 6f 71 2d 6c 69 74 65 2d 6a 73`);
  assert.equal(setup.length, 0x2c);
  assert.deepEqual(decodeClientSetup(new BodyReader(setup)).versions, [0xff0dad02, 0xff0dad01, 0xff00000e]);
  assert.equal(spacedHex(encodeServerSetup(Version.Lite02)), "21 00 09 c0 00 00 00 ff 0d ad 02 00");
});

Deno.test("CLIENT_SETUP keeps parameters raw (both lite-01/02 encodings), rejects truncation and floods", () => {
  // @kixelated/moq 0.9.4 (lite-01): every parameter value is length-prefixed, id 2 included.
  const kixelated = hex(`02 c0 00 00 00 ff 0d ad 01 c0 00 00 00 ff 00 00 0e 02 02 01 3f 05 0b
    6d 6f 71 2d 6c 69 74 65 2d 6a 73`);
  const decoded = decodeClientSetup(new BodyReader(kixelated));
  assert.deepEqual(decoded.versions, [0xff0dad01, 0xff00000e]);
  assert.equal(spacedHex(decoded.parameters.subarray(0, 5)), "02 02 01 3f 05");
  assert.equal(decoded.parameters.length, 17);
  // Duplicates and odd layouts are not the relay's business (upstream does not parse them either).
  assert.deepEqual(decodeClientSetup(new BodyReader(hex("01 01 02 02 01 02 02"))).versions, [1]);
  assert.deepEqual(decodeClientSetup(new BodyReader(hex("01 01 00 ff"))).parameters, hex("00 ff"));
  assert.throws(() => decodeClientSetup(new BodyReader(hex("02 01"))), DecodeError);
  assert.throws(() => decodeClientSetup(new BodyReader(hex("40 ff"))), BoundsError);
});

Deno.test("ANNOUNCE_INTEREST / INIT / ANNOUNCE match the observed bytes", () => {
  assert.equal(spacedHex(encodeAnnounceInterest(Version.Lite02, { prefix: "", excludeHop: 0n })), "01 00");
  assert.equal(spacedHex(encodeAnnounceInterest(Version.Lite04, { prefix: "", excludeHop: 0n })), "02 00 00");
  assert.equal(spacedHex(encodeAnnounceInit(["demo"])), "06 01 04 64 65 6d 6f");
  assert.equal(
    spacedHex(encodeAnnounce(Version.Lite02, { active: true, suffix: "other", hops: [] })),
    "07 01 05 6f 74 68 65 72",
  );
  assert.equal(
    spacedHex(encodeAnnounce(Version.Lite04, { active: true, suffix: "demo", hops: [] })),
    "07 01 04 64 65 6d 6f 00",
  );
  assert.equal(
    spacedHex(encodeAnnounce(Version.Lite04, { active: false, suffix: "other", hops: [] })),
    "08 00 05 6f 74 68 65 72 00",
  );
  for (const v of [Version.Lite01, Version.Lite02, Version.Lite03, Version.Lite04]) {
    const hops = v === Version.Lite04 ? [7n, 300n, (1n << 62n) - 3n] : v === Version.Lite03 ? [0n, 0n] : [];
    const m = { active: true, suffix: "a/b", hops };
    assert.deepEqual(decodeAnnounce(v, body(encodeAnnounce(v, m))), m);
    assert.deepEqual(
      decodeAnnounceInterest(v, body(encodeAnnounceInterest(v, { prefix: "x", excludeHop: 0n }))),
      {
        prefix: "x",
        excludeHop: 0n,
      },
    );
  }
  assert.deepEqual(decodeAnnounceInit(body(encodeAnnounceInit(["a", "b/c"]))), ["a", "b/c"]);
});

Deno.test("ANNOUNCE rejects bad status, too many hops, bad UTF-8 and trailing bytes", () => {
  assert.throws(() => decodeAnnounce(Version.Lite02, new BodyReader(hex("02 01 61"))), /status/);
  assert.throws(() => decodeAnnounce(Version.Lite04, new BodyReader(hex("01 01 61 42 00"))), BoundsError);
  assert.throws(() => decodeAnnounce(Version.Lite02, new BodyReader(hex("01 02 c3 28"))), /UTF-8/);
  assert.throws(() => decodeAnnounce(Version.Lite02, new BodyReader(hex("01 01 61 00"))), /trailing/);
  assert.throws(() => decodeAnnounce(Version.Lite02, new BodyReader(hex("01 05 61"))), DecodeError);
});

Deno.test("SUBSCRIBE encodes as captured and round-trips in every version", () => {
  const sub: Subscribe = {
    id: 0n,
    broadcast: "demo",
    track: "video",
    priority: 2,
    ordered: false,
    maxLatencyMs: 0,
  };
  assert.equal(spacedHex(encodeSubscribe(Version.Lite02, sub)), "0d 00 04 64 65 6d 6f 05 76 69 64 65 6f 02");
  assert.equal(
    spacedHex(encodeSubscribe(Version.Lite04, sub)),
    "11 00 04 64 65 6d 6f 05 76 69 64 65 6f 02 00 00 00 00",
  );
  const full: Subscribe = {
    ...sub,
    id: (1n << 62n) - 1n,
    ordered: true,
    maxLatencyMs: 500,
    startGroup: 0,
    endGroup: 9,
  };
  assert.deepEqual(decodeSubscribe(Version.Lite04, body(encodeSubscribe(Version.Lite04, full))), full);
  assert.deepEqual(decodeSubscribe(Version.Lite01, body(encodeSubscribe(Version.Lite01, sub))), {
    ...sub,
    startGroup: undefined,
    endGroup: undefined,
  });
  // bool must be 0 or 1
  assert.throws(
    () => decodeSubscribe(Version.Lite04, new BodyReader(hex("00 01 61 01 62 02 02 00 00 00"))),
    /invalid bool/,
  );
});

Deno.test("SUBSCRIBE_OK per version matches the captures", () => {
  const ok = { priority: 2, ordered: false, maxLatencyMs: 0 };
  assert.equal(spacedHex(encodeSubscribeOk(Version.Lite01, ok)), "01 02");
  assert.equal(spacedHex(encodeSubscribeOk(Version.Lite02, ok)), "00");
  assert.equal(spacedHex(encodeSubscribeOk(Version.Lite04, ok)), "00 05 02 00 00 00 00");
  const r = new BodyReader(encodeSubscribeOk(Version.Lite03, { ...ok, startGroup: 4 }));
  assert.equal(r.varint(), 0);
  const size = r.varint();
  assert.deepEqual(decodeSubscribeFields(new BodyReader(r.bytes(size)), "SUBSCRIBE_OK"), {
    ...ok,
    startGroup: 4,
    endGroup: undefined,
  });
});

Deno.test("GROUP header matches the capture and rejects trailing data", () => {
  assert.equal(spacedHex(encodeGroupHeader({ subscribeId: 0n, sequence: 5 })), "00 02 00 05");
  const r = new BodyReader(encodeGroupHeader({ subscribeId: 9n, sequence: 1234567 }));
  assert.equal(r.u8(), 0);
  const size = r.varint();
  assert.deepEqual(decodeGroupHeader(new BodyReader(r.bytes(size))), { subscribeId: 9n, sequence: 1234567 });
  assert.throws(() => decodeGroupHeader(new BodyReader(hex("00 05 00"))), /trailing/);
});

Deno.test("PROBE per version", () => {
  assert.equal(spacedHex(encodeProbe(Version.Lite04, 1_000_000, 25)), "05 80 0f 42 40 19");
  assert.equal(spacedHex(encodeProbe(Version.Lite03, 1_000_000, 25)), "04 80 0f 42 40");
  assert.deepEqual(decodeProbe(Version.Lite04, body(encodeProbe(Version.Lite04, 5, 6))), {
    bitrate: 5,
    rttMs: 6,
  });
});

/** A RecvStream over fixed chunks, for StreamReader tests. */
function chunks(...parts: Uint8Array[]): RecvStream {
  let i = 0;
  return {
    read: () => Promise.resolve(i < parts.length ? parts[i++] : null),
    stop: () => {},
  };
}

Deno.test("StreamReader reassembles messages and frames split across tiny chunks", async () => {
  const frame = new Uint8Array(300).fill(7);
  const w = new Writer().varint(3).bytes(hex("01 61 62")).varint(frame.length).bytes(frame);
  const all = w.finish();
  const parts = [...all].map((b) => new Uint8Array([b]));
  const r = new StreamReader(chunks(...parts));
  const m = await r.message(100);
  assert.equal(m.remaining, 3);
  const f = await r.frame(1000);
  assert.ok(f);
  assert.equal(f.length, 302, "frame kept with its 2-byte size prefix");
  assert.deepEqual(f.subarray(2), frame);
  assert.equal(await r.frame(1000), null);
});

Deno.test("StreamReader rejects oversize messages and truncated frames", async () => {
  await assert.rejects(new StreamReader(chunks(hex("44 00"))).message(100), BoundsError);
  await assert.rejects(new StreamReader(chunks(hex("05 01 02"))).frame(100), /inside a frame/);
  await assert.rejects(new StreamReader(chunks(hex("41"))).varint(), /inside a varint/);
  await assert.rejects(new StreamReader(chunks(hex("80 10 00 00"))).frame(1000), BoundsError);
});
