import assert from "node:assert/strict";
import { BodyReader, BoundsError, DecodeError, Writer } from "../codec/mod.ts";
import { type RecvStream, StreamReader } from "../transport/mod.ts";
import {
  type AnnounceBroadcast,
  AnnounceStatusError,
  BidiType05,
  bufferedFrame05,
  Code05,
  codeForError05,
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeAnnounceRequest,
  decodeDatagram05,
  decodeFetch05,
  decodeFrame05,
  decodeGoaway05,
  decodeGroupHeader05,
  decodeProbe05,
  decodeSetup,
  decodeSetupStream,
  decodeSubscribe05,
  decodeSubscribeResponse05,
  decodeSubscribeUpdate05,
  decodeTrack,
  decodeTrackInfo,
  DuplicateParameterError,
  encodeAnnounceBroadcast,
  encodeAnnounceOk,
  encodeAnnounceRequest,
  encodeDatagram05,
  EncodeError05,
  encodeFetch05,
  encodeFrame05,
  encodeGoaway05,
  encodeGroupHeader05,
  encodeProbe05,
  encodeSetupStream,
  encodeStreamType05,
  encodeSubscribe05,
  encodeSubscribeResponse05,
  encodeSubscribeUpdate05,
  encodeTrack,
  encodeTrackInfo,
  FrameTimestampDecoder,
  FrameTimestampEncoder,
  InvalidTimescaleError,
  MAX_HOPS_05,
  MAX_TIMESTAMP,
  parseBidiType05,
  parseUniType05,
  PeerSetupSlot,
  ProbeLevel,
  readEncodedFrame05,
  readFrame05,
  readSetupStream,
  readSubscribeResponse05,
  receivedHops,
  Role,
  SecondSetupError,
  type Setup,
  SetupParameterError,
  type SubscribeResponse05,
  takeMessage,
  TimestampRangeError,
  UniType05,
  UnknownResponseTypeError,
  UnknownStreamTypeError,
  zigzagDecode,
  zigzagDeltaSafe,
  zigzagEncode,
} from "./lite05.ts";
import { spacedHex } from "../testing/mod.ts";

const hex = (s: string) => new Uint8Array(s.trim().split(/\s+/).filter((b) => b).map((b) => parseInt(b, 16)));
const text = (s: string) => new TextEncoder().encode(s);

/** Strip the size prefix of an encoded message (rejecting anything after it) and read its body. */
function body(encoded: Uint8Array): BodyReader {
  const outer = new BodyReader(encoded);
  const r = takeMessage(outer, "test message");
  assert.equal(outer.remaining, 0, "size prefix matches body length");
  return r;
}

/** Read a typed message: `Type(i) || Length(i) || body`. */
function typed(encoded: Uint8Array): { type: number; r: BodyReader } {
  const outer = new BodyReader(encoded);
  const type = outer.varint();
  const r = takeMessage(outer, "typed message");
  assert.equal(outer.remaining, 0, "size prefix matches body length");
  return { type, r };
}

/** A RecvStream over fixed chunks. */
function chunks(...parts: Uint8Array[]): RecvStream {
  let i = 0;
  return { read: () => Promise.resolve(i < parts.length ? parts[i++] : null), stop: () => {} };
}

/** Split bytes into one-byte chunks, the worst case for a stream parser. */
function bytewise(b: Uint8Array): RecvStream {
  return chunks(...[...b].map((x) => new Uint8Array([x])));
}

// ---------------------------------------------------------------------------------------------
// Appendix A vectors, both ways (docs/lite05.md lists them)

Deno.test("vector: empty SETUP on its uni stream is 01 01 00", () => {
  const setup: Setup = { probe: ProbeLevel.None, role: Role.Both };
  assert.equal(spacedHex(encodeSetupStream(setup)), "01 01 00");
  const r = new BodyReader(hex("01 01 00"));
  assert.equal(parseUniType05(r.varint()), UniType05.Setup);
  assert.deepEqual(decodeSetupStream(r.rest()), setup);
});

Deno.test("vector: SETUP {Probe=Report, Origin=42}", () => {
  const setup: Setup = { probe: ProbeLevel.Report, role: Role.Both, origin: 42n };
  assert.equal(spacedHex(encodeSetupStream(setup)), "01 07 02 01 01 01 05 01 2a");
  assert.deepEqual(decodeSetupStream(hex("07 02 01 01 01 05 01 2a")), setup);
  // Parameter order is unspecified (Rust uses a HashMap): the reverse order decodes the same.
  assert.deepEqual(decodeSetupStream(hex("07 02 05 01 2a 01 01 01")), setup);
});

Deno.test("vector: TRACK_INFO defaults are 06 00 00 53 88 43 e8", () => {
  const info = { priority: 0, ordered: false, maxLatencyMs: 5000, timescale: 1000 };
  assert.equal(spacedHex(encodeTrackInfo(info)), "06 00 00 53 88 43 e8");
  assert.deepEqual(decodeTrackInfo(body(hex("06 00 00 53 88 43 e8"))), info);
});

Deno.test("vector: ANNOUNCE_OK {hop 42, active 3}", () => {
  assert.equal(spacedHex(encodeAnnounceOk({ hop: 42n, activeCount: 3 })), "02 2a 03");
  assert.deepEqual(decodeAnnounceOk(body(hex("02 2a 03"))), { hop: 42n, activeCount: 3 });
});

Deno.test("vector: ANNOUNCE_BROADCAST active and ended", () => {
  const active: AnnounceBroadcast = { active: true, suffix: "room/cam", hops: [7n] };
  const activeHex = "0c 01 08 72 6f 6f 6d 2f 63 61 6d 01 07";
  assert.equal(spacedHex(encodeAnnounceBroadcast(active)), activeHex);
  assert.deepEqual(decodeAnnounceBroadcast(body(hex(activeHex))), active);

  const ended: AnnounceBroadcast = { active: false, suffix: "room/cam", hops: [] };
  const endedHex = "0b 00 08 72 6f 6f 6d 2f 63 61 6d 00";
  assert.equal(spacedHex(encodeAnnounceBroadcast(ended)), endedHex);
  assert.deepEqual(decodeAnnounceBroadcast(body(hex(endedHex))), ended);
  // An ended announcement never carries hops, whatever the caller passed.
  assert.equal(spacedHex(encodeAnnounceBroadcast({ ...ended, hops: [9n] })), endedHex);
});

Deno.test("vector: SUBSCRIBE_START / END / DROP (type before length)", () => {
  const cases: Array<[SubscribeResponse05, string]> = [
    [{ type: "start", group: 42 }, "00 01 2a"],
    [{ type: "end", group: 7 }, "01 01 07"],
    [{ type: "drop", start: 1, end: 3, error: 0 }, "02 03 01 03 00"],
  ];
  for (const [msg, bytes] of cases) {
    assert.equal(spacedHex(encodeSubscribeResponse05(msg)), bytes);
    const { type, r } = typed(hex(bytes));
    assert.deepEqual(decodeSubscribeResponse05(type, r), msg);
  }
});

Deno.test("vector: GROUP stream header, subscribe 0, sequence 5", () => {
  assert.equal(spacedHex(encodeGroupHeader05({ subscribeId: 0n, sequence: 5 })), "00 02 00 05");
  const r = new BodyReader(hex("00 02 00 05"));
  assert.equal(parseUniType05(r.varint()), UniType05.Group);
  assert.deepEqual(decodeGroupHeader05(takeMessage(r, "GROUP")), { subscribeId: 0n, sequence: 5 });
});

Deno.test("vector: FRAMEs ts=1000 then ts=1033 with zigzag deltas", () => {
  const enc = new FrameTimestampEncoder();
  assert.equal(spacedHex(encodeFrame05(enc, 1000n, text("hi"))), "47 d0 02 68 69");
  assert.equal(spacedHex(encodeFrame05(enc, 1033n, text("hi"))), "40 42 02 68 69");

  const r = new BodyReader(hex("47 d0 02 68 69 40 42 02 68 69"), "group");
  const dec = new FrameTimestampDecoder();
  const a = decodeFrame05(r, dec, 100);
  const b = decodeFrame05(r, dec, 100);
  assert.equal(a.timestamp, 1000n);
  assert.equal(b.timestamp, 1033n);
  assert.deepEqual(a.payload, text("hi"));
  assert.deepEqual(b.payload, text("hi"));
  assert.equal(r.remaining, 0);
});

Deno.test("vector: DATAGRAM sub 3, seq 9, ts 1000, payload x", () => {
  const d = { subscribeId: 3n, sequence: 9, timestamp: 1000n, payload: text("x") };
  assert.equal(spacedHex(encodeDatagram05(d)), "03 09 43 e8 78");
  assert.deepEqual(decodeDatagram05(hex("03 09 43 e8 78")), d);
});

// ---------------------------------------------------------------------------------------------
// Round trips

Deno.test("SETUP round-trips every parameter, including 62-bit origins and a path with a query", () => {
  const all: Setup[] = [
    { probe: ProbeLevel.Increase, role: Role.Publisher, path: "/room/123?jwt=x", cost: 0, origin: 1n },
    { probe: ProbeLevel.None, role: Role.Subscriber, path: "", cost: 7, origin: (1n << 62n) - 1n },
    { probe: ProbeLevel.Report, role: Role.Both },
  ];
  for (const s of all) {
    const r = new BodyReader(encodeSetupStream(s));
    assert.equal(r.varint(), UniType05.Setup);
    assert.deepEqual(decodeSetupStream(r.rest()), s);
  }
});

Deno.test("SETUP decoding: unknown ids skipped, unknown probe → Increase, unknown role → Both, origin 0 → none", () => {
  // count 4: probe=9, role=7, origin=0, unknown 0x40 with 2 raw bytes.
  const s = decodeSetup(body(hex("0f 04 01 01 09 03 01 07 05 01 00 40 40 02 aa bb")));
  assert.deepEqual(s, { probe: ProbeLevel.Increase, role: Role.Both });
});

Deno.test("ANNOUNCE_REQUEST, TRACK, FETCH, PROBE, GOAWAY, SUBSCRIBE and SUBSCRIBE_UPDATE round-trip", () => {
  const req = { prefix: "room/", excludeHop: (1n << 62n) - 1n };
  assert.deepEqual(decodeAnnounceRequest(body(encodeAnnounceRequest(req))), req);
  assert.equal(spacedHex(encodeAnnounceRequest({ prefix: "", excludeHop: 0n })), "02 00 00");

  const track = { broadcast: "room/cam", track: "video" };
  assert.deepEqual(decodeTrack(body(encodeTrack(track))), track);

  const fetch = { broadcast: "b", track: "t", priority: 200, group: 12345 };
  assert.equal(spacedHex(encodeFetch05(fetch)), "07 01 62 01 74 c8 70 39");
  assert.deepEqual(decodeFetch05(body(encodeFetch05(fetch))), fetch);

  assert.deepEqual(decodeProbe05(body(encodeProbe05(5_000_000, 40))), { bitrate: 5_000_000, rttMs: 40 });
  assert.equal(decodeGoaway05(body(encodeGoaway05("https://other/"))), "https://other/");

  const sub = {
    id: 9n,
    broadcast: "room/cam",
    track: "video",
    priority: 3,
    ordered: true,
    maxLatencyMs: 2000,
    startGroup: 0,
    endGroup: undefined,
  };
  assert.deepEqual(decodeSubscribe05(body(encodeSubscribe05(sub))), sub);
  const upd = { priority: 1, ordered: false, maxLatencyMs: 0, startGroup: undefined, endGroup: 10 };
  assert.deepEqual(decodeSubscribeUpdate05(body(encodeSubscribeUpdate05(upd))), upd);
});

Deno.test("TRACK_INFO: 'no limit' latency round-trips and larger values clamp to it", () => {
  const info = { priority: 255, ordered: true, maxLatencyMs: Number.MAX_SAFE_INTEGER, timescale: 1_000_000 };
  assert.deepEqual(decodeTrackInfo(body(encodeTrackInfo(info))), info);
  // max latency 2^62-1 (8-byte varint ff..ff) clamps to 2^53-1.
  const big = decodeTrackInfo(body(hex("0c 00 00 ff ff ff ff ff ff ff ff 43 e8")));
  assert.equal(big.maxLatencyMs, Number.MAX_SAFE_INTEGER);
});

Deno.test("zigzag maps small signed deltas compactly and round-trips the boundaries", () => {
  assert.deepEqual([0n, -1n, 1n, -2n, 2n].map(zigzagEncode), [0n, 1n, 2n, 3n, 4n]);
  for (const n of [0n, 1n, -1n, 33n, -5000n, (1n << 61n) - 1n, -(1n << 61n)]) {
    assert.equal(zigzagDecode(zigzagEncode(n)), n);
  }
  assert.throws(() => zigzagEncode(1n << 61n), EncodeError05);
  assert.throws(() => zigzagEncode(-(1n << 61n) - 1n), EncodeError05);
});

Deno.test("frame timestamps go backwards and to the 2^62-1 edge, fetch baselines restart at 0", () => {
  // Large jumps need a delta ≤ 2^61-1, so the second sequence walks up to 2^62-1 in steps.
  const walk = [5000n, 4000n, 4000n, 0n, (1n << 61n) - 1n, (1n << 62n) - 2n, MAX_TIMESTAMP];
  for (const seq of [[5000n, 4000n, 4000n, 0n], walk]) {
    const enc = new FrameTimestampEncoder();
    const w = new Writer();
    for (const ts of seq) w.bytes(encodeFrame05(enc, ts, text("p")));
    const r = new BodyReader(w.finish(), "group");
    const dec = new FrameTimestampDecoder();
    const got: bigint[] = [];
    while (r.remaining > 0) got.push(decodeFrame05(r, dec, 10).timestamp);
    assert.deepEqual(got, seq);
  }
  // A jump larger than 2^61 cannot be encoded as one delta.
  assert.throws(() => new FrameTimestampEncoder().next(MAX_TIMESTAMP), EncodeError05);
  assert.throws(() => new FrameTimestampEncoder().next(-1n), EncodeError05);
});

Deno.test("stream parsers: SETUP then FIN, frames split into one-byte chunks, null at FIN", async () => {
  const setup: Setup = { probe: ProbeLevel.Report, role: Role.Subscriber, path: "/a", origin: 99n };
  const stream = encodeSetupStream(setup);
  const sr = new StreamReader(bytewise(stream));
  assert.equal(parseUniType05(await sr.varint()), UniType05.Setup);
  assert.deepEqual(await readSetupStream(sr), setup);

  const enc = new FrameTimestampEncoder();
  const big = new Uint8Array(3000).fill(1);
  const w = new Writer()
    .bytes(encodeGroupHeader05({ subscribeId: 1n, sequence: 2 }))
    .bytes(encodeFrame05(enc, 1n << 40n, big))
    .bytes(encodeFrame05(enc, 7n, text("z")));
  const gr = new StreamReader(bytewise(w.finish()));
  assert.equal(parseUniType05(await gr.varint()), UniType05.Group);
  assert.deepEqual(decodeGroupHeader05(await gr.message(64)), { subscribeId: 1n, sequence: 2 });
  const dec = new FrameTimestampDecoder();
  const f1 = await readFrame05(gr, dec, 4096);
  const f2 = await readFrame05(gr, dec, 4096);
  assert.equal(f1?.timestamp, 1n << 40n);
  assert.deepEqual(f1?.payload, big);
  assert.equal(f2?.timestamp, 7n);
  assert.deepEqual(f2?.payload, text("z"));
  assert.equal(await readFrame05(gr, dec, 4096), null);
});

Deno.test("stream types: every lite-05 type parses; Session (0) and 7+ are unknown", () => {
  for (const t of [1, 2, 3, 4, 5, 6]) assert.equal(parseBidiType05(t), t);
  assert.equal(spacedHex(encodeStreamType05(BidiType05.Track)), "06");
  assert.equal(spacedHex(encodeStreamType05(UniType05.Setup)), "01");
  for (const t of [0, 7, 0x20, 0x21]) assert.throws(() => parseBidiType05(t), UnknownStreamTypeError);
  assert.throws(() => parseUniType05(2), UnknownStreamTypeError);
  try {
    parseUniType05(2);
  } catch (e) {
    assert.equal(codeForError05(e), Code05.UnexpectedStream);
  }
});

Deno.test("receivedHops appends the ANNOUNCE_OK hop, falls back for 0, and bounds the chain", () => {
  assert.deepEqual(receivedHops([7n], 42n), [7n, 42n]);
  assert.deepEqual(receivedHops([7n], 0n, 5n), [7n, 5n]);
  assert.deepEqual(receivedHops([7n], 0n), [7n]);
  const full = Array.from({ length: MAX_HOPS_05 }, (_, i) => BigInt(i + 1));
  assert.throws(() => receivedHops(full, 1n), BoundsError);
});

Deno.test("ANNOUNCE status 2 (explicit restart) decodes as active", () => {
  const m = decodeAnnounceBroadcast(body(hex("05 02 01 61 01 07")));
  assert.deepEqual(m, { active: true, suffix: "a", hops: [7n] });
});

// ---------------------------------------------------------------------------------------------
// Malformed input → the codec's own errors

Deno.test("SETUP: a duplicate parameter is rejected even when the values agree", () => {
  assert.throws(() => decodeSetup(body(hex("07 02 01 01 01 01 01 01"))), DuplicateParameterError);
  try {
    decodeSetup(body(hex("07 02 05 01 2a 05 01 2a")));
    assert.fail("duplicate accepted");
  } catch (e) {
    assert.ok(e instanceof DuplicateParameterError);
    assert.ok(e instanceof DecodeError, "a DecodeError subclass, so sessions close with Decode");
    assert.equal(e.id, 5n);
    assert.match(e.message, /repeats parameter 0x5/);
    assert.equal(codeForError05(e), Code05.Decode);
  }
});

Deno.test("SETUP: a second SETUP on the stream, or a second Setup stream, is an error", async () => {
  const one = encodeSetupStream({ probe: ProbeLevel.None, role: Role.Both }).subarray(1);
  const two = new Writer().bytes(one).bytes(one).finish();
  assert.throws(() => decodeSetupStream(two), SecondSetupError);
  await assert.rejects(readSetupStream(new StreamReader(chunks(two))), SecondSetupError);

  const slot = new PeerSetupSlot();
  slot.record({ probe: ProbeLevel.Report, role: Role.Both });
  assert.equal(slot.setup?.probe, ProbeLevel.Report);
  assert.throws(() => slot.record({ probe: ProbeLevel.None, role: Role.Both }), SecondSetupError);
  assert.equal(codeForError05(new SecondSetupError("x")), Code05.ProtocolViolation);
});

Deno.test("SETUP: bad parameter values, too many parameters, truncation, trailing bytes", () => {
  // Probe value with a trailing byte, empty Role value, invalid UTF-8 path.
  assert.throws(() => decodeSetup(body(hex("05 01 01 02 01 00"))), SetupParameterError);
  assert.throws(() => decodeSetup(body(hex("03 01 03 00"))), SetupParameterError);
  assert.throws(() => decodeSetup(body(hex("04 01 02 01 ff"))), SetupParameterError);
  // 65 parameters.
  assert.throws(() => decodeSetup(body(hex("02 40 41"))), BoundsError);
  // Parameter length past the body; body ends inside the count of params.
  assert.throws(() => decodeSetup(body(hex("04 01 01 05 01"))), /truncated/);
  assert.throws(() => decodeSetup(body(hex("02 01 01"))), DecodeError);
  // Trailing byte after the parameters.
  assert.throws(() => decodeSetup(body(hex("02 00 00"))), /trailing/);
  // Oversize SETUP length against the caller's bound.
  assert.throws(() => decodeSetupStream(hex("44 00"), 100), BoundsError);
});

Deno.test("TRACK_INFO: timescale 0 is rejected both ways; bad bool, truncation, trailing", () => {
  assert.throws(() => decodeTrackInfo(body(hex("05 00 00 53 88 00"))), InvalidTimescaleError);
  assert.ok(new InvalidTimescaleError() instanceof DecodeError);
  assert.throws(
    () => encodeTrackInfo({ priority: 0, ordered: false, maxLatencyMs: 0, timescale: 0 }),
    EncodeError05,
  );
  assert.throws(() => decodeTrackInfo(body(hex("06 00 02 53 88 43 e8"))), /invalid bool/);
  assert.throws(() => decodeTrackInfo(body(hex("04 00 00 53 88"))), /truncated/);
  assert.throws(() => decodeTrackInfo(body(hex("07 00 00 53 88 43 e8 00"))), /trailing/);
});

Deno.test("frames: a delta that drives the timestamp below 0 or above 2^62-1 is rejected", () => {
  // First frame delta -1 (zigzag 1): timestamp would be -1.
  assert.throws(
    () => decodeFrame05(new BodyReader(hex("01 00")), new FrameTimestampDecoder(), 10),
    TimestampRangeError,
  );
  // Walk up to 2^62-1 in two maximal steps, then +1 overflows.
  const dec = new FrameTimestampDecoder();
  assert.equal(dec.next(zigzagEncode((1n << 61n) - 1n)), (1n << 61n) - 1n);
  assert.equal(dec.next(zigzagEncode((1n << 61n) - 1n)), MAX_TIMESTAMP - 1n);
  assert.equal(dec.next(zigzagEncode(1n)), MAX_TIMESTAMP);
  assert.throws(() => dec.next(zigzagEncode(1n)), TimestampRangeError);
  try {
    dec.next(2n);
  } catch (e) {
    assert.equal(codeForError05(e), Code05.BoundsExceeded);
  }
  // The decoder state is unchanged after a rejected delta.
  assert.equal(dec.next(zigzagEncode(-1n)), MAX_TIMESTAMP - 1n);
});

Deno.test("frames: oversize, truncated payload and truncated delta are rejected", async () => {
  assert.throws(
    () => decodeFrame05(new BodyReader(hex("00 0b")), new FrameTimestampDecoder(), 10),
    BoundsError,
  );
  assert.throws(
    () => decodeFrame05(new BodyReader(hex("00 03 61")), new FrameTimestampDecoder(), 10),
    /truncated/,
  );
  assert.throws(() => decodeFrame05(new BodyReader(hex("47")), new FrameTimestampDecoder(), 10), /truncated/);
  const dec = new FrameTimestampDecoder();
  await assert.rejects(readFrame05(new StreamReader(chunks(hex("00 0b"))), dec, 10), BoundsError);
  await assert.rejects(readFrame05(new StreamReader(chunks(hex("47"))), dec, 10), DecodeError);
  await assert.rejects(readFrame05(new StreamReader(chunks(hex("00 03 61"))), dec, 10), DecodeError);
  await assert.rejects(readFrame05(new StreamReader(chunks(hex("01 00"))), dec, 10), TimestampRangeError);
});

/** Every frame of a group stream read the relay's way: buffered ones at once, the rest awaited. */
async function readGroupFrames(
  reader: StreamReader,
  maxBytes = 1 << 20,
  viewUpToBytes = 4096,
): Promise<{ timestamps: bigint[]; frames: string[]; buffered: number }> {
  const clock = new FrameTimestampDecoder();
  const timestamps: bigint[] = [];
  const frames: string[] = [];
  let buffered = 0;
  await reader.done(); // the relay reads the GROUP header first: the first chunk is in
  for (;;) {
    let frame: Uint8Array | null | undefined = bufferedFrame05(reader, clock, maxBytes, viewUpToBytes);
    if (frame !== undefined) buffered++;
    else frame = await readEncodedFrame05(reader, clock, maxBytes, viewUpToBytes);
    if (frame === null) return { timestamps, frames, buffered };
    timestamps.push(clock.last);
    frames.push(spacedHex(frame));
  }
}

Deno.test("group frames: the vector read without a wait when buffered, awaited when split, same bytes", async () => {
  const wire = hex("47 d0 02 68 69 40 42 02 68 69");
  const want = { timestamps: [1000n, 1033n], frames: ["02 68 69", "02 68 69"] };
  const whole = await readGroupFrames(new StreamReader(chunks(wire)));
  assert.deepEqual({ timestamps: whole.timestamps, frames: whole.frames }, want);
  assert.equal(whole.buffered, 2, "one chunk: both frames taken synchronously");
  const split = await readGroupFrames(new StreamReader(bytewise(wire)));
  assert.deepEqual({ timestamps: split.timestamps, frames: split.frames }, want);
  assert.equal(split.buffered, 0);
  // Cut inside the second frame's delta, size and payload: the first is buffered, the second awaited.
  for (const cut of [6, 7, 8]) {
    const r = await readGroupFrames(new StreamReader(chunks(wire.subarray(0, cut), wire.subarray(cut))));
    assert.deepEqual({ timestamps: r.timestamps, frames: r.frames }, want, `cut at ${cut}`);
    assert.equal(r.buffered, 1, `cut at ${cut}`);
  }
  // Larger than a view: awaited (a copy of its own), byte-exact.
  const big = new Uint8Array(100).fill(7);
  const w = new Writer().varint62(zigzagEncode(5n)).varint(big.length).bytes(big).finish();
  const r = await readGroupFrames(new StreamReader(chunks(w)), 1024, 64);
  assert.deepEqual(r.timestamps, [5n]);
  assert.equal(r.buffered, 0);
  assert.equal(r.frames[0], spacedHex(new Writer().varint(100).bytes(big).finish()));
});

Deno.test("group frames: 62-bit timestamps exact on both paths; leaving 0..2^62-1 is rejected", async () => {
  const top = (1n << 61n) - 1n; // the largest first timestamp (its delta from 0)
  const w = new Writer()
    .varint62(zigzagEncode(top)).varint(1).bytes(Uint8Array.of(1)) // 8-byte delta above 2^53: awaited
    .varint62(zigzagEncode(top)).varint(1).bytes(Uint8Array.of(2)) // 2^62 - 2: big timestamps
    .varint62(zigzagEncode(-top)).varint(1).bytes(Uint8Array.of(3)) // back down
    .varint62(zigzagEncode(-top + 7n)).varint(1).bytes(Uint8Array.of(4)) // 7: below 2^53 again
    .varint62(zigzagEncode(3n)).varint(1).bytes(Uint8Array.of(5))
    .finish();
  const r = await readGroupFrames(new StreamReader(chunks(w)));
  assert.deepEqual(r.timestamps, [top, 2n * top, top, 7n, 10n]);
  assert.deepEqual(r.frames, ["01 01", "01 02", "01 03", "01 04", "01 05"]);
  for (const stream of [() => chunks(hex("01 01 aa")), () => bytewise(hex("01 01 aa"))]) {
    await assert.rejects(readGroupFrames(new StreamReader(stream())), TimestampRangeError, "below 0");
  }
  const over = new Writer()
    .varint62(zigzagEncode(top)).varint(0)
    .varint62(zigzagEncode(top)).varint(0)
    .varint62(zigzagEncode(2n)).varint(0) // 2^62: one past the largest
    .finish();
  await assert.rejects(readGroupFrames(new StreamReader(chunks(over))), TimestampRangeError, "above 2^62-1");
  await assert.rejects(readGroupFrames(new StreamReader(chunks(hex("00 0b"))), 10), BoundsError);
  await assert.rejects(readGroupFrames(new StreamReader(chunks(hex("00 03 61")))), DecodeError);
  await assert.rejects(readGroupFrames(new StreamReader(chunks(hex("47")))), /ended/);
});

Deno.test("FrameTimestampDecoder.nextSafe agrees with next, results and errors", () => {
  const edges = [0, 1, 2, 3, 2 ** 30, 2 ** 52 - 1, 2 ** 52, 2 ** 53 - 2, 2 ** 53 - 1];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const safe = new FrameTimestampDecoder();
    const exact = new FrameTimestampDecoder();
    for (let k = 0; k < 6; k++) {
      const pick = random() % 3;
      const z = pick === 0
        ? edges[random() % edges.length]
        : pick === 1
        ? random() % 4096
        : random() * 2 ** 22;
      let want: bigint | string;
      try {
        want = exact.next(BigInt(z));
      } catch (e) {
        want = (e as Error).name;
      }
      let got: bigint | string;
      try {
        got = safe.nextSafe(z);
      } catch (e) {
        got = (e as Error).name;
      }
      assert.equal(got, want, `zigzag ${z} after ${safe.last}`);
      assert.equal(safe.last, exact.last);
    }
  }
});

Deno.test("zigzagDeltaSafe agrees with zigzagEncode below 2^53, else defers to it", () => {
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  const values = [0n, 1n, 2n, 63n, 64n, 1000n, 1n << 30n, (1n << 52n) - 1n, 1n << 52n, safe - 1n, safe];
  for (const ts of values) {
    for (const prev of values) {
      const want = zigzagEncode(ts - prev);
      const got = zigzagDeltaSafe(ts, prev);
      if (want <= safe) assert.equal(got, Number(want), `${ts} after ${prev}`);
      else assert.equal(got, -1, `${ts} after ${prev}: too large for a number`);
    }
  }
  assert.equal(zigzagDeltaSafe(safe + 1n, 0n), -1);
  assert.equal(zigzagDeltaSafe(5n, MAX_TIMESTAMP), -1);
});

Deno.test("subscribe responses: unknown type, truncated and trailing bodies", () => {
  assert.throws(() => decodeSubscribeResponse05(3, new BodyReader(hex("2a"))), UnknownResponseTypeError);
  try {
    decodeSubscribeResponse05(0x40, new BodyReader(hex("")));
  } catch (e) {
    assert.ok(e instanceof UnknownResponseTypeError && e.type === 0x40);
    assert.equal(codeForError05(e), Code05.Decode);
  }
  assert.throws(() => decodeSubscribeResponse05(0, new BodyReader(hex(""))), /truncated/);
  assert.throws(() => decodeSubscribeResponse05(1, new BodyReader(hex("07 00"))), /trailing/);
  assert.throws(() => decodeSubscribeResponse05(2, new BodyReader(hex("01 03"))), /truncated/);
});

Deno.test("announce: bad status, too many hops, truncated and trailing bodies, oversize counts", () => {
  assert.throws(() => decodeAnnounceBroadcast(body(hex("04 03 01 61 00"))), AnnounceStatusError);
  assert.throws(() => decodeAnnounceBroadcast(body(hex("04 01 01 61 21"))), BoundsError);
  assert.throws(() => decodeAnnounceBroadcast(body(hex("05 01 01 61 02 07"))), /truncated/);
  assert.throws(() => decodeAnnounceBroadcast(body(hex("05 00 01 61 00 00"))), /trailing/);
  assert.throws(() => decodeAnnounceBroadcast(body(hex("05 01 44 01 61 00"))), BoundsError);
  assert.throws(
    () => encodeAnnounceBroadcast({ active: true, suffix: "a", hops: new Array(33).fill(1n) }),
    EncodeError05,
  );
  assert.throws(() => decodeAnnounceOk(body(hex("01 2a"))), /truncated/);
  assert.throws(() => decodeAnnounceOk(body(hex("03 2a 03 00"))), /trailing/);
  assert.throws(() => decodeAnnounceOk(body(hex("05 00 80 0f 42 41"))), BoundsError);
  assert.throws(() => decodeAnnounceRequest(body(hex("02 01 61"))), /truncated/);
  assert.throws(() => decodeAnnounceRequest(body(hex("04 01 61 00 00"))), /trailing/);
});

Deno.test("track, fetch, group, datagram: truncated, trailing and oversize forms", () => {
  assert.throws(() => decodeTrack(body(hex("02 01 61"))), /truncated/);
  assert.throws(() => decodeTrack(body(hex("05 01 61 01 62 00"))), /trailing/);
  assert.throws(() => decodeTrack(body(hex("03 44 01 61"))), BoundsError);
  assert.throws(() => decodeFetch05(body(hex("05 01 62 01 74 c8"))), /truncated/);
  assert.throws(() => decodeFetch05(body(hex("07 01 62 01 74 c8 01 00"))), /trailing/);
  assert.throws(() => decodeGroupHeader05(body(hex("01 00"))), DecodeError);
  assert.throws(() => decodeGroupHeader05(body(hex("03 00 05 00"))), /trailing/);
  assert.throws(() => takeMessage(new BodyReader(hex("80 01 00 00")), "GROUP", 64), BoundsError);
  assert.throws(() => takeMessage(new BodyReader(hex("05 00")), "GROUP", 64), /truncated/);

  assert.throws(() => decodeDatagram05(hex("03 09")), /truncated/);
  assert.throws(() => decodeDatagram05(hex("03 09 43")), /truncated/);
  assert.throws(() => decodeDatagram05(new Uint8Array(1201)), BoundsError);
  const empty = decodeDatagram05(hex("03 09 00"));
  assert.equal(empty.payload.length, 0, "an empty payload is a valid single-frame group");
  assert.throws(
    () => encodeDatagram05({ subscribeId: 1n, sequence: 1, timestamp: 0n, payload: new Uint8Array(1198) }),
    EncodeError05,
  );
  assert.equal(
    encodeDatagram05({ subscribeId: 1n, sequence: 1, timestamp: 0n, payload: new Uint8Array(1197) }).length,
    1200,
  );
});

Deno.test("subscribe stream: responses read one by one until FIN; an unknown type fails before its body", async () => {
  const all = new Writer()
    .bytes(encodeSubscribeResponse05({ type: "start", group: 3 }))
    .bytes(encodeSubscribeResponse05({ type: "drop", start: 3, end: 4, error: 26 }))
    .bytes(encodeSubscribeResponse05({ type: "end", group: 9 }))
    .finish();
  const r = new StreamReader(bytewise(all));
  assert.deepEqual(await readSubscribeResponse05(r), { type: "start", group: 3 });
  assert.deepEqual(await readSubscribeResponse05(r), { type: "drop", start: 3, end: 4, error: 26 });
  assert.deepEqual(await readSubscribeResponse05(r), { type: "end", group: 9 });
  assert.equal(await readSubscribeResponse05(r), null);
  // Type 5 with a length the stream never delivers: rejected on the type alone.
  await assert.rejects(
    readSubscribeResponse05(new StreamReader(chunks(hex("05 44 00")))),
    UnknownResponseTypeError,
  );
  await assert.rejects(readSubscribeResponse05(new StreamReader(chunks(hex("00 44 00"))), 100), BoundsError);
  await assert.rejects(readSubscribeResponse05(new StreamReader(chunks(hex("00 02 2a")))), DecodeError);
});
