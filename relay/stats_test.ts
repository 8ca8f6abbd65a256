import assert from "node:assert/strict";
import { MAX_STATS_TIERS, RelayStats, tierTotals } from "./stats.ts";

Deno.test("a session's stats view counts globally, in its tier's totals and under its root", () => {
  const stats = new RelayStats();
  const gold = stats.forSession("gold", "acme");
  const plain = stats.forSession("", "demo");
  gold.sessionOpened("websocket", "moq-lite-04");
  plain.sessionOpened("tcp", "moq-lite-04");
  gold.bytesOut += 100;
  gold.framesOut++;
  gold.groupsOut++;
  gold.subscriptionsOpened++;
  plain.bytesIn += 7;
  assert.equal(stats.bytesOut, 100);
  assert.equal(stats.bytesIn, 7);
  assert.equal(stats.sessionsOpened, 2);
  const tier = stats.tiers.tier("gold");
  assert.equal(tier.publisher.get("acme")?.bytes, 100);
  assert.equal(tier.publisher.get("acme")?.subscriptions, 1);
  assert.equal(tier.sessions.get("acme")?.sessions, 1);
  assert.equal(stats.tiers.tier("").subscriber.get("demo")?.bytes, 7);
  // /metrics rows add up: the default tier is the process total minus the named tiers.
  const rows = tierTotals(stats);
  assert.deepEqual(rows.map((r) => r.tier), ["", "gold"]);
  assert.equal(rows[0].publisher.bytes, 0);
  assert.equal(rows[1].publisher.bytes, 100);
  assert.equal(rows[0].sessions.sessions, 1);
  assert.equal(rows[0].subscriber.bytes, 7);
});

Deno.test("entries of roots with no open session are pruned; open ones stay", () => {
  const stats = new RelayStats();
  const a = stats.forSession("", "a");
  const b = stats.forSession("", "b");
  a.sessionOpened("websocket", "moq-lite-04");
  b.sessionOpened("websocket", "moq-lite-04");
  a.bytesOut += 1;
  b.bytesOut += 1;
  b.sessionClosed("websocket", "moq-lite-04");
  const tier = stats.tiers.tier("");
  tier.prune();
  assert.ok(tier.publisher.has("a"));
  assert.ok(!tier.publisher.has("b"));
  assert.ok(!tier.sessions.has("b"));
  assert.equal(tier.totalPublisher.bytes, 2, "totals are never pruned");
  // A close without an open entry does not invent one.
  b.sessionClosed("websocket", "moq-lite-04");
  assert.ok(!tier.sessions.has("b"));
});

Deno.test("named tiers are bounded: later ones count under the default tier", () => {
  const stats = new RelayStats();
  for (let i = 0; i < MAX_STATS_TIERS + 10; i++) stats.forSession(`t${i}`, "x").bytesIn += 1;
  assert.ok(stats.tiers.list().length <= MAX_STATS_TIERS + 1);
  assert.equal(stats.bytesIn, MAX_STATS_TIERS + 10);
});
