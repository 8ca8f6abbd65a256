import assert from "node:assert/strict";
import { frameCost, type Group, GROUP_OVERHEAD_BYTES } from "./group.ts";
import {
  CODE_EVICTED,
  CODE_OLD,
  HELD_GROUP_TTL_FACTOR,
  MAX_GROUPS_PER_TRACK,
  MAX_UNREAD_GROUPS,
  Track,
} from "./track.ts";
import { GroupCollector } from "../testing/mod.ts";

function track(ttlMs = 60_000): { track: Track; cached: () => number } {
  let bytes = 0;
  const t = new Track("b", "t", { groupTtlMs: ttlMs, onBytes: (cost) => (bytes += cost) });
  return { track: t, cached: () => bytes };
}

/** A ready track (see {@link track}) with `consumers` attached. */
function readyTrack<C extends GroupCollector>(
  consumers: C[],
  ttlMs?: number,
): { track: Track; cached: () => number; consumers: C[] } {
  const made = track(ttlMs);
  for (const c of consumers) made.track.attach(c);
  made.track.ready();
  return { ...made, consumers };
}

Deno.test("track: groups fan out to every consumer; a late consumer starts at the latest group", () => {
  const { track: t, consumers: [a] } = readyTrack([new GroupCollector()]);
  t.startGroup(0);
  t.startGroup(2);
  t.startGroup(1); // out of order: not the latest
  assert.deepEqual(a.groups.map((g) => g.sequence), [0, 2, 1]);
  assert.equal(t.latest?.sequence, 2);
  const late = new GroupCollector();
  t.attach(late);
  assert.deepEqual(late.groups.map((g) => g.sequence), [2]);
  t.latest!.abort(5);
  const later = new GroupCollector();
  t.attach(later);
  assert.deepEqual(later.groups, [], "an aborted latest group is not offered");
  t.detach(a);
  t.startGroup(3);
  assert.equal(a.groups.length, 3, "a detached consumer gets nothing more");
});

Deno.test("track: non-latest groups expire by age; eviction makes progress on empty groups", () => {
  const { track: t, cached } = track(1_000);
  const g0 = t.startGroup(0); // empty group
  const g1 = t.startGroup(1);
  g1.append(new Uint8Array(10));
  assert.equal(cached(), 2 * GROUP_OVERHEAD_BYTES + frameCost(10));
  t.expire(Date.now() + 2_000);
  assert.deepEqual(t.groups.map((g) => g.sequence), [1], "the latest group never expires");
  assert.equal(g0.state, "aborted");
  assert.equal(g0.abortCode, CODE_OLD);
  const { track: u } = track();
  u.startGroup(0); // empty
  u.startGroup(1);
  assert.equal(u.evictOldest(), true, "an empty group is evicted (and counted) like any other");
  assert.equal(u.evictOldest(), false, "the latest group is never evicted");
  assert.equal(u.groups.length, 1);
  const { track: w } = track();
  const victim = w.startGroup(0);
  w.startGroup(1);
  w.evictOldest();
  assert.equal(victim.abortCode, CODE_EVICTED);
});

Deno.test("track: close ends consumers, aborts open groups and returns the whole budget", () => {
  const { track: t, cached } = track();
  const c = new GroupCollector();
  t.attach(c);
  const g = t.startGroup(0);
  g.append(new Uint8Array(100));
  t.startGroup(1).append(new Uint8Array([0]));
  t.close(13);
  assert.equal(c.closed, 13);
  assert.equal(g.state, "aborted");
  assert.equal(cached(), 0);
  assert.equal(t.groups.length, 0);
  const after = new GroupCollector();
  t.attach(after);
  assert.equal(after.closed, 13, "attaching to a closed track ends at once");
});

Deno.test("track: a lost upstream with linger aborts open groups but keeps the track", async () => {
  const { track: t, consumers: [c] } = readyTrack([new GroupCollector()]);
  const open = t.startGroup(0);
  const done = t.startGroup(1);
  done.finish();
  t.upstreamEnded(0, true);
  assert.equal(open.state, "aborted");
  assert.equal(done.state, "done");
  assert.equal(t.state, "live");
  assert.equal(c.closed, undefined);
  assert.equal(await t.whenReady(), true);
  t.upstreamEnded(null);
  assert.equal(t.state, "closed");
  assert.equal(c.closed, null, "a clean end is forwarded as null");
  assert.equal(await t.whenReady(), false);
});

Deno.test("track: at most MAX_GROUPS_PER_TRACK groups cached, whatever order sequences arrive in", () => {
  const t = new Track("b", "t", { groupTtlMs: 60_000, onBytes: () => {} });
  // Newest first, then ever older: the latest is the first group, never evicted.
  for (let i = 0; i < MAX_GROUPS_PER_TRACK + 100; i++) t.startGroup(1_000_000 - i).finish();
  assert.equal(t.groups.length, MAX_GROUPS_PER_TRACK);
  assert.equal(t.latest?.sequence, 1_000_000);
  assert.equal(t.findGroup(1_000_000), t.latest);
  assert.equal(
    t.findGroup(1_000_000 - 1),
    undefined,
    "the oldest arrivals (after the latest) are evicted and forgotten",
  );
  // A datagram flood of fresh sequences stays bounded too, and duplicates are found by sequence.
  const d = new Track("b", "d", { groupTtlMs: 60_000, onBytes: () => {} });
  const frame = Uint8Array.of(1, 42);
  for (let i = 0; i < MAX_GROUPS_PER_TRACK * 2; i++) d.completeGroup(i, frame, 0n);
  assert.equal(d.groups.length, MAX_GROUPS_PER_TRACK);
  assert.equal(d.completeGroup(MAX_GROUPS_PER_TRACK * 2 - 1, frame, 0n), undefined, "a duplicate is dropped");
  assert.equal(d.completeGroup(0, frame, 0n), undefined, "a datagram far behind the newest group is dropped");
});

Deno.test("track: after a same-publisher route change, groups already offered are not offered again", () => {
  const { track: t, consumers: [a] } = readyTrack([new GroupCollector()]);
  t.startGroup(9);
  t.startGroup(10);
  t.restart(true); // the new route re-sends its latest group, 10
  t.startGroup(10);
  assert.equal(t.completeGroup(10, new Uint8Array([1]), 0n), undefined, "nor as a datagram");
  t.startGroup(11);
  assert.deepEqual(a.groups.map((g) => g.sequence), [9, 10, 11]);
  t.restart(); // a returning publisher: a new sequence space, from 0 again
  t.startGroup(0);
  assert.deepEqual(a.groups.map((g) => g.sequence), [9, 10, 11, 0]);
});

/** A selective consumer: holds every group offered until the test lets go of it. */
class Holder extends GroupCollector {
  readonly selective = true;
  override onGroup(g: Group): void {
    super.onGroup(g);
    g.hold();
  }
}

/** A ready track (see {@link track}) with `count` {@link Holder}s attached. */
function heldTrack(count: number, ttlMs?: number): { track: Track; cached: () => number; holders: Holder[] } {
  const made = readyTrack(Array.from({ length: count }, () => new Holder()), ttlMs);
  return { ...made, holders: made.consumers };
}

/**
 * Start MAX_UNREAD_GROUPS groups (`each` runs on every one) that no consumer starts reading, then
 * one more: with every consumer behind, that newest group is withheld and its writer waits.
 */
function withholdNewest(
  t: Track,
  each: (g: Group) => void = () => {},
): { queued: Group[]; withheld: Group; wanted: Promise<boolean> } {
  const queued: Group[] = [];
  for (let s = 0; s < MAX_UNREAD_GROUPS; s++) {
    const g = t.startGroup(s);
    each(g);
    queued.push(g);
  }
  const withheld = t.startGroup(MAX_UNREAD_GROUPS);
  const wanted = t.whenWanted(withheld);
  assert.ok(wanted, "the newest group waits before its frames are read");
  return { queued, withheld, wanted };
}

Deno.test("track: a group every consumer passed over stops being read, unless it is the latest", () => {
  const { track: t, cached } = heldTrack(2);
  const g0 = t.startGroup(0);
  let stopped0 = 0;
  g0.onAbandon = () => stopped0++;
  g0.append(new Uint8Array(10));
  const g1 = t.startGroup(1);
  let stopped1 = 0;
  g1.onAbandon = () => stopped1++;
  // One consumer passes over group 0: the other may still read it.
  g0.unhold();
  assert.equal(g0.state, "open");
  assert.equal(stopped0, 0);
  // The second one too: nobody will read it, it is not the latest: stopped and uncached.
  g0.unhold();
  assert.equal(g0.state, "aborted");
  assert.equal(g0.abortCode, CODE_OLD);
  assert.equal(stopped0, 1, "its writer is told to stop reading it, once");
  assert.equal(t.findGroup(0), undefined);
  assert.deepEqual(t.groups, [g1]);
  assert.equal(cached(), GROUP_OVERHEAD_BYTES, "its cost left the budget");
  assert.equal(t.groupsAbandoned, 1);
  g0.unhold(); // an extra let-go changes nothing
  assert.equal(stopped0, 1);
  // The latest group is kept even when both pass over it...
  g1.unhold();
  g1.unhold();
  assert.equal(g1.state, "open");
  assert.equal(stopped1, 0);
  // ...until a newer group makes it old.
  t.startGroup(2);
  assert.equal(g1.state, "aborted");
  assert.equal(stopped1, 1);
  assert.equal(t.latest?.sequence, 2);
});

Deno.test("track: groups stay read while any consumer may read them or wants every group", () => {
  const { track: t, holders: [a] } = heldTrack(1);
  const greedy = new GroupCollector(); // not selective: wants every group
  t.attach(greedy);
  const g0 = t.startGroup(0);
  t.startGroup(1);
  g0.unhold();
  assert.equal(g0.state, "open", "a consumer that reports no interest wants every group");
  t.detach(greedy);
  // A fetch-like reader holds the group: still read.
  g0.hold();
  t.groupIdle(g0);
  assert.equal(g0.state, "open");
  g0.unhold();
  assert.equal(g0.state, "aborted", "once the last reader lets go, nobody reads it");
  // A finished group is never touched; a track without consumers keeps caching.
  const g2 = t.startGroup(2);
  g2.finish();
  const g3 = t.startGroup(3);
  g2.unhold();
  assert.equal(g2.state, "done");
  t.detach(a);
  t.startGroup(4);
  g3.unhold();
  assert.equal(g3.state, "open", "no consumers: kept for late joiners");
  assert.ok(t.findGroup(3));
});

Deno.test("track: while every consumer is behind, the newest group waits unread; a superseded one is stopped unread", async () => {
  const { track: t, holders: [a, b] } = heldTrack(2);
  // Nobody starts any of the offered groups: every consumer is behind. The next group is withheld.
  const { queued: offered, withheld: g4, wanted: wanted4 } = withholdNewest(t, (g) => {
    assert.equal(t.whenWanted(g), null, "offered groups are read at once");
  });
  assert.equal(a.groups.length, MAX_UNREAD_GROUPS, "not offered");
  assert.equal(t.latest, g4);
  let stopped4 = 0;
  g4.onAbandon = () => stopped4++;
  // A newer group supersedes it before anyone caught up: never offered, never read, stopped.
  const g5 = t.startGroup(MAX_UNREAD_GROUPS + 1);
  assert.equal(await wanted4, false);
  assert.equal(g4.state, "aborted");
  assert.equal(stopped4, 1);
  assert.equal(t.findGroup(g4.sequence), undefined);
  assert.equal(t.groupsSkipped, 1);
  assert.equal(a.groups.length, MAX_UNREAD_GROUPS, "no work per consumer for it");
  const wanted5 = t.whenWanted(g5);
  assert.ok(wanted5);
  // One consumer starts reading the oldest queued group: no longer all behind; the newest is offered.
  offered[0].run(0);
  assert.equal(await wanted5, true);
  assert.equal(a.groups.at(-1), g5);
  assert.equal(b.groups.at(-1), g5);
  assert.equal(g5.holds, 2);
  assert.equal(g5.state, "open");
});

Deno.test("track: one slow consumer never makes a group withheld from the others", () => {
  const { track: t, holders: [fast, slow] } = heldTrack(2); // the slow one never reads
  for (let s = 0; s < 4 * MAX_UNREAD_GROUPS; s++) {
    const g = t.startGroup(s);
    assert.equal(t.whenWanted(g), null);
    g.changed(); // the fast consumer waits for its frames: it reads it
  }
  assert.equal(fast.groups.length, 4 * MAX_UNREAD_GROUPS);
  assert.equal(slow.groups.length, 4 * MAX_UNREAD_GROUPS, "offered to the slow one too: its own queue drops");
  assert.equal(t.groupsSkipped, 0);
});

Deno.test("track: a withheld group is read for a late joiner and offered to a consumer wanting every group", async () => {
  const { track: t, holders: [a] } = heldTrack(2);
  const { withheld: g, wanted } = withholdNewest(t);
  const late = new Holder();
  t.attach(late);
  assert.deepEqual(late.groups, [g], "a late joiner starts at the latest group");
  assert.equal(await wanted, true, "so its frames are read");
  assert.equal(a.groups.includes(g), false, "still withheld from the consumers behind");
  // A newer group: the late joiner holds the old one, so it is not stopped.
  const g2 = t.startGroup(MAX_UNREAD_GROUPS + 1);
  assert.equal(g.state, "open");
  const wanted2 = t.whenWanted(g2);
  assert.ok(wanted2);
  const greedy = new GroupCollector();
  t.attach(greedy);
  assert.equal(await wanted2, true);
  assert.equal(a.groups.at(-1), g2, "offered once a consumer wants every group");
  // The track ends: nothing waits any more.
  for (let s = MAX_UNREAD_GROUPS + 2; s < MAX_UNREAD_GROUPS + 4; s++) t.startGroup(s);
  t.upstreamEnded(null);
  assert.equal(t.state, "closed");
});

Deno.test("track: a lone consumer is offered every group (its own queue drops what it cannot take)", () => {
  const { track: t, holders: [a] } = heldTrack(1); // it never reads
  for (let s = 0; s < 3 * MAX_UNREAD_GROUPS; s++) assert.equal(t.whenWanted(t.startGroup(s)), null);
  assert.equal(a.groups.length, 3 * MAX_UNREAD_GROUPS);
  // A second consumer behind too: from now on the newest group waits; the first leaving offers it.
  const b = new Holder();
  t.attach(b);
  for (let s = 3 * MAX_UNREAD_GROUPS; s <= 4 * MAX_UNREAD_GROUPS; s++) t.startGroup(s);
  const withheld = t.latest!;
  assert.equal(a.groups.includes(withheld), false);
  t.detach(b);
  assert.equal(a.groups.at(-1), withheld);
});

Deno.test("track: groups every consumer let go of unread do not count as queued: nothing is withheld behind them", async () => {
  const { track: t, holders: [a] } = heldTrack(2);
  // Each queued group is complete: passing over it leaves it cached, not aborted.
  const { queued: offered, withheld, wanted } = withholdNewest(t, (g) => g.finish());
  // Both pass over every queued group (over their budget) without reading one.
  for (const g of offered) {
    g.unhold();
    g.unhold();
  }
  assert.equal(await wanted, true, "the newest group is offered: nobody queues anything older");
  assert.equal(a.groups.at(-1), withheld);
  assert.equal(t.whenWanted(t.startGroup(MAX_UNREAD_GROUPS + 1)), null, "and the next one too");
});

Deno.test("track: an open group subscribers are reading gets more time to complete; then it expires too", () => {
  const { track: t } = heldTrack(1, 1_000);
  const held = t.startGroup(0); // still arriving, held by the consumer
  const idle = t.startGroup(1); // still arriving, nobody holds it
  idle.unhold();
  const g2 = t.startGroup(2);
  const created = held.createdAtMs;
  t.expire(created + 1_500);
  assert.equal(held.state, "open", "one TTL old but still being read: kept");
  assert.ok(t.findGroup(0));
  t.expire(created + 1_000 * HELD_GROUP_TTL_FACTOR + 1);
  assert.equal(held.state, "aborted", "a group that never completes is still let go");
  assert.equal(held.abortCode, CODE_OLD);
  assert.equal(idle.state, "aborted");
  g2.unhold(); // passed over
  const done = t.startGroup(3);
  done.finish();
  t.startGroup(4);
  t.expire(done.createdAtMs + 1_001);
  assert.equal(t.findGroup(3), undefined, "a complete group expires after one TTL, held or not");
});

Deno.test("track: a reader of the withheld group itself (a fetch of the latest) has its frames read", async () => {
  const { track: t } = heldTrack(2);
  const { withheld: g, wanted } = withholdNewest(t);
  g.changed(); // waits for its frames
  assert.equal(await wanted, true);
});

Deno.test("track: a newer group offered after queued groups vanished (expired, evicted) supersedes the withheld one", async () => {
  const { track: t } = heldTrack(2);
  const { queued, withheld, wanted } = withholdNewest(t);
  queued[0].release(CODE_EVICTED); // leaves the cache without anyone reading it: no longer queued
  const next = t.startGroup(MAX_UNREAD_GROUPS + 1);
  assert.equal(t.whenWanted(next), null, "offered");
  assert.equal(await wanted, false, "its writer is not left waiting");
  assert.equal(withheld.state, "aborted");
});

Deno.test("track: a new group is sized by a recent finished group, not by the unfinished latest one", () => {
  const { track: t } = readyTrack([new GroupCollector()]);
  const frame = new Uint8Array(201); // varint size 200 + payload
  frame[0] = 0x40;
  frame[1] = 200;
  const g0 = t.startGroup(0);
  for (let i = 0; i < 10; i++) g0.append(frame);
  const g1 = t.startGroup(1); // the publisher runs ahead: group 0 is still open
  for (let i = 10; i < 30; i++) g0.append(frame);
  g0.finish();
  g1.append(frame);
  const g2 = t.startGroup(2); // latest (group 1) holds one frame; group 0 finished with 30
  for (let i = 0; i < 30; i++) g2.append(frame);
  assert.equal(g2.run(0)?.count, 30, "the whole group lies in one chunk: one write per subscriber");
});
