/**
 * Attack tests (project issue 13): each attack runs against a real relay process while a
 * legitimate `@moq/lite` pair streams alongside ({@link Guard}); the relay must stay responsive,
 * alive, under a memory bound, and keep delivering the pair's groups byte-exact.
 */

import assert from "node:assert/strict";
import {
  e2e,
  encodeFrame,
  eventually,
  Guard,
  parseMetrics,
  RawMoqPeer,
  type RelayOptions,
  type RelayProcess,
  sampleValue,
  sleep,
  within,
} from "../testing/mod.ts";

async function metric(relay: RelayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${relay.internalUrl}/metrics`)).text();
  return sampleValue(parseMetrics(text), name);
}

/** A raw publisher of `suffix` and a raw subscriber of its track `t` that reads nothing. */
async function rawPair(relay: RelayProcess, suffix: string) {
  const pub = await RawMoqPeer.connect(relay.port);
  await pub.announce(suffix);
  const sub = await RawMoqPeer.connect(relay.port);
  const subscribing = sub.subscribe(1n, suffix, "t");
  const up = await pub.request();
  await within(5_000, "SUBSCRIBE_OK", subscribing);
  return { pub, sub, id: up.msg.id };
}

const ATTACK: RelayOptions = { internal: true, log: "warn" };
/** RSS bound for attacks that should cost the relay next to nothing. */
const SMALL_RSS_MIB = 200;

e2e("attack: STOP_SENDING the oldest of 16 open groups, then a 17th group (budget loop)", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const pub = await RawMoqPeer.connect(relay.port);
  await pub.announce("atk");
  const sub = await RawMoqPeer.connect(relay.port);
  const subscribing = sub.subscribe(1n, "atk", "t");
  const up = await pub.request();
  await within(5_000, "SUBSCRIBE_OK", subscribing);
  const open = [];
  for (let seq = 0; seq < 16; seq++) {
    const s = await pub.openGroup(up.msg.id, seq);
    await s.write(encodeFrame(new Uint8Array([seq])));
    open.push(s);
  }
  await eventually("16 group streams reach the subscriber", () => sub.groups.length >= 16, 5_000);
  sub.groups.find((g) => g.sequence === 0)!.stream.stop(7);
  await sleep(200);
  const s16 = await pub.openGroup(up.msg.id, 16);
  await s16.write(encodeFrame(new Uint8Array([16])));
  await s16.close();
  await eventually("group 16 reaches the subscriber", () => sub.groups.some((g) => g.sequence === 16), 5_000);
  await guard.verify();
  pub.close();
  sub.close();
}, ATTACK);

e2e("attack: an empty group first in the cache does not stop eviction", async (relay) => {
  // 120 MiB pass through; garbage collection lags, so RSS may reach twice the cache size.
  const guard = await Guard.start(relay, 320);
  const { pub, sub, id } = await rawPair(relay, "evict");
  // Every big group comes after an empty one: each empty group used to end a sweep early.
  const big = new Uint8Array(1024 * 1024);
  for (let i = 0; i < 120; i++) {
    const empty = await pub.openGroup(id, 2 * i);
    await empty.close();
    const s = await pub.openGroup(id, 2 * i + 1);
    await s.write(encodeFrame(big));
    await s.close();
    if (i % 10 === 0) await sleep(50);
  }
  await sleep(1_500); // a sweep (every second) runs after the last group
  const cached = await metric(relay, "moq_relay_cache_bytes");
  console.error(`cache after 120 MiB through an 8 MiB cache: ${(cached / 1048576).toFixed(1)} MiB`);
  assert.ok(cached <= 10 * 1024 * 1024, `cache holds ${cached} bytes, budget 8 MiB (+ the latest group)`);
  await guard.verify();
  pub.close();
  sub.close();
}, { ...ATTACK, toml: `[cache]\ncapacity = "8MiB"\nduration = "60s"` });

e2e("attack: hop ids from a plain (non-cluster) publisher are not trusted", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const watcher = await RawMoqPeer.connect(relay.port);
  const { events } = await watcher.interest("");
  // 1. A chain holding this relay's own id (4242) used to be dropped as a loop.
  const spoofer = await RawMoqPeer.connect(relay.port);
  await spoofer.announce("spoof", [4242]);
  await eventually("the spoofed broadcast is announced", () => events.includes("+spoof"), 5_000);
  // 2. A forged chain with the same first hop as another publisher's used to count as a second
  //    route to that publisher: silently attached, nothing announced, taking over on its loss.
  const victim = await RawMoqPeer.connect(relay.port);
  await victim.announce("room", [5]);
  await eventually("the victim's broadcast is announced", () => events.includes("+room"), 5_000);
  const forger = await RawMoqPeer.connect(relay.port);
  await forger.announce("room", [5, 6]);
  await eventually(
    "a second plain publisher of the path replaces the first visibly",
    () => events.filter((e) => e.endsWith("room")).length >= 3,
    5_000,
  );
  assert.deepEqual(events.filter((e) => e.endsWith("room")), ["+room", "-room", "+room"]);
  await guard.verify();
  for (const p of [watcher, spoofer, victim, forger]) p.close();
}, { ...ATTACK, toml: `[cluster]\nid = 4242` });

/** The reset code of a stream's receive side (null on FIN). */
async function resetCode(recv: { read(): Promise<Uint8Array | null> }, ms = 5_000): Promise<number | null> {
  return await within(
    ms,
    "the stream to end",
    (async () => {
      try {
        while ((await recv.read()) !== null) { /* drain */ }
        return null;
      } catch (err) {
        return (err as { code?: number }).code ?? -1;
      }
    })(),
  );
}

e2e("attack: thousands of announce interest streams on one session", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const watcher = await RawMoqPeer.connect(relay.port);
  const streams = [];
  for (let i = 0; i < 3_000; i++) streams.push((await watcher.interest("")).stream);
  assert.equal(await resetCode(streams[2_999].recv), 11, "an interest beyond the cap is reset with code 11");
  const pub = await RawMoqPeer.connect(relay.port);
  for (let i = 0; i < 30; i++) {
    await pub.announce(`churn${i}`);
    await pub.unannounce(`churn${i}`);
  }
  await guard.verify();
  const lines = relay.logs.filter((l) => /too many announce interest streams/.test(l));
  assert.equal(lines.length, 1, "one warn line per session, not one per stream");
  pub.close();
  watcher.close();
}, ATTACK);

e2e("attack: SUBSCRIBE to hundreds of random track names", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const pub = await RawMoqPeer.connect(relay.port);
  pub.autoAccept = false; // a publisher that never answers: every track stays pending upstream
  await pub.announce("victim");
  const sub = await RawMoqPeer.connect(relay.port);
  await sleep(300);
  const streams = [];
  for (let i = 0; i < 400; i++) streams.push(await sub.subscribeNoWait(BigInt(i), "victim", `random-${i}`));
  assert.equal(await resetCode(streams[399].recv), 11, "a subscription beyond the upstream quota is reset");
  await sleep(500);
  assert.ok(pub.requests.length <= 128, `${pub.requests.length} SUBSCRIBEs reached the publisher (cap 128)`);
  // Leaving a pending track closes it upstream at once (no warm period for unanswered tracks).
  await streams[0].send.close();
  const first = pub.requests.find((r) => r.msg.track === "random-0")!;
  assert.equal(await resetCode(first.stream.recv), null, "the abandoned pending track is closed upstream");
  // A track the publisher answers not-found is not kept open: asking again asks the publisher again.
  const again = pub.requests.find((r) => r.msg.track === "random-1")!;
  again.stream.send.reset(13);
  assert.equal(await resetCode(streams[1].recv), 13, "not-found reaches the subscriber");
  const before = pub.requests.length;
  await sub.subscribeNoWait(1000n, "victim", "random-1");
  await eventually("a fresh SUBSCRIBE for the not-found track", () => pub.requests.length > before, 5_000);
  await guard.verify();
  pub.close();
  sub.close();
}, ATTACK);

e2e("attack: /fetch of random track names from one client", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const pub = await RawMoqPeer.connect(relay.port);
  pub.autoAccept = false;
  await pub.announce("victim");
  await sleep(300);
  const statuses = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    try {
      const res = await fetch(`${relay.httpUrl}/fetch/anon/victim/r${i}`, {
        signal: AbortSignal.timeout(2_000),
      });
      await res.body?.cancel();
      return res.status;
    } catch {
      return 0; // still waiting for the publisher when the client gave up
    }
  }));
  const limited = statuses.filter((s) => s === 429).length;
  assert.ok(limited >= 80, `${limited} of 100 concurrent /fetch were refused with 429`);
  assert.ok(pub.requests.length <= 16, `${pub.requests.length} SUBSCRIBEs reached the publisher (cap 16)`);
  // A publisher that answers: each track stays warm after the request, so the count of tracks a
  // client opened is capped too.
  pub.autoAccept = true;
  for (const r of pub.requests) await pub.accept(r.stream).catch(() => {});
  const before = pub.requests.length;
  let refused = 0;
  for (let i = 0; i < 60; i++) {
    const res = await fetch(`${relay.httpUrl}/fetch/anon/victim/seq${i}?group=0`);
    await res.body?.cancel();
    if (res.status === 429) refused++;
  }
  const opened = pub.requests.length - before;
  assert.ok(opened <= 32, `${opened} tracks opened upstream by sequential /fetch (cap 32)`);
  assert.ok(refused >= 28, `${refused} sequential /fetch refused once the client's tracks were at the cap`);
  await guard.verify();
  pub.close();
}, ATTACK);

e2e("attack: hundreds of thousands of zero-length frames in open groups", async (relay) => {
  const guard = await Guard.start(relay, 300); // before the fix: 503 MiB
  const { pub, sub, id } = await rawPair(relay, "tiny");
  // 8 open groups × 100 000 frames of 0 bytes (1 byte each on the wire): 800 KB sent.
  const batch = new Uint8Array(10_000); // 10 000 zero-length frames
  const groups = [];
  for (let seq = 0; seq < 8; seq++) {
    const s = await pub.openGroup(id, seq);
    groups.push(s);
    for (let i = 0; i < 10; i++) await s.write(batch);
  }
  await sleep(1_500);
  await guard.verify();
  pub.close();
  sub.close();
}, ATTACK);

e2e("attack: megabytes of junk after an interest, on a probe stream, as SUBSCRIBE_UPDATEs", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const peer = await RawMoqPeer.connect(relay.port);
  const { stream } = await peer.interest("");
  const junk = new Uint8Array(16_000).fill(0xaa);
  for (let i = 0; i < 500; i++) await stream.send.write(junk); // 8 MB the relay must skip
  const probe = await peer.transport.openBidi();
  await probe.send.write(new Uint8Array([0x04])); // PROBE stream type
  for (let i = 0; i < 500; i++) await probe.send.write(junk);
  // 1.3 million SUBSCRIBE_UPDATEs (6 bytes each) on one subscription.
  const pub = await RawMoqPeer.connect(relay.port);
  await pub.announce("upd");
  const sub = await peer.subscribe(1n, "upd", "t");
  const update = new Uint8Array([5, 0, 0, 0, 0, 0]);
  const updates = new Uint8Array(16_002);
  for (let i = 0; i < updates.length; i += 6) updates.set(update, i);
  for (let i = 0; i < 500; i++) await sub.stream.send.write(updates);
  await guard.verify();
  pub.close();
  peer.close();
}, ATTACK);
