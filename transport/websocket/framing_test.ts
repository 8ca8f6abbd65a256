import assert from "node:assert/strict";
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  FrameDecodeError,
  FrameEncodeError,
  type Framing,
  MAX_CLOSE_REASON_BYTES,
  MAX_STREAM_PAYLOAD_BYTES,
} from "./framing.ts";
import { hexBytes, QMUX_CLIENT_PARAMS, QMUX_SAMPLE_FRAMES } from "../../testing/mod.ts";

function roundTrip(frame: Frame, framing: Framing): Frame {
  const frames = decodeFrames(encodeFrame(frame, framing), framing);
  assert.equal(frames.length, 1);
  return frames[0];
}

Deno.test("webtransport framing: observed bytes of docs/protocol.md §11.1 and §11.7", () => {
  assert.deepEqual(
    encodeFrame(
      { type: "stream", id: 0, data: hexBytes("21 00 09 c0 00 00 00 ff 0d ad 02 00"), fin: false },
      "webtransport",
    ),
    hexBytes("08 00 21 00 09 c0 00 00 00 ff 0d ad 02 00"),
  );
  assert.deepEqual(
    encodeFrame({ type: "close", code: 7, reason: "bye", application: true }, "webtransport"),
    hexBytes("1d 07 62 79 65"),
  );
  assert.deepEqual(decodeFrames(hexBytes("1d 00"), "webtransport"), [
    { type: "close", code: 0, reason: "", application: true },
  ]);
  assert.deepEqual(
    decodeFrames(hexBytes("1d 43 ea 66 72 61 6d 65 20 74 6f 6f 20 6c 61 72 67 65"), "webtransport"),
    [
      { type: "close", code: 1002, reason: "frame too large", application: true },
    ],
  );
  assert.deepEqual(decodeFrames(hexBytes("09 04"), "webtransport"), [
    { type: "stream", id: 4, data: new Uint8Array(0), fin: true },
  ]);
});

Deno.test("webtransport framing: round trips of every frame", () => {
  const data = new Uint8Array(MAX_STREAM_PAYLOAD_BYTES).map((_, i) => i % 251);
  const frames: Frame[] = [
    { type: "stream", id: 1, data, fin: false },
    { type: "stream", id: 16_383, data: hexBytes("01 02"), fin: true },
    { type: "stream", id: 2 ** 40 + 3, data: new Uint8Array(0), fin: true },
    { type: "reset_stream", id: 5, code: 13, finalSize: 0 },
    { type: "stop_sending", id: 9, code: 300 },
    { type: "close", code: 15, reason: "protocol violation ✓", application: true },
  ];
  for (const frame of frames) assert.deepEqual(roundTrip(frame, "webtransport"), frame);
});

Deno.test("qmux-00 framing: transport parameters match docs/protocol.md §11.2 byte for byte", () => {
  const expected = hexBytes(
    "ff 51 53 30 0d 0a 0d 0a 20 04 04 80 10 00 00 05 04 80 04 00 00 06 04 80 04 00 00" +
      "07 04 80 04 00 00 08 02 40 64 09 02 40 64",
  );
  const params = QMUX_CLIENT_PARAMS;
  assert.deepEqual(encodeFrame({ type: "transport_parameters", params }, "qmux-00"), expected);
  assert.deepEqual(decodeFrames(expected, "qmux-00"), [{ type: "transport_parameters", params }]);
});

Deno.test("qmux-00 framing: observed STREAM, close and derived RESET/MAX_STREAMS bytes", () => {
  assert.deepEqual(
    encodeFrame(
      { type: "stream", id: 0, data: hexBytes("21 00 09 c0 00 00 00 ff 0d ad 02 00"), fin: false },
      "qmux-00",
    ),
    hexBytes("0a 00 0c 21 00 09 c0 00 00 00 ff 0d ad 02 00"),
  );
  assert.deepEqual(decodeFrames(hexBytes("0a 00 02 00 2c"), "qmux-00"), [
    { type: "stream", id: 0, data: hexBytes("00 2c"), fin: false },
  ]);
  assert.deepEqual(decodeFrames(hexBytes("1d 00 00 00"), "qmux-00"), [
    { type: "close", code: 0, reason: "", application: true },
  ]);
  assert.deepEqual(
    encodeFrame({ type: "close", code: 0, reason: "bye", application: true }, "qmux-00"),
    hexBytes("1d 00 00 03 62 79 65"),
  );
  assert.deepEqual(
    encodeFrame({ type: "reset_stream", id: 3, code: 13, finalSize: 0 }, "qmux-00"),
    hexBytes("04 03 0d 00"),
  );
  assert.deepEqual(
    encodeFrame({ type: "max_streams", bidi: false, max: 200 }, "qmux-00"),
    hexBytes("13 40 c8"),
  );
});

Deno.test("qmux-00 framing: round trips of every frame", () => {
  for (const frame of QMUX_SAMPLE_FRAMES) assert.deepEqual(roundTrip(frame, "qmux-00"), frame);
});

Deno.test("qmux-00 framing: OFF and no-LEN STREAM forms, coalesced frames, ignored types", () => {
  // 0x0f = OFF|LEN|FIN: id 4, offset 10, length 2.
  assert.deepEqual(decodeFrames(hexBytes("0f 04 0a 02 01 02"), "qmux-00"), [
    { type: "stream", id: 4, offset: 10, data: hexBytes("01 02"), fin: true },
  ]);
  // 0x08 without LEN: the data runs to the end of the message.
  assert.deepEqual(decodeFrames(hexBytes("08 04 01 02 03"), "qmux-00"), [
    { type: "stream", id: 4, data: hexBytes("01 02 03"), fin: false },
  ]);
  // Two frames in one message (newer qmux peers may coalesce) and a DATAGRAM that is dropped.
  assert.deepEqual(decodeFrames(hexBytes("10 44 00 31 02 aa bb 12 05"), "qmux-00"), [
    { type: "max_data", max: 1024 },
    { type: "max_streams", bidi: true, max: 5 },
  ]);
  // Unknown type: ignored with the rest of the message.
  assert.deepEqual(decodeFrames(hexBytes("21 01 02 03"), "qmux-00"), []);
  // Limits beyond 2^53 are clamped rather than rejected.
  assert.deepEqual(decodeFrames(hexBytes("10 ff ff ff ff ff ff ff ff"), "qmux-00"), [
    { type: "max_data", max: Number.MAX_SAFE_INTEGER },
  ]);
  // Unknown transport parameters are skipped.
  assert.deepEqual(decodeFrames(hexBytes("ff 51 53 30 0d 0a 0d 0a 07 20 02 ab cd 04 01 05"), "qmux-00"), [{
    type: "transport_parameters",
    params: {
      initialMaxData: 5,
      initialMaxStreamDataBidiLocal: 0,
      initialMaxStreamDataBidiRemote: 0,
      initialMaxStreamDataUni: 0,
      initialMaxStreamsBidi: 0,
      initialMaxStreamsUni: 0,
    },
  }]);
});

Deno.test("framing: malformed messages raise FrameDecodeError naming the problem", () => {
  const cases: Array<[Framing, string, RegExp]> = [
    ["webtransport", "", /empty WebSocket message/],
    ["qmux-00", "", /empty WebSocket message/],
    ["webtransport", "42 00", /unknown frame type 0x42/],
    ["webtransport", "08", /missing stream id/],
    ["webtransport", "08 40", /truncated inside stream id/],
    ["webtransport", "04 01", /missing error code/],
    ["webtransport", "05 01 00 ff", /trailing bytes/],
    ["webtransport", "08 ff ff ff ff ff ff ff ff", /larger than 2\^53-1/],
    ["qmux-00", "0a 00 05 01 02", /stream data needs 5 bytes/],
    ["qmux-00", "40", /truncated inside frame type/],
    ["qmux-00", "1d 00 00 05 61", /close reason needs 5 bytes/],
    ["qmux-00", "ff 51 53 30 0d 0a 0d 0a 10 04", /transport parameters needs 16 bytes/],
    ["qmux-00", "ff 51 53 30 0d 0a 0d 0a 04 04 02 05 06", /bytes after its value/],
    ["qmux-00", "ff 51 53 30 0d 0a 0d 0a 03 04 02 05", /transport parameter 0x4 needs 2 bytes/],
    ["qmux-00", "ff 00 00 00 00 00 00 01", /unknown 8-byte frame type/],
    ["qmux-00", "04 01 00", /missing final size/],
  ];
  for (const [framing, bytes, pattern] of cases) {
    assert.throws(
      () => decodeFrames(bytes === "" ? new Uint8Array(0) : hexBytes(bytes), framing),
      (error: unknown) => error instanceof FrameDecodeError && pattern.test(error.message),
      `${framing} ${bytes}`,
    );
  }
});

Deno.test("framing: encoder refuses oversize payloads and qmux-only frames in webtransport", () => {
  assert.throws(
    () =>
      encodeFrame(
        { type: "stream", id: 0, data: new Uint8Array(MAX_STREAM_PAYLOAD_BYTES + 1), fin: false },
        "webtransport",
      ),
    FrameEncodeError,
  );
  assert.throws(() => encodeFrame({ type: "max_data", max: 1 }, "webtransport"), FrameEncodeError);
  assert.throws(
    () => encodeFrame({ type: "close", code: 1, reason: "", application: false }, "webtransport"),
    FrameEncodeError,
  );
});

Deno.test("framing: long close reasons are cut at a UTF-8 boundary", () => {
  const reason = "é".repeat(MAX_CLOSE_REASON_BYTES); // 2 bytes each
  const [frame] = decodeFrames(
    encodeFrame({ type: "close", code: 1, reason, application: true }, "qmux-00"),
    "qmux-00",
  );
  assert.equal(frame.type, "close");
  if (frame.type !== "close") return;
  assert.equal(frame.reason, "é".repeat(MAX_CLOSE_REASON_BYTES / 2));
});
