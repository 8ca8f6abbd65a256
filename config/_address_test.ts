import assert from "node:assert/strict";
import { parseHostPort, parseIpPort } from "./_address.ts";

Deno.test("parseHostPort accepts IP literals and DNS names", () => {
  assert.deepEqual(parseHostPort("[::]:443"), { host: "::", port: 443 });
  assert.deepEqual(parseHostPort("127.0.0.1:4443"), { host: "127.0.0.1", port: 4443 });
  assert.deepEqual(parseHostPort("relay.example.com:443"), { host: "relay.example.com", port: 443 });
  assert.deepEqual(parseHostPort("localhost:0"), { host: "localhost", port: 0 });
  for (
    const bad of ["443", ":443", "host", "host:", "host:70000", "::1:443", "[nope]:1", "256.1.1.1:1", "a b:1"]
  ) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});

Deno.test("parseIpPort rejects host names", () => {
  assert.deepEqual(parseIpPort("[::1]:8080"), { host: "::1", port: 8080 });
  assert.deepEqual(parseIpPort("0.0.0.0:80"), { host: "0.0.0.0", port: 80 });
  assert.equal(parseIpPort("localhost:8080"), undefined);
  assert.equal(parseIpPort("127.0.0.1"), undefined);
});
