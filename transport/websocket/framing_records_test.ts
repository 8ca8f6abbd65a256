/** Frame codec of the record framings `qmux-01` and `qmux-02` (and what changed for qmux-00 closes). */
import assert from "node:assert/strict";
import {
  decodeFrames,
  DEFAULT_MAX_RECORD_SIZE_BYTES,
  encodeFrame,
  type Frame,
  FrameDecodeError,
  FrameEncodeError,
  type Framing,
} from "./framing.ts";
import { concat, hexBytes, QMUX_CLIENT_PARAMS, QMUX_SAMPLE_FRAMES } from "../../testing/mod.ts";

Deno.test("qmux-01/02: every frame round-trips alone and all of them in one record", () => {
  for (const framing of ["qmux-01", "qmux-02"] as Framing[]) {
    const frames: Frame[] = [
      {
        type: "transport_parameters",
        params: {
          ...QMUX_CLIENT_PARAMS,
          maxIdleTimeoutMs: 30_000,
          maxDatagramFrameSize: 16_382,
          maxRecordSize: 65_536,
          resetStreamAt: true,
        },
      },
      ...QMUX_SAMPLE_FRAMES,
      { type: "ping", response: false, sequence: 0 },
      { type: "ping", response: true, sequence: 2 ** 40 },
      { type: "datagram", data: hexBytes("01 02 03") },
    ];
    if (framing === "qmux-02") {
      frames.push({ type: "reset_stream_at", id: 2, code: 5, finalSize: 100, reliableSize: 40 });
    }
    for (const frame of frames) {
      assert.deepEqual(
        decodeFrames(encodeFrame(frame, framing), framing),
        [frame],
        `${framing} ${frame.type}`,
      );
    }
    // One record: PADDING in front, between and at the end is dropped.
    const pad = encodeFrame({ type: "padding", length: 3 }, framing);
    const record = concat([pad, ...frames.map((frame) => concat([encodeFrame(frame, framing), pad]))]);
    assert.deepEqual(decodeFrames(record, framing), frames, framing);
  }
});

Deno.test("qmux-01/02: wire bytes of QX_PING, closes, RESET_STREAM_AT and the new transport parameters", () => {
  assert.deepEqual(
    encodeFrame({ type: "ping", response: false, sequence: 5 }, "qmux-01"),
    hexBytes("f4 8c 67 52 9e f8 c7 bd 05"),
  );
  assert.deepEqual(
    encodeFrame({ type: "ping", response: true, sequence: 5 }, "qmux-02"),
    hexBytes("f4 8c 67 52 9e f8 c7 be 05"),
  );
  // RFC 9000 §19.19: APPLICATION_CLOSE has no frame-type field on the record framings ...
  assert.deepEqual(
    encodeFrame({ type: "close", code: 7, reason: "bye", application: true }, "qmux-01"),
    hexBytes("1d 07 03 62 79 65"),
  );
  // ... CONNECTION_CLOSE has one.
  assert.deepEqual(
    encodeFrame({ type: "close", code: 7, reason: "bye", application: false }, "qmux-02"),
    hexBytes("1c 07 00 03 62 79 65"),
  );
  assert.deepEqual(
    encodeFrame({ type: "reset_stream_at", id: 2, code: 5, finalSize: 100, reliableSize: 40 }, "qmux-02"),
    hexBytes("24 02 05 40 64 28"),
  );
  assert.deepEqual(
    encodeFrame({
      type: "transport_parameters",
      params: {
        initialMaxData: 0,
        initialMaxStreamDataBidiLocal: 0,
        initialMaxStreamDataBidiRemote: 0,
        initialMaxStreamDataUni: 0,
        initialMaxStreamsBidi: 0,
        initialMaxStreamsUni: 0,
        maxIdleTimeoutMs: 30_000,
        maxRecordSize: DEFAULT_MAX_RECORD_SIZE_BYTES,
        resetStreamAt: true,
      },
    }, "qmux-02"),
    hexBytes("ff 51 53 30 0d 0a 0d 0a 13  01 04 80 00 75 30  c5 71 c5 94 29 cd 08 45 02 7f fe  1d 00"),
  );
});

Deno.test("qmux-00: APPLICATION_CLOSE is read in the 0.0.6 form and in the RFC 9000 form of 0.3.3", () => {
  // 0.0.6: code, frame type, reason length, reason.
  assert.deepEqual(decodeFrames(hexBytes("1d 07 00 03 62 79 65"), "qmux-00"), [
    { type: "close", code: 7, reason: "bye", application: true },
  ]);
  // 0.3.3: code, reason length, reason.
  assert.deepEqual(decodeFrames(hexBytes("1d 07 03 62 79 65"), "qmux-00"), [
    { type: "close", code: 7, reason: "bye", application: true },
  ]);
  assert.deepEqual(decodeFrames(hexBytes("1d 00 00"), "qmux-00"), [
    { type: "close", code: 0, reason: "", application: true },
  ]);
  // QX_PING is understood in qmux-00 too (0.3.3 answers it there); RESET_STREAM_AT is decoded so
  // the session can refuse it.
  assert.deepEqual(decodeFrames(hexBytes("f4 8c 67 52 9e f8 c7 bd 01"), "qmux-00"), [
    { type: "ping", response: false, sequence: 1 },
  ]);
  assert.deepEqual(decodeFrames(hexBytes("24 02 05 40 64 28"), "qmux-00"), [
    { type: "reset_stream_at", id: 2, code: 5, finalSize: 100, reliableSize: 40 },
  ]);
});

Deno.test("qmux-01/02: malformed records raise FrameDecodeError naming the problem", () => {
  const tp = "ff 51 53 30 0d 0a 0d 0a";
  const cases: Array<[Framing, string, RegExp]> = [
    ["qmux-01", "21 01 02", /unknown frame type 0x21 in a qmux-01 record/],
    ["qmux-02", "10 05 21", /unknown frame type 0x21 in a qmux-02 record/],
    ["qmux-01", "f4 8c 67 52 9e f8 c7 bd", /missing ping sequence/],
    ["qmux-02", "24 02 05 10 11", /reliable size 17 exceeds its final size 16/],
    ["qmux-02", "24 02 05 10", /missing reliable size/],
    ["qmux-01", "1d 07 05 62", /close reason needs 5 bytes/],
    ["qmux-01", "31 05 01", /datagram needs 5 bytes/],
    ["qmux-01", `${tp} 06 04 01 05 04 01 06`, /transport parameter 0x4 appears twice/],
    ["qmux-01", `${tp} 03 0c 01 00`, /0xc is a QUIC v1 parameter QMux forbids/],
    ["qmux-02", `${tp} 03 00 01 00`, /0x0 is a QUIC v1 parameter QMux forbids/],
    ["qmux-01", `${tp} 09 fd 4f 9c 2a 8b 1e 60 75 00`, /application_protocols/],
    ["qmux-02", `${tp} 03 1d 01 00`, /reset_stream_at transport parameter must be empty/],
    [
      "qmux-01",
      `${tp} 0b c5 71 c5 94 29 cd 08 45 02 40 64`,
      /max_record_size 100 is below the minimum 16382/,
    ],
    ["qmux-01", `${tp} 02 01 00`, /missing transport parameter 0x1 value/],
    ["qmux-02", "ff 00 00 00 00 00 00 01", /unknown 8-byte frame type/],
  ];
  for (const [framing, bytes, pattern] of cases) {
    assert.throws(
      () => decodeFrames(hexBytes(bytes), framing),
      (error: unknown) => error instanceof FrameDecodeError && pattern.test(error.message),
      `${framing} ${bytes}`,
    );
  }
  // qmux-00 stays lenient: a repeated or forbidden parameter is not an error there.
  assert.equal(decodeFrames(hexBytes(`${tp} 06 04 01 05 04 01 06`), "qmux-00").length, 1);
  assert.equal(decodeFrames(hexBytes(`${tp} 03 0c 01 00`), "qmux-00").length, 1);
});

Deno.test("framing: record-only frames are refused by the encoder elsewhere", () => {
  assert.throws(
    () => encodeFrame({ type: "ping", response: false, sequence: 1 }, "qmux-00"),
    FrameEncodeError,
  );
  assert.throws(() => encodeFrame({ type: "padding", length: 1 }, "webtransport"), FrameEncodeError);
  assert.throws(() => encodeFrame({ type: "padding", length: 0 }, "qmux-01"), FrameEncodeError);
  assert.throws(
    () => encodeFrame({ type: "reset_stream_at", id: 2, code: 0, finalSize: 1, reliableSize: 0 }, "qmux-01"),
    /only in qmux-02/,
  );
  assert.throws(
    () => encodeFrame({ type: "reset_stream_at", id: 2, code: 0, finalSize: 1, reliableSize: 2 }, "qmux-02"),
    /must not exceed the final size/,
  );
});
