import assert from "node:assert/strict";
import { ipOf, PeerCounter } from "./peer_count.ts";

Deno.test("PeerCounter caps live slots per key and forgets keys with none left", () => {
  const c = new PeerCounter(2);
  assert.ok(c.acquire("10.0.0.1"));
  assert.ok(c.acquire("10.0.0.1"));
  assert.equal(c.acquire("10.0.0.1"), false, "third slot refused");
  assert.equal(c.count("10.0.0.1"), 2, "a refusal takes nothing");
  assert.ok(c.acquire("10.0.0.2"), "other keys are independent");
  c.release("10.0.0.1");
  assert.ok(c.acquire("10.0.0.1"), "a released slot is reusable");
  c.release("10.0.0.1");
  c.release("10.0.0.1");
  c.release("10.0.0.2");
  assert.equal(c.size, 0, "no key is kept once its slots are gone");
  c.release("never-acquired");
  assert.equal(c.size, 0);
});

Deno.test("ipOf strips the port from IPv4 and bracketed IPv6 peers", () => {
  assert.equal(ipOf("127.0.0.1:4443"), "127.0.0.1");
  assert.equal(ipOf("[::1]:4443"), "::1");
  assert.equal(ipOf("[2001:db8::1]"), "2001:db8::1");
  assert.equal(ipOf("unknown"), "unknown");
});
