/**
 * Fuzz tests for the moq-lite 01–04 message decoders and the stream reader (session/messages.ts,
 * session/reader.ts). Declared errors: {@link DecodeError}, {@link BoundsError}.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import {
  assertBounded,
  bytes,
  decodeOrReject,
  decodeOrRejectAsync,
  fuzzParams,
  mutated,
} from "../testing/mod.ts";
import { BodyReader, BoundsError, DecodeError } from "../codec/mod.ts";
import { StreamReader } from "../transport/mod.ts";
import {
  type Announce,
  decodeAnnounce,
  decodeAnnounceInit,
  decodeAnnounceInterest,
  decodeClientSetup,
  decodeGoaway,
  decodeGroupHeader,
  decodeProbe,
  decodeServerSetup,
  decodeSessionInfo,
  decodeSubscribe,
  decodeSubscribeDrop,
  decodeSubscribeFields,
  encodeAnnounce,
  encodeAnnounceInit,
  encodeAnnounceInterest,
  encodeClientSetup,
  encodeGoaway,
  encodeGroupHeader,
  encodeProbe,
  encodeServerSetup,
  encodeSubscribe,
  encodeSubscribeOk,
  encodeSubscribeUpdate,
  MAX_NAME_BYTES,
  type Subscribe,
  type SubscribeOk,
  Version,
} from "./messages.ts";
import type { RecvStream } from "../transport/mod.ts";

const ERRORS = [DecodeError, BoundsError];
const VERSIONS = [Version.Lite01, Version.Lite02, Version.Lite03, Version.Lite04];

/** Every decoder, by name, over one body. */
const DECODERS: Array<[string, (v: Version, r: BodyReader) => unknown]> = [
  ["CLIENT_SETUP", (_v, r) => decodeClientSetup(r)],
  ["SERVER_SETUP", (_v, r) => decodeServerSetup(r)],
  ["ANNOUNCE_INTEREST", decodeAnnounceInterest],
  ["ANNOUNCE_INIT", (_v, r) => decodeAnnounceInit(r)],
  ["ANNOUNCE", decodeAnnounce],
  ["SUBSCRIBE", decodeSubscribe],
  ["SUBSCRIBE_OK", (_v, r) => decodeSubscribeFields(r, "SUBSCRIBE_OK")],
  ["SUBSCRIBE_DROP", (_v, r) => decodeSubscribeDrop(r)],
  ["GROUP", (_v, r) => decodeGroupHeader(r)],
  ["PROBE", decodeProbe],
  ["GOAWAY", (_v, r) => decodeGoaway(r)],
  ["SESSION_INFO", (_v, r) => decodeSessionInfo(r)],
];

/** Total size of the strings and arrays in a decoded value (units: bytes/elements). */
function decodedSize(value: unknown): number {
  if (typeof value === "string") return new TextEncoder().encode(value).length;
  if (Array.isArray(value)) return value.length + value.reduce((n: number, v) => n + decodedSize(v), 0);
  if (typeof value === "object" && value !== null) {
    return Object.values(value).reduce((n: number, v) => n + decodedSize(v), 0);
  }
  return 0;
}

Deno.test("fuzz: every moq-lite message decoder, every version, throws only DecodeError/BoundsError", () => {
  fc.assert(
    fc.property(fc.constantFrom(...VERSIONS), fc.nat(DECODERS.length - 1), bytes(), (version, i, body) => {
      const [name, decode] = DECODERS[i];
      const out = decodeOrReject(name, ERRORS, () => decode(version, new BodyReader(body)));
      if (out !== undefined) assertBounded(name, decodedSize(out), body.length);
    }),
    fuzzParams(),
  );
});

/** Split a sized message into its body (checking the size prefix matches). */
function body(encoded: Uint8Array, skip = 0): BodyReader {
  const r = new BodyReader(encoded.subarray(skip));
  const size = r.varint();
  assert.deepEqual(size, r.remaining);
  return new BodyReader(r.bytes(size));
}

const name = fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) =>
  new TextEncoder().encode(s).length <= MAX_NAME_BYTES
);
const vi53 = fc.oneof(fc.nat(0x3f), fc.nat(0x3fff), fc.nat(), fc.maxSafeNat());
const optGroup = fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER - 1 }), { nil: undefined });

Deno.test("fuzz: moq-lite messages round-trip through encode and decode", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...VERSIONS),
      name,
      name,
      vi53,
      fc.array(vi53, { maxLength: 8 }),
      fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
      fc.nat(255),
      fc.boolean(),
      optGroup,
      optGroup,
      (v, a, b, n, hops, id, priority, flag, start, end) => {
        const interest = decodeAnnounceInterest(
          v,
          body(encodeAnnounceInterest(v, { prefix: a, excludeHop: BigInt(n) })),
        );
        assert.deepEqual(interest, { prefix: a, excludeHop: v === Version.Lite04 ? BigInt(n) : 0n });

        const announce: Announce = { active: flag, suffix: b, hops: hops.map(BigInt) };
        const hopsOut = v === Version.Lite04
          ? hops.map(BigInt)
          : v === Version.Lite03
          ? hops.map(() => 0n)
          : [];
        assert.deepEqual(decodeAnnounce(v, body(encodeAnnounce(v, announce))), {
          ...announce,
          hops: hopsOut,
        });

        assert.deepEqual(decodeAnnounceInit(body(encodeAnnounceInit([a, b]))), [a, b]);

        const sub: Subscribe = {
          id,
          broadcast: a,
          track: b,
          priority,
          ordered: flag,
          maxLatencyMs: n,
          startGroup: start,
          endGroup: end,
        };
        const legacy = v === Version.Lite01 || v === Version.Lite02;
        const subOut = legacy
          ? { ...sub, ordered: false, maxLatencyMs: 0, startGroup: undefined, endGroup: undefined }
          : sub;
        assert.deepEqual(decodeSubscribe(v, body(encodeSubscribe(v, sub))), subOut);

        const ok: SubscribeOk = {
          priority,
          ordered: flag,
          maxLatencyMs: n,
          startGroup: start,
          endGroup: end,
        };
        if (!legacy) {
          const encoded = encodeSubscribeOk(v, ok);
          assert.deepEqual(encoded[0], 0); // response type: SUBSCRIBE_OK
          assert.deepEqual(decodeSubscribeFields(body(encoded, 1), "SUBSCRIBE_OK"), ok);
          assert.deepEqual(decodeSubscribeFields(body(encodeSubscribeUpdate(ok)), "SUBSCRIBE_UPDATE"), ok);
        }

        assert.deepEqual(decodeGroupHeader(body(encodeGroupHeader({ subscribeId: id, sequence: n }), 1)), {
          subscribeId: id,
          sequence: n,
        });
        assert.deepEqual(decodeProbe(v, body(encodeProbe(v, n, hops[0] ?? 0))), {
          bitrate: n,
          rttMs: v === Version.Lite04 ? hops[0] ?? 0 : 0,
        });
        assert.deepEqual(decodeGoaway(body(encodeGoaway(a))), a);
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: legacy SETUP round-trips", () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...VERSIONS), { maxLength: 64 }), (versions) => {
      const client = encodeClientSetup(versions);
      const r = new BodyReader(client);
      assert.deepEqual(r.varint(), 0x20);
      const len = r.u16();
      assert.deepEqual(decodeClientSetup(new BodyReader(r.bytes(len))).versions, versions);
      const server = encodeServerSetup(versions[0] ?? Version.Lite02);
      const s = new BodyReader(server);
      assert.deepEqual(s.varint(), 0x21);
      assert.deepEqual(decodeServerSetup(new BodyReader(s.bytes(s.u16()))), versions[0] ?? Version.Lite02);
    }),
    fuzzParams(),
  );
});

/** A valid sized message with the index of its decoder in {@link DECODERS}, and its version. */
const validMessage: fc.Arbitrary<[number, Version, Uint8Array]> = fc.tuple(
  fc.constantFrom(...VERSIONS),
  name,
  vi53,
  fc.array(vi53, { maxLength: 4 }),
  fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
  fc.boolean(),
).chain(([v, text, n, hops, id, flag]) =>
  fc.constantFrom<[number, Version, Uint8Array]>(
    [2, v, encodeAnnounceInterest(v, { prefix: text, excludeHop: BigInt(n) })],
    [3, v, encodeAnnounceInit([text, text])],
    [4, v, encodeAnnounce(v, { active: flag, suffix: text, hops: hops.map(BigInt) })],
    [
      5,
      v,
      encodeSubscribe(v, { id, broadcast: text, track: text, priority: 1, ordered: flag, maxLatencyMs: n }),
    ],
    [
      6,
      v,
      encodeSubscribeUpdate({
        priority: 1,
        ordered: flag,
        maxLatencyMs: n,
        startGroup: hops[0] === undefined ? undefined : hops[0] % 1000,
      }),
    ],
    [8, v, encodeGroupHeader({ subscribeId: id, sequence: n }).subarray(1)],
    [9, v, encodeProbe(v, n, n)],
    [10, v, encodeGoaway(text)],
  )
);

Deno.test("fuzz: mutated valid messages throw only DecodeError/BoundsError", async () => {
  await fc.assert(
    fc.asyncProperty(
      validMessage.chain(([i, v, encoded]) =>
        fc.tuple(fc.constant(i), fc.constant(v), mutated(fc.constant(encoded)))
      ),
      async ([i, v, encoded]) => {
        const [what, decode] = DECODERS[i];
        const out = await decodeOrRejectAsync(what, ERRORS, async () => {
          const body = await new StreamReader(chunked(encoded, [])).message(64 * 1024);
          return decode(v, body);
        });
        if (out !== undefined) assertBounded(what, decodedSize(out), encoded.length);
      },
    ),
    fuzzParams(),
  );
});

/** A RecvStream that yields `data` cut at `cuts`, then FIN. */
function chunked(data: Uint8Array, cuts: number[]): RecvStream {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) chunks.push(data.slice(last, p));
    last = Math.max(last, p);
  }
  if (last < data.length) chunks.push(data.slice(last));
  return {
    read: () => Promise.resolve(chunks.shift() ?? null),
    stop: () => {},
  };
}

const MAX_FRAME = 1024;

Deno.test("fuzz: StreamReader over arbitrary chunked bytes throws only DecodeError/BoundsError", async () => {
  await fc.assert(
    fc.asyncProperty(bytes(512), fc.array(fc.nat(), { maxLength: 8 }), async (data, cuts) => {
      const reader = new StreamReader(chunked(data, cuts));
      let consumed = 0;
      await decodeOrRejectAsync("StreamReader", ERRORS, async () => {
        // A GROUP stream: header message, then frames until FIN.
        const header = await reader.message(64);
        consumed += header.remaining;
        for (let n = 0; n <= data.length; n++) {
          const frame = await reader.frame(MAX_FRAME);
          if (frame === null) return;
          consumed += frame.length;
          // A frame is at most its own encoded size: the allocation is bounded by what arrived + 8.
          assertBounded("frame", frame.length, data.length, 1, 8);
        }
        throw new Error("frame() made no progress");
      });
      assertBounded("StreamReader", consumed, data.length, 1, 8);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: StreamReader frames round-trip whatever the chunking", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (payloads, cuts) => {
        const parts: number[] = [];
        for (const p of payloads) {
          if (p.length >= 64) parts.push(0x40 | (p.length >> 8), p.length & 0xff);
          else parts.push(p.length);
          parts.push(...p);
        }
        const reader = new StreamReader(chunked(Uint8Array.from(parts), cuts));
        for (const p of payloads) {
          const frame = await reader.frame(MAX_FRAME);
          const r = new BodyReader(frame!);
          assert.deepEqual(r.bytes(r.varint()), p);
        }
        assert.deepEqual(await reader.frame(MAX_FRAME), null);
      },
    ),
    fuzzParams(),
  );
});
