import assert from "node:assert/strict";
import { StreamReader, StreamResetError } from "../transport/mod.ts";
import { type TestContext, testContext, TestSource } from "./_test_context.ts";
import { Code } from "./context.ts";
import {
  BidiType,
  decodeGroupHeader,
  decodeSubscribe,
  encodeStreamType,
  encodeSubscribe,
  encodeSubscribeUpdate,
  Version,
} from "./messages.ts";
import {
  MAX_GROUPS_IN_FLIGHT,
  MAX_UPSTREAM_TRACKS_PER_SESSION,
  serveSubscribe,
  SubscriptionRegistry,
} from "./_subscribe.ts";
import { encodeVarint } from "../codec/mod.ts";
import { sleep } from "../util/mod.ts";

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(encodeVarint(payload.length).length + payload.length);
  out.set(encodeVarint(payload.length));
  out.set(payload, out.length - payload.length);
  return out;
}

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((
        _,
        reject,
      ) => (timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The peer subscribes; the relay side serves it. Returns the peer's stream and the serving task. */
async function subscribe(t: TestContext, registry: SubscriptionRegistry, id: bigint, track: string) {
  const stream = await t.peer.openBidi();
  await stream.send.write(encodeStreamType(BidiType.Subscribe));
  await stream.send.write(
    encodeSubscribe(Version.Lite04, {
      id,
      broadcast: "b",
      track,
      priority: 0,
      ordered: false,
      maxLatencyMs: 0,
    }),
  );
  const server = (await t.ctx.transport.acceptBidi())!;
  const reader = new StreamReader(server.recv);
  assert.equal(await reader.varint(), BidiType.Subscribe);
  const msg = decodeSubscribe(Version.Lite04, await reader.message(4096));
  const serving = serveSubscribe(t.ctx, server, reader, msg, registry);
  return { stream, reader: new StreamReader(stream.recv), serving };
}

async function expectOk(reader: StreamReader): Promise<void> {
  assert.equal(await reader.varint(), 0, "SUBSCRIBE_OK");
  await reader.message(1024);
}

/** The next GROUP stream the relay opened to the peer, its header read. */
async function nextGroup(t: TestContext) {
  const s = (await within(2_000, "a group stream", t.peer.acceptUni()))!;
  const reader = new StreamReader(s);
  assert.equal(await reader.u8(), 0);
  const header = decodeGroupHeader(await reader.message(1024));
  return { ...header, stream: s, reader };
}

Deno.test("subscribe: SUBSCRIBE_OK, then every group byte-exact; leaving frees the id", async () => {
  const t = testContext();
  const source = new TestSource();
  t.origin.publish("b", source);
  const registry = new SubscriptionRegistry();
  const sub = await subscribe(t, registry, 7n, "video");
  await expectOk(sub.reader);
  const track = source.tracks[0];
  const frames = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(3000).fill(9)];
  const g = track.startGroup(0);
  for (const f of frames) g.append(frame(f));
  g.finish();
  const got = await nextGroup(t);
  assert.equal(got.subscribeId, 7n);
  assert.equal(got.sequence, 0);
  for (const f of frames) assert.deepEqual(await got.reader.frame(1 << 20), frame(f));
  assert.equal(await got.reader.done(), true);
  assert.ok(registry.ids.has(7n));
  await sub.stream.send.close();
  await within(2_000, "the subscription to end", sub.serving);
  assert.equal(registry.ids.size, 0);
  t.end();
});

Deno.test("subscribe: a group the subscriber stopped leaves the in-flight list; the next one is served", async () => {
  const t = testContext();
  const source = new TestSource();
  t.origin.publish("b", source);
  const sub = await subscribe(t, new SubscriptionRegistry(), 1n, "t");
  await expectOk(sub.reader);
  const track = source.tracks[0];
  const groups: Awaited<ReturnType<typeof nextGroup>>[] = [];
  const live = [];
  for (let seq = 0; seq < MAX_GROUPS_IN_FLIGHT; seq++) {
    const g = track.startGroup(seq);
    g.append(frame(new Uint8Array([seq])));
    live.push(g);
    groups.push(await nextGroup(t));
  }
  groups[0].stream.stop(7); // STOP_SENDING on the oldest open group
  await new Promise((r) => setTimeout(r, 10));
  track.startGroup(MAX_GROUPS_IN_FLIGHT).append(frame(new Uint8Array([1])));
  const next = await nextGroup(t);
  assert.equal(next.sequence, MAX_GROUPS_IN_FLIGHT);
  assert.equal(t.stats.groupsDropped, 0, "the stopped group was not counted as dropped");
  // MAX_GROUPS_IN_FLIGHT groups are open again: one more waits (no reset) until one is done.
  track.startGroup(MAX_GROUPS_IN_FLIGHT + 1).append(frame(new Uint8Array([2])));
  await new Promise((r) => setTimeout(r, 50));
  live[1].finish();
  assert.deepEqual(await groups[1].reader.frame(1024), frame(new Uint8Array([1])));
  assert.equal(await groups[1].reader.done(), true, "the done group was delivered whole");
  assert.equal((await nextGroup(t)).sequence, MAX_GROUPS_IN_FLIGHT + 1);
  assert.equal(t.stats.groupsDropped, 0);
  t.end();
});

Deno.test("subscribe: a slow subscriber's oldest groups are dropped once its backlog passes the budget", async () => {
  const t = testContext({ windowBytes: 4096, limits: { subscriberQueueBytes: 64 * 1024 } });
  const source = new TestSource();
  t.origin.publish("b", source);
  const sub = await subscribe(t, new SubscriptionRegistry(), 1n, "t");
  await expectOk(sub.reader);
  const track = source.tracks[0];
  const first: Awaited<ReturnType<typeof nextGroup>>[] = [];
  for (let seq = 0; seq < 12; seq++) {
    const g = track.startGroup(seq);
    // Larger than HEADED_RUN_MAX_BYTES: the header goes first, alone, and the peer reads only it (a
    // 16 KiB frame would go out with the header as one chunk and be read whole right away).
    g.append(frame(new Uint8Array(48 * 1024)));
    g.finish();
    // Only the oldest group opens: while it is behind, newer ones wait (MAX_GROUPS_BEHIND).
    if (seq < 1) first.push(await nextGroup(t));
  }
  assert.ok(t.stats.groupsDropped > 0, `groups dropped: ${t.stats.groupsDropped}`);
  // The waiting groups went first, unopened; what they skipped counts too, so the started one is
  // reset once the subscriber is a budget behind.
  await assert.rejects(
    async () => {
      while ((await first[0].stream.read()) !== null) { /* the peer never caught up */ }
    },
    (err: unknown) => err instanceof StreamResetError && err.code === Code.Old,
  );
  t.end();
});

Deno.test("subscribe: a slow subscriber gets whole recent groups; older waiting ones drop unopened", async () => {
  const t = testContext({ windowBytes: 4096, limits: { subscriberQueueBytes: 64 * 1024 } });
  const source = new TestSource();
  t.origin.publish("b", source);
  const sub = await subscribe(t, new SubscriptionRegistry(), 1n, "t");
  await expectOk(sub.reader);
  const track = source.tracks[0];
  const payload = (seq: number) => new Uint8Array(16 * 1024).fill(seq);
  for (let seq = 0; seq < 6; seq++) {
    const g = track.startGroup(seq);
    g.append(frame(payload(seq)));
    g.finish();
  }
  // Group 0 opened and is behind (the window holds 4 KiB); the others waited, and the oldest of
  // them (1..3) were dropped unopened once the backlog passed the 64 KiB budget.
  const first = await nextGroup(t);
  assert.equal(first.sequence, 0);
  assert.deepEqual(await first.reader.frame(1 << 20), frame(payload(0)));
  assert.equal(await first.reader.done(), true, "group 0 arrived whole");
  const received: number[] = [];
  while (received.at(-1) !== 5) {
    const next = await nextGroup(t);
    assert.ok(next.sequence > (received.at(-1) ?? 0), `groups in order: ${received}, ${next.sequence}`);
    received.push(next.sequence);
    assert.deepEqual(await next.reader.frame(1 << 20), frame(payload(next.sequence)));
    assert.equal(await next.reader.done(), true, `group ${next.sequence} arrived whole`);
  }
  assert.ok(!received.includes(1), `the oldest waiting group was dropped: ${received}`);
  assert.equal(
    t.stats.groupsDropped,
    5 - received.length,
    `the others were dropped (and counted) unopened: ${received}`,
  );
  assert.equal(t.stats.groupsOut, 1 + received.length);
  await sub.stream.send.close();
  await within(2_000, "the subscription to end", sub.serving);
  t.end();
});

Deno.test("subscribe: a session may open only so many tracks upstream; known tracks cost nothing", async () => {
  const t = testContext();
  const source = new TestSource();
  source.accept = false; // pending upstream: the publisher never answers
  t.origin.publish("b", source);
  const registry = new SubscriptionRegistry();
  for (let i = 0; i < MAX_UPSTREAM_TRACKS_PER_SESSION; i++) await subscribe(t, registry, BigInt(i), `t${i}`);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(source.tracks.length, MAX_UPSTREAM_TRACKS_PER_SESSION);
  const over = await subscribe(t, registry, 10_000n, "one-more");
  await assert.rejects(
    () => over.reader.varint(),
    (err: unknown) => err instanceof StreamResetError && err.code === Code.Bounds,
  );
  assert.equal(source.tracks.length, MAX_UPSTREAM_TRACKS_PER_SESSION, "nothing more went upstream");
  await subscribe(t, registry, 10_001n, "t0"); // an already open track: allowed
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(source.tracks.length, MAX_UPSTREAM_TRACKS_PER_SESSION);
  t.end();
});

Deno.test("subscribe: SUBSCRIBE_UPDATE start/end bounds which later groups are served", async () => {
  const t = testContext();
  const source = new TestSource();
  t.origin.publish("b", source);
  const registry = new SubscriptionRegistry();
  const sub = await subscribe(t, registry, 3n, "video");
  await expectOk(sub.reader);
  const track = source.tracks[0];
  const publishGroup = (sequence: number) => {
    const g = track.startGroup(sequence);
    g.append(frame(Uint8Array.of(sequence)));
    g.finish();
  };
  publishGroup(0);
  assert.equal((await nextGroup(t)).sequence, 0);
  // The same body on lite-03/04/05: priority, ordered, max latency, start + 1, end + 1.
  await sub.stream.send.write(
    encodeSubscribeUpdate({ priority: 0, ordered: false, maxLatencyMs: 0, startGroup: 3, endGroup: 4 }),
  );
  await new Promise((r) => setTimeout(r, 50));
  for (let g = 1; g <= 6; g++) publishGroup(g);
  assert.equal((await nextGroup(t)).sequence, 3, "groups below the new start are skipped");
  assert.equal((await nextGroup(t)).sequence, 4);
  // Lifting the end bound serves later groups again; 5 and 6 (published under the cap) never come.
  await sub.stream.send.write(encodeSubscribeUpdate({ priority: 0, ordered: false, maxLatencyMs: 0 }));
  await new Promise((r) => setTimeout(r, 50));
  publishGroup(7);
  assert.equal((await nextGroup(t)).sequence, 7, "groups past the old end were not served");
  await sub.stream.send.close();
  await within(2_000, "the subscription to end", sub.serving);
  t.end();
});

Deno.test("subscribe: two subscriptions of one group each get their own subscribe id in the header", async () => {
  const t = testContext();
  const source = new TestSource();
  t.origin.publish("b", source);
  const registry = new SubscriptionRegistry();
  const a = await subscribe(t, registry, 3n, "v");
  await expectOk(a.reader);
  const b = await subscribe(t, registry, 4n, "v");
  await expectOk(b.reader);
  const frames = [new Uint8Array([1, 2]), new Uint8Array(300).fill(5)];
  const g = source.tracks[0].startGroup(0);
  for (const f of frames) g.append(frame(f));
  g.finish();
  const ids: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    const got = await nextGroup(t);
    ids.push(got.subscribeId);
    for (const f of frames) assert.deepEqual(await got.reader.frame(1 << 20), frame(f));
    assert.equal(await got.reader.done(), true);
  }
  assert.deepEqual(ids.sort(), [3n, 4n], "one header per subscription, not a shared one");
  await a.stream.send.close();
  await b.stream.send.close();
  await within(2_000, "the subscriptions to end", Promise.all([a.serving, b.serving]));
  t.end();
});

Deno.test("subscribe: a subscriber leaving while the broadcast is awaited ends it at once; an idle one detaches", async () => {
  // The broadcast never appears within the test: the relay waits (up to 60 s) until the peer leaves.
  const t = testContext({ limits: { subscribeWaitMs: 60_000 } });
  const registry = new SubscriptionRegistry();
  const waiting = await subscribe(t, registry, 1n, "t");
  await sleep(50);
  assert.ok(registry.ids.has(1n));
  await waiting.stream.send.close();
  await within(2_000, "the waiting subscription to end", waiting.serving);
  assert.equal(registry.ids.size, 0);

  // Attached and idle (no group yet): leaving detaches it from the track and frees the id.
  const source = new TestSource();
  t.origin.publish("b", source);
  const idle = await subscribe(t, registry, 2n, "t");
  await expectOk(idle.reader);
  const track = source.tracks[0];
  assert.equal(track.consumers.size, 1);
  await idle.stream.send.close();
  await within(2_000, "the idle subscription to end", idle.serving);
  assert.equal(track.consumers.size, 0);
  assert.equal(registry.ids.size, 0);
  t.end();
});
