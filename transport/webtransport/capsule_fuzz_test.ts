/**
 * Fuzz tests for the incremental capsule parser on the CONNECT stream. Declared error:
 * {@link CapsuleError}. Its buffer stays bounded whatever arrives.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { assertBounded, bytes, decodeOrReject, fuzzParams, mutated } from "../../testing/mod.ts";
import {
  CAPSULE,
  type Capsule,
  CapsuleError,
  CapsuleParser,
  encodeCapsule,
  encodeCloseSessionData,
  MAX_BUFFERED_CAPSULE_BYTES,
  MAX_CLOSE_REASON_BYTES,
} from "./_capsule.ts";
import { decodeVarint } from "../../codec/mod.ts";

/** Feed `data` cut at `cuts`; returns every capsule, or throws what the parser throws. */
function feed(data: Uint8Array, cuts: number[]): { capsules: Capsule[]; idle: boolean } {
  const parser = new CapsuleParser();
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const capsules: Capsule[] = [];
  let last = 0;
  for (const p of [...points, data.length]) {
    capsules.push(...parser.push(data.subarray(last, Math.max(last, p))));
    last = Math.max(last, p);
  }
  return { capsules, idle: parser.idle };
}

/** The capsule bytes inside one encoded HTTP/3 DATA frame. */
function dataPayload(frame: Uint8Array): Uint8Array {
  const type = decodeVarint(frame)!;
  const length = decodeVarint(frame, type.length)!;
  return frame.subarray(type.length + length.length);
}

const reason = fc.string({ unit: "grapheme-ascii", maxLength: 80 });
const capsuleBytes = fc.oneof(
  fc.tuple(fc.nat(0xffffffff), reason).map(([code, text]) => dataPayload(encodeCloseSessionData(code, text))),
  fc.constant(encodeCapsule(CAPSULE.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array(0))),
  fc.tuple(fc.nat(0x3fffffff), fc.uint8Array({ maxLength: 64 })).filter(([type]) =>
    type !== CAPSULE.CLOSE_WEBTRANSPORT_SESSION && type !== CAPSULE.DRAIN_WEBTRANSPORT_SESSION
  ).map(([type, payload]) => encodeCapsule(type, payload)),
);

Deno.test("fuzz: CLOSE and DRAIN capsules round-trip through the parser, any chunking, unknown ones skipped", () => {
  fc.assert(
    fc.property(
      fc.tuple(fc.nat(0xffffffff), reason),
      fc.uint8Array({ maxLength: 32 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      ([code, text], grease, cuts) => {
        const close = dataPayload(encodeCloseSessionData(code, text));
        const unknown = encodeCapsule(0x29, grease);
        const drain = encodeCapsule(CAPSULE.DRAIN_WEBTRANSPORT_SESSION, new Uint8Array(0));
        const all = Uint8Array.from([...unknown, ...close, ...drain]);
        const { capsules, idle } = feed(all, cuts);
        assert.deepEqual(capsules, [{ type: "close", code, reason: text }, { type: "drain" }]);
        assert.ok(idle);
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary CONNECT-stream bytes parse or raise CapsuleError; capsules bounded by input", () => {
  const stream = fc.array(capsuleBytes, { maxLength: 3 }).map((parts) =>
    Uint8Array.from(parts.flatMap((p) => [...p]))
  );
  fc.assert(
    fc.property(fc.oneof(bytes(), mutated(stream)), fc.array(fc.nat(), { maxLength: 6 }), (input, cuts) => {
      const out = decodeOrReject("CapsuleParser.push", [CapsuleError], () => feed(input, cuts));
      if (out === undefined) return;
      let size = 0;
      for (const capsule of out.capsules) {
        size += 1 + (capsule.type === "close" ? capsule.reason.length : 0);
        if (capsule.type === "close") assert.ok(capsule.reason.length <= MAX_CLOSE_REASON_BYTES);
      }
      assertBounded("CapsuleParser", size, input.length);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: a known capsule larger than the buffer limit is a CapsuleError, not buffered", () => {
  fc.assert(
    fc.property(fc.integer({ min: MAX_BUFFERED_CAPSULE_BYTES + 1, max: 2 ** 30 }), (length) => {
      const header = encodeCapsule(CAPSULE.CLOSE_WEBTRANSPORT_SESSION, new Uint8Array(0));
      // Replace the zero length with `length` and send only the header.
      const type = header.subarray(0, header.length - 1);
      const withLength = Uint8Array.from([
        ...type,
        ...encodeCapsule(length, new Uint8Array(0)).subarray(0, -1),
      ]);
      assert.throws(() => new CapsuleParser().push(withLength), CapsuleError);
    }),
    fuzzParams(),
  );
});
