/**
 * Fuzz tests for the IETF moq-transport codec (session/ietf/control.ts, data.ts, wire.ts), every
 * draft 14–20: control frames and every control message body, stream headers, subgroup and fetch
 * objects, datagrams. Declared errors: {@link DecodeError} (with its subclasses
 * {@link UnknownMessageError} and {@link ParameterError}) and {@link BoundsError}.
 */

import { fc } from "../../testing/mod.ts";
import { bytes, decodeOrReject, fuzzParams, mutated } from "../../testing/mod.ts";
import { BoundsError, DecodeError } from "../../codec/mod.ts";
import {
  controlId,
  controlKinds,
  decodeControl,
  decodeDatagram,
  type Draft,
  DRAFTS,
  encodeControl,
  encodeDatagram,
  encodeStreamHeader,
  type FetchObject,
  readControlFrame,
  readFetchObject,
  readStreamHeader,
  readSubgroupObject,
  type SubgroupHeader,
} from "./mod.ts";

const ERRORS = [DecodeError, BoundsError];

const draftArb: fc.Arbitrary<Draft> = fc.constantFrom(...DRAFTS);

/** A few valid encodings to mutate, for the given draft. */
function validFrames(draft: Draft): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.string().map((uri) => encodeControl({ kind: "goaway", uri }, draft)),
    fc.tuple(fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 40 })).map(([trackAlias, group, payload]) =>
      encodeDatagram({
        trackAlias,
        group,
        objectId: 1,
        publisherPriority: 5,
        extensions: [{ type: 2, value: 7 }],
        payload,
        endOfGroup: false,
      }, draft)
    ),
    fc.tuple(fc.nat(), fc.nat()).map(([trackAlias, group]) =>
      encodeStreamHeader({
        kind: "subgroup",
        trackAlias,
        group,
        subgroupIdMode: "explicit",
        subgroup: 1,
        extensions: true,
        endOfGroup: false,
        firstObjectBit: false,
        publisherPriority: 1,
      } as SubgroupHeader, draft)
    ),
  );
}

Deno.test("fuzz: IETF control frames and every control body, every draft, throw only DecodeError/BoundsError", () => {
  fc.assert(
    fc.property(draftArb, bytes(512), (draft, body) => {
      decodeOrReject(`draft-${draft} control frame`, ERRORS, () => readControlFrame(body, draft));
      for (const kind of controlKinds(draft)) {
        const type = controlId(kind, draft);
        if (type === undefined) continue;
        decodeOrReject(`draft-${draft} ${kind}`, ERRORS, () => decodeControl(type, body, draft));
      }
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: IETF stream headers, subgroup/fetch objects and datagrams throw only DecodeError/BoundsError", () => {
  const headers: SubgroupHeader[] = [
    {
      kind: "subgroup",
      trackAlias: 1,
      group: 0,
      subgroupIdMode: "zero",
      extensions: false,
      endOfGroup: false,
      firstObjectBit: false,
    },
    {
      kind: "subgroup",
      trackAlias: 1,
      group: 0,
      subgroupIdMode: "explicit",
      subgroup: 3,
      extensions: true,
      endOfGroup: true,
      firstObjectBit: false,
    },
  ];
  fc.assert(
    fc.property(
      draftArb.chain((draft) =>
        fc.tuple(fc.constant(draft), fc.oneof(bytes(512), mutated(validFrames(draft))))
      ),
      fc.option(fc.nat(), { nil: undefined }),
      ([draft, buf], prev) => {
        decodeOrReject(`draft-${draft} stream header`, ERRORS, () => readStreamHeader(buf, draft));
        decodeOrReject(`draft-${draft} datagram`, ERRORS, () => decodeDatagram(buf, draft));
        for (const h of headers) {
          decodeOrReject(
            `draft-${draft} subgroup object`,
            ERRORS,
            () => readSubgroupObject(buf, h, prev, draft),
          );
        }
        const prevFetch: FetchObject | undefined = prev === undefined ? undefined : {
          group: prev,
          subgroup: 0,
          objectId: prev,
          publisherPriority: 1,
          extensions: [],
          payload: new Uint8Array(0),
        };
        decodeOrReject(`draft-${draft} fetch object`, ERRORS, () => readFetchObject(buf, prevFetch, draft));
        decodeOrReject(
          `draft-${draft} fetch object (first)`,
          ERRORS,
          () => readFetchObject(buf, undefined, draft),
        );
      },
    ),
    fuzzParams(),
  );
});
