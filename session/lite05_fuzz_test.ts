/**
 * Fuzz tests for the moq-lite-05 decoders (session/lite05.ts): every message decoder over random and
 * mutated bodies, frames with a running timestamp, datagrams and response types. Declared errors:
 * {@link DecodeError} (and its lite-05 subclasses) and {@link BoundsError}.
 */

import { fc } from "../testing/mod.ts";
import { assertBounded, bytes, decodeOrReject, fuzzParams, mutated } from "../testing/mod.ts";
import { BodyReader, BoundsError, DecodeError } from "../codec/mod.ts";
import {
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeAnnounceRequest,
  decodeDatagram05,
  decodeFetch05,
  decodeFrame05,
  decodeGoaway05,
  decodeGroupHeader05,
  decodeProbe05,
  decodeSetupStream,
  decodeSubscribe05,
  decodeSubscribeResponse05,
  decodeSubscribeUpdate05,
  decodeTrack,
  decodeTrackInfo,
  encodeAnnounceBroadcast,
  encodeFetch05,
  encodeSetupStream,
  encodeSubscribe05,
  encodeTrack,
  FrameTimestampDecoder,
  parseBidiType05,
  parseSubscribeResponseType,
  parseUniType05,
  ProbeLevel,
  Role,
} from "./lite05.ts";

const ERRORS = [DecodeError, BoundsError];

/** Every body decoder, by name. */
const DECODERS: Array<[string, (r: BodyReader) => unknown]> = [
  ["ANNOUNCE_REQUEST", decodeAnnounceRequest],
  ["ANNOUNCE_OK", decodeAnnounceOk],
  ["ANNOUNCE", decodeAnnounceBroadcast],
  ["TRACK", decodeTrack],
  ["TRACK_INFO", decodeTrackInfo],
  ["SUBSCRIBE", decodeSubscribe05],
  ["SUBSCRIBE_UPDATE", decodeSubscribeUpdate05],
  ["GROUP", decodeGroupHeader05],
  ["FETCH", decodeFetch05],
  ["PROBE", decodeProbe05],
  ["GOAWAY", decodeGoaway05],
  ["SUBSCRIBE_RESPONSE 0", (r) => decodeSubscribeResponse05(0, r)],
  ["SUBSCRIBE_RESPONSE 1", (r) => decodeSubscribeResponse05(1, r)],
  ["SUBSCRIBE_RESPONSE 2", (r) => decodeSubscribeResponse05(2, r)],
  ["FRAMES", (r) => {
    const clock = new FrameTimestampDecoder();
    const frames = [];
    while (r.remaining > 0) frames.push(decodeFrame05(r, clock, 1 << 20));
    return frames;
  }],
];

/** Total size of the strings, arrays and byte views in a decoded value. */
function decodedSize(value: unknown): number {
  if (typeof value === "string") return new TextEncoder().encode(value).length;
  if (value instanceof Uint8Array) return value.length;
  if (Array.isArray(value)) return value.length + value.reduce((n: number, v) => n + decodedSize(v), 0);
  if (typeof value === "object" && value !== null) {
    return Object.values(value).reduce((n: number, v) => n + decodedSize(v), 0);
  }
  return 0;
}

/** Valid encodings to mutate (size prefix stripped where the decoder takes a bare body). */
const valid: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(fc.string(), fc.string(), fc.nat(255), fc.nat()).map(([broadcast, track, priority, group]) =>
    encodeFetch05({ broadcast, track, priority, group })
  ),
  fc.tuple(fc.string(), fc.string()).map(([broadcast, track]) => encodeTrack({ broadcast, track })),
  fc.tuple(fc.string(), fc.boolean()).map(([suffix, active]) =>
    encodeAnnounceBroadcast({ suffix, active, hops: active ? [1n, 2n] : [] })
  ),
);

function withoutSizePrefix(b: Uint8Array): Uint8Array {
  try {
    const r = new BodyReader(b);
    r.varint();
    return b.subarray(b.length - r.remaining);
  } catch {
    return b;
  }
}

Deno.test("fuzz: every lite-05 body decoder throws only DecodeError/BoundsError, output bounded", () => {
  fc.assert(
    fc.property(fc.oneof(bytes(), mutated(valid).map(withoutSizePrefix)), (body) => {
      for (const [name, decode] of DECODERS) {
        const out = decodeOrReject(name, ERRORS, () => decode(new BodyReader(body)));
        if (out !== undefined) assertBounded(name, decodedSize(out), body.length, 2);
      }
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: lite-05 SETUP stream, datagrams and stream types throw only DecodeError/BoundsError", () => {
  const setup = fc.tuple(fc.string(), fc.constantFrom(Role.Publisher, Role.Subscriber, Role.Both)).map(
    ([path, role]) => encodeSetupStream({ path, role, probe: ProbeLevel.None, cost: 3, origin: 7n }),
  );
  fc.assert(
    fc.property(fc.oneof(bytes(), mutated(setup)), fc.nat(), (body, type) => {
      decodeOrReject("SETUP", ERRORS, () => decodeSetupStream(body));
      decodeOrReject("SETUP (skip type)", ERRORS, () => decodeSetupStream(body.subarray(1)));
      decodeOrReject("DATAGRAM", ERRORS, () => decodeDatagram05(body));
      decodeOrReject("bidi type", ERRORS, () => parseBidiType05(type));
      decodeOrReject("uni type", ERRORS, () => parseUniType05(type));
      decodeOrReject("response type", ERRORS, () => parseSubscribeResponseType(type));
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: lite-05 SUBSCRIBE round-trips through mutation without foreign errors", () => {
  const sub = fc.tuple(fc.string(), fc.string(), fc.nat(255)).map(([broadcast, track, priority]) => {
    return encodeSubscribe05({
      id: 1n,
      broadcast,
      track,
      priority,
      ordered: true,
      maxLatencyMs: 500,
      startGroup: 3,
    });
  });
  fc.assert(
    fc.property(mutated(sub).map(withoutSizePrefix), (body) => {
      decodeOrReject("SUBSCRIBE", ERRORS, () => decodeSubscribe05(new BodyReader(body)));
    }),
    fuzzParams(),
  );
});
