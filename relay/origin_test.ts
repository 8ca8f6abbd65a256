import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { betterRoute, type BroadcastSource, routeTieBreak } from "./broadcast.ts";
import { frameCost, GROUP_OVERHEAD_BYTES } from "./group.ts";
import { type AnnounceEvent, Origin } from "./origin.ts";
import type { Track } from "./track.ts";
import { GroupCollector } from "../testing/mod.ts";

/** A source that records upstream subscriptions and lets the test feed them. */
class FakeSource implements BroadcastSource {
  readonly label: string;
  readonly hops: bigint[];
  subscribes = 0;
  cancels = 0;
  displacedBy: string | null = null;
  readonly tracks: Track[] = [];
  constructor(label: string, hops: number[] = []) {
    this.label = label;
    this.hops = hops.map(BigInt);
  }
  subscribe(track: Track) {
    this.subscribes++;
    this.tracks.push(track);
    queueMicrotask(() => track.ready());
    return { cancel: () => this.cancels++ };
  }
  displaced(by: string) {
    this.displacedBy = by;
  }
}

const frame = (n: number) => new Uint8Array([1, n]);

function origin(opts: Partial<{ lingerMs: number; warmMs: number; groupTtlMs: number; cap: number }> = {}) {
  return new Origin({
    logger: silentLogger(),
    lingerMs: opts.lingerMs ?? 50,
    warmMs: opts.warmMs ?? 30,
    groupTtlMs: opts.groupTtlMs ?? 1000,
    cacheCapacityBytes: opts.cap,
  });
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

Deno.test("one upstream subscription for many subscribers; cancelled after the warm period", async () => {
  const o = origin();
  const src = new FakeSource("pub");
  const pub = o.publish("room/demo", src);
  const handles = [1, 2, 3].map(() => o.acquireTrack("room/demo", "video", 1)!);
  assert.equal(src.subscribes, 1, "dedup: one upstream");
  assert.ok(await handles[0].track.whenReady());
  for (const h of handles) h.release();
  assert.equal(src.cancels, 0, "kept warm right after the last viewer left");
  // A viewer returning within the warm period reuses the upstream.
  const again = o.acquireTrack("room/demo", "video", 1)!;
  assert.equal(src.subscribes, 1);
  again.release();
  await tick(60);
  assert.equal(src.cancels, 1, "upstream cancelled after the warm period");
  assert.equal(o.stats().tracks, 0);
  pub.end(false);
  o.close();
});

Deno.test("late joiner gets the latest group only; newer groups fan out", async () => {
  const o = origin();
  const src = new FakeSource("pub");
  o.publish("a", src);
  const h = o.acquireTrack("a", "t", 0)!;
  await h.track.whenReady();
  const g1 = h.track.startGroup(1);
  g1.append(frame(1));
  g1.finish();
  const g2 = h.track.startGroup(2);
  g2.append(frame(2));
  const late = new GroupCollector();
  h.track.attach(late);
  assert.deepEqual(late.groups.map((g) => g.sequence), [2]);
  h.track.startGroup(3);
  assert.deepEqual(late.groups.map((g) => g.sequence), [2, 3]);
  h.release();
  o.close();
});

Deno.test("announcements: initial set, live updates, prefix filtering", () => {
  const o = origin();
  o.publish("x/one", new FakeSource("1"));
  const events: AnnounceEvent[] = [];
  const w = o.watch("x", (e) => events.push(e));
  assert.deepEqual(w.initial.map((e) => e.path), ["x/one"]);
  const p2 = o.publish("x/two", new FakeSource("2"));
  o.publish("xy/other", new FakeSource("3"));
  p2.end(false);
  assert.deepEqual(events.map((e) => `${e.active ? "+" : "-"}${e.path}`), ["+x/two", "-x/two"]);
  w.stop();
  o.close();
});

Deno.test("abrupt loss lingers; a returning publisher splices in without re-announcing", async () => {
  const o = origin({ lingerMs: 80 });
  const first = new FakeSource("first");
  const events: string[] = [];
  o.watch("", (e) => events.push(`${e.active ? "+" : "-"}${e.path}`));
  const p1 = o.publish("live", first);
  const h = o.acquireTrack("live", "t", 0)!;
  await h.track.whenReady();
  const c = new GroupCollector();
  h.track.attach(c);
  p1.end(true);
  assert.deepEqual(o.list(""), ["live"], "still announced while lingering");
  const second = new FakeSource("second");
  o.publish("live", second);
  assert.equal(second.subscribes, 1, "the track re-subscribed on the returning publisher");
  assert.equal(c.closed, undefined, "subscriber kept its subscription");
  await tick(120);
  assert.deepEqual(events, ["+live"], "no ended/active flap");
  h.release();
  o.close();
});

Deno.test("abrupt loss without return: unannounced after the linger, tracks end cleanly", async () => {
  const o = origin({ lingerMs: 40 });
  const p = o.publish("gone", new FakeSource("s"));
  const h = o.acquireTrack("gone", "t", 0)!;
  await h.track.whenReady();
  const c = new GroupCollector();
  h.track.attach(c);
  p.end(true);
  await tick(80);
  assert.deepEqual(o.list(""), []);
  assert.equal(c.closed, null, "FIN, not reset");
  h.release();
  o.close();
});

Deno.test("newest publisher wins; the displaced one is told and reclaims when the newcomer leaves", async () => {
  const o = origin();
  const events: string[] = [];
  o.watch("", (e) => events.push(`${e.active ? "+" : "-"}${e.path}`));
  const a = new FakeSource("a");
  const b = new FakeSource("b");
  o.publish("p", a);
  const h = o.acquireTrack("p", "t", 0)!;
  await h.track.whenReady();
  const c = new GroupCollector();
  h.track.attach(c);
  const pb = o.publish("p", b);
  assert.equal(a.displacedBy, "b");
  assert.equal(c.closed, null, "subscribers of the old broadcast are ended");
  assert.equal(a.cancels, 1, "the displaced publisher's upstream is cancelled");
  pb.end(false);
  assert.deepEqual(events, ["+p", "-p", "+p", "-p", "+p"]);
  assert.equal(o.get("p")?.active, a);
  h.release();
  o.close();
});

Deno.test("routes to the same origin merge: fewer hops preferred, no flapping", () => {
  const o = origin();
  const events: string[] = [];
  o.watch("", (e) => events.push(`${e.active ? "+" : "-"}${e.path}`));
  const far = new FakeSource("far", [7, 8]);
  const near = new FakeSource("near", [7]);
  const pFar = o.publish("m", far);
  o.publish("m", near);
  assert.equal(o.get("m")?.active, near);
  pFar.end(true);
  assert.deepEqual(events, ["+m"]);
  o.close();
});

Deno.test("route changes reach only listeners that ask for them (cluster split horizon)", () => {
  const o = origin();
  const plain: string[] = [];
  const routes: string[] = [];
  const show = (e: AnnounceEvent) =>
    `${e.active ? "+" : "-"}${e.reroute ? "~" : ""}${e.path}:${e.hops.join(".")}`;
  o.watch("", (e) => plain.push(show(e)));
  o.watch("", (e) => routes.push(show(e)), { routes: true });
  const direct = o.publish("r", new FakeSource("direct", [7]));
  o.publish("r", new FakeSource("via 9", [7, 9]));
  direct.end(true);
  assert.deepEqual(plain, ["+r:7"], "clients see no route change");
  assert.deepEqual(routes, ["+r:7", "+~r:7.9"], "peers learn the new chain");
  o.close();
});

Deno.test("cache: non-latest groups expire by age even without writes; byte budget evicts oldest", async () => {
  const o = origin({ groupTtlMs: 30, cap: 1_000_000 });
  o.publish("c", new FakeSource("s"));
  const h = o.acquireTrack("c", "t", 0)!;
  await h.track.whenReady();
  for (let i = 0; i < 3; i++) {
    const g = h.track.startGroup(i);
    g.append(new Uint8Array(100));
    g.finish();
  }
  assert.equal(h.track.groups.length, 3);
  await tick(50);
  o.sweep(Date.now());
  assert.deepEqual(h.track.groups.map((g) => g.sequence), [2], "only the latest survives");
  const oneGroup = frameCost(100) + GROUP_OVERHEAD_BYTES;
  assert.equal(o.stats().cacheCostBytes, oneGroup, "a group costs its frames with overhead, plus its own");
  assert.equal(o.stats().cacheBytes, 100, "the metric counts the frames' bytes");

  const tight = origin({ groupTtlMs: 60_000, cap: 2 * oneGroup + 10 });
  tight.publish("c", new FakeSource("s"));
  const t = tight.acquireTrack("c", "t", 0)!;
  await t.track.whenReady();
  for (let i = 0; i < 5; i++) t.track.startGroup(i).append(new Uint8Array(100));
  tight.sweep(Date.now());
  const cost = tight.stats().cacheCostBytes ?? Infinity;
  assert.ok(cost <= 2 * oneGroup + 10, `over budget: ${cost}`);
  assert.equal(t.track.latest?.sequence, 4, "latest never evicted");
  h.release();
  t.release();
  o.close();
  tight.close();
});

Deno.test("waitFor resolves when the path is announced, or undefined after the wait", async () => {
  const o = origin();
  const waiting = o.waitFor("soon", 500);
  setTimeout(() => o.publish("soon", new FakeSource("s")), 20);
  assert.equal((await waiting)?.path, "soon");
  assert.equal(await o.waitFor("never", 30), undefined);
  o.close();
});

Deno.test("a track the publisher never answered closes with its last subscriber (no warm period)", async () => {
  const o = origin({ warmMs: 10_000 });
  const silent = new FakeSource("silent");
  silent.subscribe = (track: Track) => {
    silent.subscribes++;
    silent.tracks.push(track);
    return { cancel: () => silent.cancels++ };
  };
  o.publish("p", silent);
  const h = o.acquireTrack("p", "never", 0)!;
  assert.equal(h.created, true);
  assert.equal(o.hasTrack("p", "never"), true);
  const again = o.acquireTrack("p", "never", 0)!;
  assert.equal(again.created, false, "a second subscriber opens nothing upstream");
  again.release();
  h.release();
  assert.equal(o.hasTrack("p", "never"), false, "closed at once, not kept warm");
  assert.equal(silent.cancels, 1, "the upstream subscription was cancelled");
  // A live track still stays warm.
  const live = o.publish("q", new FakeSource("live"));
  const l = o.acquireTrack("q", "t", 0)!;
  await l.track.whenReady();
  l.release();
  assert.equal(o.hasTrack("q", "t"), true, "a live track stays warm");
  live.end(false);
  o.close();
});

/** A route to publisher 7 learned over a link of `cost` through relay `via`. */
function route(via: number, cost?: number, extraHops: number[] = []): BroadcastSource {
  return {
    label: `via ${via}`,
    hops: [7, ...extraHops, via].map(BigInt),
    cost,
    subscribe: () => ({ cancel: () => {} }),
  };
}

Deno.test("route choice: lower cost beats fewer hops; hops break a cost tie; arrival order does not matter", () => {
  const path = "room/x";
  const cheapLong = route(2, 1, [5]);
  const dearShort = route(3, 10);
  assert.ok(betterRoute(path, cheapLong, dearShort), "cost first");
  assert.ok(betterRoute(path, route(2, 4), route(3, 4, [5])), "then hop count");
  for (const order of [[cheapLong, dearShort], [dearShort, cheapLong]]) {
    const o = origin();
    for (const s of order) o.publish(path, s);
    assert.equal(o.get(path)?.active, cheapLong, "the cheaper route carries the broadcast");
  }
});

Deno.test("route choice: equal routes are chosen by the path's tie-break hash, spreading paths over relays", () => {
  const o = origin();
  const via: Record<string, number> = {};
  for (let i = 0; i < 40; i++) {
    const path = `room/${i}`;
    const [a, b] = [route(2), route(3)];
    // Arrival order alternates: the choice must not depend on it.
    for (const s of i % 2 ? [a, b] : [b, a]) o.publish(path, s);
    const active = o.get(path)!.active!;
    const expected = routeTieBreak(path, a.hops) < routeTieBreak(path, b.hops) ? a : b;
    assert.equal(active, expected, `${path}: the lower tie-break hash wins`);
    via[active.label] = (via[active.label] ?? 0) + 1;
  }
  assert.ok((via["via 2"] ?? 0) >= 8 && (via["via 3"] ?? 0) >= 8, `load spread: ${JSON.stringify(via)}`);
});

Deno.test("route choice: when the active route leaves, the best remaining one takes over seamlessly", () => {
  const o = origin();
  const events: AnnounceEvent[] = [];
  o.watch("", (e) => events.push(e));
  const best = route(2, 1);
  const worse = route(3, 5);
  const worst = route(4, 9);
  o.publish("r", worst);
  o.publish("r", worse);
  const pub = o.publish("r", best);
  assert.equal(o.get("r")?.active, best);
  pub.end(true);
  assert.equal(o.get("r")?.active, worse, "the next-best route, not the newest");
  assert.deepEqual(events.filter((e) => !e.active), [], "no ended event");
});
