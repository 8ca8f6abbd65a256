import assert from "node:assert/strict";
import { isIpv4, isIpv6, parseHostPort, splitHostPort } from "./host_port.ts";

Deno.test("parseHostPort accepts IP literals and DNS names, without brackets", () => {
  assert.deepEqual(parseHostPort("[::]:443"), { host: "::", port: 443 });
  assert.deepEqual(parseHostPort("[fe80::1%eth0]:1"), { host: "fe80::1%eth0", port: 1 });
  assert.deepEqual(parseHostPort("127.0.0.1:4443"), { host: "127.0.0.1", port: 4443 });
  assert.deepEqual(parseHostPort("relay.example.com:443"), { host: "relay.example.com", port: 443 });
  assert.deepEqual(parseHostPort("localhost:65535"), { host: "localhost", port: 65535 });
});

Deno.test("parseHostPort rejects malformed addresses", () => {
  const bad = [
    "",
    "443",
    ":443",
    "host",
    "host:",
    "host:65536",
    "::1:443",
    "[nope]:1",
    "256.1.1.1:1",
    "a b:1",
  ];
  for (const text of bad) assert.equal(parseHostPort(text), undefined, text);
});

Deno.test("splitHostPort only splits; the IP checks judge hosts", () => {
  assert.deepEqual(splitHostPort("[x]:1"), { host: "x", port: 1, bracketed: true });
  assert.equal(splitHostPort("x:123456"), undefined);
  assert.ok(isIpv4("10.0.0.1"));
  assert.ok(!isIpv4("10.0.0.256"));
  assert.ok(isIpv6("::1"));
  assert.ok(!isIpv6("1.2.3.4"));
});
