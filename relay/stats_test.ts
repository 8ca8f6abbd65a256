import assert from "node:assert/strict";
import { MAX_STATS_TIERS, RelayStats, tierTotals } from "./stats.ts";

Deno.test("a session's view counts globally and in its tier; traffic entries by broadcast, sessions by root", () => {
  const stats = new RelayStats();
  const gold = stats.forSession("gold", "acme");
  const plain = stats.forSession("", "demo");
  gold.sessionOpened("websocket", "moq-lite-04");
  plain.sessionOpened("tcp", "moq-lite-04");
  const cam = gold.forBroadcast("acme/cam");
  cam.subscriptionsOpened++;
  cam.bytesOut += 100;
  cam.framesOut++;
  cam.groupsOut++;
  gold.bytesOut += 5; // traffic with no broadcast: the totals only
  plain.forBroadcast("demo/mic").bytesIn += 7;
  plain.announced("in", "demo/mic", true);
  assert.equal(stats.bytesOut, 105);
  assert.equal(stats.bytesIn, 7);
  assert.equal(stats.sessionsOpened, 2);
  const tier = stats.tiers.tier("gold");
  assert.deepEqual([...tier.publisher.keys()], ["acme/cam"]);
  assert.equal(tier.publisher.get("acme/cam")?.bytes, 100);
  assert.equal(tier.publisher.get("acme/cam")?.subscriptions, 1);
  assert.equal(tier.publisher.get("acme/cam")?.broadcasts, 1, "the first subscription is a viewer");
  assert.equal(tier.totalPublisher.bytes, 105);
  assert.equal(tier.sessions.get("acme")?.sessions, 1);
  const mic = stats.tiers.tier("").subscriber.get("demo/mic");
  assert.equal(mic?.bytes, 7);
  assert.equal(mic?.announced, 1);
  assert.equal(mic?.announced_bytes, "demo/mic".length);
  // /metrics rows add up: the default tier is the process total minus the named tiers.
  const rows = tierTotals(stats);
  assert.deepEqual(rows.map((r) => r.tier), ["", "gold"]);
  assert.equal(rows[0].publisher.bytes, 0);
  assert.equal(rows[1].publisher.bytes, 105);
  assert.equal(rows[1].publisher.broadcasts, 1);
  assert.equal(rows[0].publisher.broadcasts, 0);
  assert.equal(rows[0].sessions.sessions, 1);
  assert.equal(rows[0].subscriber.bytes, 7);
  assert.equal(rows[0].subscriber.announced, 1);
});

Deno.test("viewers: a session's first subscription on a broadcast opens one, its last closes it", () => {
  const stats = new RelayStats();
  const s = stats.forSession("", "r");
  const a = s.forBroadcast("r/a");
  a.subscriptionsOpened++;
  s.forBroadcast("r/a").subscriptionsOpened++; // a second track of the same broadcast
  a.subscriptionsClosed++;
  assert.equal(stats.viewersOpened, 1);
  assert.equal(stats.viewersClosed, 0);
  a.subscriptionsClosed++;
  assert.equal(stats.viewersClosed, 1);
  // Another session on the same broadcast is another viewer.
  stats.forSession("", "r").forBroadcast("r/a").subscriptionsOpened++;
  const entry = stats.tiers.tier("").publisher.get("r/a")!;
  assert.equal(entry.broadcasts, 2);
  assert.equal(entry.broadcasts_closed, 1);
});

Deno.test("idle entries are pruned, live ones stay; the excluded prefix gets none", () => {
  const stats = new RelayStats();
  stats.tiers.exclude = ".stats";
  const a = stats.forSession("", "a");
  const b = stats.forSession("", "b");
  a.sessionOpened("websocket", "moq-lite-04");
  b.sessionOpened("websocket", "moq-lite-04");
  a.forBroadcast("a/live").subscriptionsOpened++;
  a.forBroadcast("a/live").bytesOut += 1;
  b.forBroadcast("b/gone").subscriptionsOpened++;
  b.forBroadcast("b/gone").bytesOut += 1;
  b.forBroadcast("b/gone").subscriptionsClosed++;
  b.sessionClosed("websocket", "moq-lite-04");
  a.forBroadcast(".stats/node/n1").bytesOut += 9;
  const tier = stats.tiers.tier("");
  assert.ok(!tier.publisher.has(".stats/node/n1"));
  assert.ok(!tier.publisher.has(".statsx/y") && tier.publisher.has("b/gone"));
  tier.prune();
  assert.ok(tier.publisher.has("a/live"));
  assert.ok(!tier.publisher.has("b/gone"));
  assert.ok(tier.sessions.has("a"));
  assert.ok(!tier.sessions.has("b"));
  assert.equal(tier.totalPublisher.bytes, 11, "totals are never pruned");
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

Deno.test("bind: a session view authorised late counts in its grant's tier and root from then on", () => {
  const stats = new RelayStats();
  const view = stats.forSession("", "");
  const cam = view.forBroadcast("room/cam");
  view.bind("gold", "room");
  view.sessionOpened("tcp", "moq-lite-05");
  cam.bytesIn += 3;
  const gold = stats.tiers.tier("gold");
  assert.equal(gold.sessions.get("room")?.sessions, 1);
  assert.equal(gold.subscriber.get("room/cam")?.bytes, 3, "memoised broadcast views follow the binding");
  assert.ok(!stats.tiers.tier("").sessions.has(""));
  stats.bind("x", "y"); // the process counters have nothing to rebind
  assert.equal(stats.bytesIn, 3);
});

Deno.test("countOut / countIn count exactly what the field increments count, in every view", () => {
  const fields = new RelayStats();
  const methods = new RelayStats();
  for (const [stats, useMethods] of [[fields, false], [methods, true]] as const) {
    const session = stats.forSession("gold", "acme");
    const cam = session.forBroadcast("acme/cam");
    if (useMethods) {
      cam.countOut(1, 30, 6000);
      cam.countIn(2, 3, 40);
      session.countOut(1, 1, 5); // no broadcast: the totals only
      stats.countIn(0, 1, 1); // the process counters
    } else {
      cam.groupsOut++;
      cam.framesOut += 30;
      cam.bytesOut += 6000;
      cam.groupsIn += 2;
      cam.framesIn += 3;
      cam.bytesIn += 40;
      session.groupsOut++;
      session.framesOut++;
      session.bytesOut += 5;
      stats.framesIn++;
      stats.bytesIn++;
    }
  }
  for (const key of ["groupsOut", "framesOut", "bytesOut", "groupsIn", "framesIn", "bytesIn"] as const) {
    assert.equal(methods[key], fields[key], key);
  }
  assert.equal(methods.bytesOut, 6005);
  const a = methods.tiers.tier("gold"), b = fields.tiers.tier("gold");
  assert.deepEqual(a.totalPublisher, b.totalPublisher);
  assert.deepEqual(a.totalSubscriber, b.totalSubscriber);
  assert.deepEqual(a.publisher.get("acme/cam"), b.publisher.get("acme/cam"));
  assert.deepEqual(a.subscriber.get("acme/cam"), b.subscriber.get("acme/cam"));
  assert.equal(a.publisher.get("acme/cam")?.frames, 30);
  assert.deepEqual(tierTotals(methods), tierTotals(fields));
});

Deno.test("views carry no per-view accessors or closures: one shared prototype holds them", () => {
  const stats = new RelayStats();
  const a = stats.forSession("gold", "a");
  const b = stats.forSession("", "b");
  const cam = a.forBroadcast("a/cam");
  assert.equal(a.forBroadcast("a/cam"), cam, "broadcast views are memoised");
  for (const view of [a, b, cam, b.forBroadcast("b/mic")]) {
    assert.equal(Object.getPrototypeOf(view), Object.getPrototypeOf(a));
    assert.deepEqual(Object.getOwnPropertyNames(view), [], "no own accessor or method");
    assert.equal(Object.getOwnPropertySymbols(view).length, 1, "one state object");
  }
  // The process counters stay plain fields and are what every view reads.
  assert.equal(Object.getOwnPropertyDescriptor(stats, "bytesOut")?.value, 0);
  cam.countOut(1, 2, 3);
  b.bytesOut += 4;
  assert.equal(cam.bytesOut, 7);
  assert.equal(stats.bytesOut, 7);
});
