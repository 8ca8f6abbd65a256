/**
 * Fuzz tests for HTTP/3 framing: SETTINGS payloads (declared error {@link SettingsError}) and frame
 * headers read from a chunked stream (declared errors {@link FrameError},
 * {@link TruncatedStreamError}); frames and SETTINGS round-trip.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { assertBounded, bytes, decodeOrReject, decodeOrRejectAsync, fuzzParams } from "../../testing/mod.ts";
import { BufferedReader, TruncatedStreamError } from "./_buffered_reader.ts";
import {
  encodeH3Frame,
  encodeSettings,
  FrameError,
  parseSettings,
  readFrameHeader,
  SettingsError,
} from "./h3.ts";

/** A reader over `data` delivered in chunks cut at `cuts`. */
function chunkedReader(data: Uint8Array, cuts: number[]): BufferedReader {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, data.length]) {
    if (p > last) chunks.push(data.slice(last, p));
    last = Math.max(last, p);
  }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
  return new BufferedReader(stream.getReader());
}

const varintValue = fc.oneof(fc.nat(0x3f), fc.nat(0x3fff), fc.nat(0x3fffffff), fc.maxSafeNat());

Deno.test("fuzz: SETTINGS payloads parse or raise SettingsError; entries bounded by input", () => {
  fc.assert(
    fc.property(bytes(), (payload) => {
      const settings = decodeOrReject("parseSettings", [SettingsError], () => parseSettings(payload));
      if (settings !== undefined) assertBounded("parseSettings", settings.size * 2, payload.length, 1, 0);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: SETTINGS round-trip", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(varintValue, varintValue), { selector: ([id]) => id, maxLength: 16 }),
      (
        entries,
      ) => {
        assert.deepEqual([...parseSettings(encodeSettings(entries))], entries);
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: frames read back from any chunking; arbitrary streams raise only FrameError/TruncatedStreamError", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(varintValue, fc.uint8Array({ maxLength: 64 })), { maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      bytes(64),
      async (frames, cuts, noise) => {
        const encoded = frames.map(([type, payload]) => encodeH3Frame(type, payload));
        const all = new Uint8Array(encoded.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const f of encoded) {
          all.set(f, at);
          at += f.length;
        }
        const reader = chunkedReader(all, cuts);
        for (const [type, payload] of frames) {
          const header = await readFrameHeader(reader);
          assert.deepEqual(header, { type, length: payload.length });
          assert.deepEqual(await reader.readBytes(header!.length), payload);
        }
        assert.equal(await readFrameHeader(reader), null);

        const garbage = chunkedReader(noise, cuts);
        await decodeOrRejectAsync("readFrameHeader", [FrameError, TruncatedStreamError], async () => {
          for (let i = 0; i <= noise.length; i++) {
            const header = await readFrameHeader(garbage);
            if (header === null) return;
            // Never buffer a claimed length: skip it in pieces (what the server does for unknown frames).
            await garbage.skip(header.length);
          }
          throw new Error("readFrameHeader made no progress");
        });
      },
    ),
    fuzzParams(),
  );
});
