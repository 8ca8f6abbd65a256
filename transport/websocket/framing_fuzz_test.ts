/**
 * Fuzz tests for the `webtransport` and `qmux-00` WebSocket frame codecs. Declared decode error:
 * {@link FrameDecodeError}; declared encode error: {@link FrameEncodeError}.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { assertBounded, bytes, decodeOrReject, fuzzParams, mutated } from "../../testing/mod.ts";
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  FrameDecodeError,
  FrameEncodeError,
  type Framing,
  MAX_STREAM_PAYLOAD_BYTES,
} from "./framing.ts";

const FRAMINGS: Framing[] = ["webtransport", "qmux-00"];

/** Bytes and objects a decoded frame list holds. */
function decodedSize(frames: Frame[]): number {
  let size = 0;
  for (const frame of frames) {
    size += 1;
    if (frame.type === "stream") size += frame.data.length;
    if (frame.type === "close") size += frame.reason.length;
  }
  return size;
}

const id = fc.oneof(fc.nat(0x3f), fc.nat(0x3fff), fc.maxSafeNat());
const limit = fc.oneof(fc.nat(0x3fff), fc.maxSafeNat());
const reason = fc.string({ maxLength: 64 });

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constant("stream" as const),
    id,
    data: fc.uint8Array({ maxLength: 64 }),
    fin: fc.boolean(),
  }),
  fc.record({ type: fc.constant("reset_stream" as const), id, code: limit, finalSize: limit }),
  fc.record({ type: fc.constant("stop_sending" as const), id, code: limit }),
  fc.record({ type: fc.constant("close" as const), code: limit, reason, application: fc.boolean() }),
  fc.record({
    type: fc.constant("transport_parameters" as const),
    params: fc.record({
      initialMaxData: limit,
      initialMaxStreamDataBidiLocal: limit,
      initialMaxStreamDataBidiRemote: limit,
      initialMaxStreamDataUni: limit,
      initialMaxStreamsBidi: limit,
      initialMaxStreamsUni: limit,
    }),
  }),
  fc.record({ type: fc.constant("max_data" as const), max: limit }),
  fc.record({ type: fc.constant("max_stream_data" as const), id, max: limit }),
  fc.record({ type: fc.constant("max_streams" as const), bidi: fc.boolean(), max: limit }),
  fc.record({ type: fc.constant("data_blocked" as const), limit }),
  fc.record({ type: fc.constant("stream_data_blocked" as const), id, limit }),
  fc.record({ type: fc.constant("streams_blocked" as const), bidi: fc.boolean(), limit }),
);

/** What the decoder returns for `frame` in `framing` (webtransport RESET carries no final size). */
function expected(frame: Frame, framing: Framing): Frame {
  // structuredClone: fast-check records have a null prototype, decoded frames do not.
  const plain = structuredClone(frame);
  if (framing === "webtransport" && plain.type === "reset_stream") return { ...plain, finalSize: 0 };
  return plain;
}

Deno.test("fuzz: WebSocket frames round-trip in both framings", () => {
  fc.assert(
    fc.property(fc.constantFrom(...FRAMINGS), frameArb, (framing, frame) => {
      const encoded = decodeOrReject("encodeFrame", [FrameEncodeError], () => encodeFrame(frame, framing));
      if (encoded === undefined) {
        // Only flow-control frames and CONNECTION_CLOSE have no webtransport encoding.
        assert.equal(framing, "webtransport");
        return;
      }
      assert.deepEqual(decodeFrames(encoded, framing), [expected(frame, framing)]);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: oversized STREAM payloads raise FrameEncodeError", () => {
  fc.assert(
    fc.property(fc.constantFrom(...FRAMINGS), fc.nat(64), (framing, extra) => {
      const data = new Uint8Array(MAX_STREAM_PAYLOAD_BYTES + 1 + extra);
      assert.throws(
        () => encodeFrame({ type: "stream", id: 0, data, fin: false }, framing),
        FrameEncodeError,
      );
    }),
    { ...fuzzParams(), numRuns: Math.min(fuzzParams().numRuns ?? 100, 100) },
  );
});

Deno.test("fuzz: arbitrary WebSocket messages decode or raise FrameDecodeError, output bounded by input", () => {
  const encodedFrames = fc.tuple(
    fc.constantFrom(...FRAMINGS),
    fc.array(frameArb, { minLength: 1, maxLength: 3 }),
  )
    .map(([framing, frames]) => {
      const parts = frames.flatMap((frame) => {
        try {
          return [...encodeFrame(frame, framing)];
        } catch {
          return [];
        }
      });
      return Uint8Array.from(parts);
    });
  fc.assert(
    fc.property(
      fc.constantFrom(...FRAMINGS),
      fc.oneof(bytes(), mutated(encodedFrames)),
      (framing, message) => {
        const frames = decodeOrReject(
          "decodeFrames",
          [FrameDecodeError],
          () => decodeFrames(message, framing),
        );
        if (frames === undefined) {
          return;
        }
        assertBounded("decodeFrames", decodedSize(frames), message.length);
        if (framing === "webtransport") assert.equal(frames.length, 1);
        for (const frame of frames) {
          if ("id" in frame) assert.ok(Number.isSafeInteger(frame.id) && frame.id >= 0);
        }
      },
    ),
    fuzzParams(),
  );
});
