/**
 * Fuzz tests for WebTransport CONNECT validation: `validateConnect` never throws (a bad request is
 * `{ ok: false, status }`), accepts exactly the well-formed CONNECTs, and the response encoding
 * decodes back to its status and subprotocol.
 */

import assert from "node:assert/strict";
import { fc } from "../../testing/mod.ts";
import { fuzzParams } from "../../testing/mod.ts";
import {
  encodeConnectResponse,
  selectSubprotocol,
  validateConnect,
  WEBTRANSPORT_SUBPROTOCOLS,
} from "./_connect.ts";
import { decodeFieldSection, type HeaderField } from "./_qpack.ts";
import { decodeVarint } from "../../codec/mod.ts";
import { parseList } from "./_structured_fields.ts";

const NAMES = [
  ":method",
  ":protocol",
  ":scheme",
  ":authority",
  ":path",
  ":status",
  "origin",
  "wt-available-protocols",
  "x",
];
const VALUES = [
  "CONNECT",
  "GET",
  "webtransport",
  "https",
  "http",
  "relay.example:443",
  "[::1]:4443",
  "/",
  "/a?b=c",
  "",
  "a b",
  '"moq-lite-04", "moq-lite-03"',
];
const fieldArb: fc.Arbitrary<HeaderField> = fc.tuple(
  fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 })),
  fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 24 })),
);

Deno.test("fuzz: validateConnect never throws and answers 400 or 405 for what it refuses", () => {
  fc.assert(
    fc.property(fc.array(fieldArb, { maxLength: 10 }), (fields) => {
      const result = validateConnect(fields);
      if (result.ok) {
        assert.equal(result.request.url.protocol, "https:");
        assert.ok(result.request.offeredProtocols.length <= fields.length * 64);
      } else {
        assert.ok(result.status === 400 || result.status === 405);
      }
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: a well-formed CONNECT is accepted with its offered protocols", () => {
  fc.assert(
    fc.property(
      fc.domain(),
      fc.option(fc.nat(65535), { nil: undefined }),
      fc.webPath(),
      fc.array(fc.constantFrom("moq-lite-04", "moq-lite-03", "moq-lite-02", "other"), { maxLength: 4 }),
      (host, port, path, offered) => {
        const authority = port === undefined ? host : `${host}:${port}`;
        const fields: HeaderField[] = [
          [":method", "CONNECT"],
          [":protocol", "webtransport"],
          [":scheme", "https"],
          [":authority", authority],
          [":path", `/${path.replace(/^\//, "")}`],
          ["wt-available-protocols", offered.map((p) => `"${p}"`).join(", ")],
        ];
        const result = validateConnect(fields);
        assert.ok(result.ok, JSON.stringify(result));
        assert.deepEqual(result.request.offeredProtocols, offered);
        const selected = selectSubprotocol(offered);
        assert.equal(
          selected,
          offered.find((p) => (WEBTRANSPORT_SUBPROTOCOLS as readonly string[]).includes(p)) ?? "",
        );
      },
    ),
    fuzzParams(),
  );
});

Deno.test("fuzz: CONNECT responses decode to their status and wt-protocol", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 100, max: 599 }),
      fc.constantFrom("", ...WEBTRANSPORT_SUBPROTOCOLS),
      (status, protocol) => {
        const frame = encodeConnectResponse(status, protocol);
        const type = decodeVarint(frame)!;
        assert.equal(type.value, 0x01);
        const length = decodeVarint(frame, type.length)!;
        const fields = decodeFieldSection(frame.subarray(type.length + length.length));
        assert.deepEqual(fields[0], [":status", String(status)]);
        const wt = fields.find(([name]) => name === "wt-protocol");
        if (protocol === "") assert.equal(wt, undefined);
        else assert.deepEqual(parseList(wt![1]), [{ kind: "string", value: protocol }]);
      },
    ),
    fuzzParams(),
  );
});
