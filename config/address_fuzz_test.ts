/**
 * Fuzz tests for `host:port` parsing: never throws (invalid is `undefined`); generated addresses
 * round-trip.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { fuzzParams } from "../testing/mod.ts";
import { isIpv4, isIpv6, parseHostPort, parseIpPort } from "./_address.ts";

const port = fc.nat(65535);

Deno.test("fuzz: IPv4, [IPv6] and DNS host:port round-trip", () => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()), port, (host, p) => {
      const v6 = host.includes(":");
      const text = v6 ? `[${host}]:${p}` : `${host}:${p}`;
      assert.deepEqual(parseHostPort(text), { host, port: p });
      if (v6 || isIpv4(host)) assert.deepEqual(parseIpPort(text), { host, port: p });
      else assert.equal(parseIpPort(text), undefined);
    }),
    fuzzParams(),
  );
});

Deno.test("fuzz: arbitrary address text never throws and yields a port ≤ 65535", () => {
  const addressish = fc.string({ unit: fc.constantFrom(..."0123456789abcdef:.[]%-xz "), maxLength: 48 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 48 }), addressish), (text) => {
      for (const parse of [parseHostPort, parseIpPort]) {
        const out = parse(text);
        if (out !== undefined) assert.ok(Number.isInteger(out.port) && out.port >= 0 && out.port <= 65535);
      }
      isIpv4(text);
      isIpv6(text);
    }),
    fuzzParams(),
  );
});
