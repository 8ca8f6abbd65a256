import assert from "node:assert/strict";
import { type BidiStream, type SendStream, StreamReader } from "../transport/mod.ts";
import { type TestContext, testContext, type TestContextOptions } from "./_test_context.ts";
import { Ingest } from "./_ingest.ts";
import {
  BidiType,
  decodeAnnounceInterest,
  decodeSubscribe,
  encodeAnnounce,
  encodeSubscribeOk,
  Version,
} from "./messages.ts";
import { Writer } from "../codec/mod.ts";
import { type Group, MAX_UNREAD_GROUPS, type TrackConsumer, type TrackHandle } from "../relay/mod.ts";

const V = Version.Lite04;

function frame(payload: Uint8Array): Uint8Array {
  return new Writer(payload.length + 8).varint(payload.length).bytes(payload).finish();
}

async function until(what: string, check: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Start an Ingest and play the publisher: answer its ANNOUNCE_INTEREST. */
async function publisher(options: TestContextOptions = {}) {
  const t = testContext(options);
  const ingest = new Ingest(t.ctx);
  ingest.start();
  const s = (await t.peer.acceptBidi())!;
  const r = new StreamReader(s.recv);
  assert.equal(await r.varint(), BidiType.Announce);
  const interest = decodeAnnounceInterest(V, await r.message(4096));
  return { t, ingest, announceStream: s, interest };
}

/** The next SUBSCRIBE the relay sends the publisher. */
async function nextSubscribe(t: TestContext): Promise<{ stream: BidiStream; id: bigint; track: string }> {
  const s = (await t.peer.acceptBidi())!;
  const r = new StreamReader(s.recv);
  assert.equal(await r.varint(), BidiType.Subscribe);
  const msg = decodeSubscribe(V, await r.message(4096));
  return { stream: s, id: msg.id, track: msg.track };
}

/** The publisher announced `cam`, the relay subscribed to its `video` track and the publisher accepted. */
interface UpstreamTrack {
  t: TestContext;
  ingest: Ingest;
  /** The relay's handle on `cam`/`video`. */
  handle: TrackHandle;
  /** The SUBSCRIBE the publisher answered. */
  up: { stream: BidiStream; id: bigint; track: string };
  /** Open GROUP `sequence` as the publisher, its first frame `[sequence]`, and hand it to the ingest. */
  openGroup(sequence: number): Promise<{ send: SendStream; reading: Promise<void> }>;
}

/** Start an Ingest, announce `cam`, subscribe to `cam`/`video`, answer SUBSCRIBE_OK as the publisher. */
async function upstreamTrack(options: TestContextOptions = {}): Promise<UpstreamTrack> {
  const { t, ingest, announceStream } = await publisher(options);
  await announceStream.send.write(encodeAnnounce(V, { active: true, suffix: "cam", hops: [] }));
  await until("the broadcast", () => t.origin.get("cam") !== undefined);
  const handle = t.origin.acquireTrack("cam", "video", 1)!;
  const up = await nextSubscribe(t);
  await up.stream.send.write(encodeSubscribeOk(V, { priority: 1, ordered: false, maxLatencyMs: 0 }));
  assert.equal(await handle.track.whenReady(), true);
  const openGroup = async (sequence: number) => {
    const send = await t.peer.openUni();
    await send.write(groupHeader(up.id, sequence));
    await send.write(frame(new Uint8Array([sequence])));
    const recv = (await t.ctx.transport.acceptUni())!;
    return { send, reading: ingest.group(recv, new StreamReader(recv)) };
  };
  return { t, ingest, handle, up, openGroup };
}

/** The start of a GROUP stream: its type byte and the size-prefixed header (subscribe id, sequence). */
function groupHeader(subscribeId: bigint, sequence: number): Uint8Array {
  const header = new Writer(16).varint62(subscribeId).varint(sequence).finish();
  return new Writer(24).u8(0).varint(header.length).bytes(header).finish();
}

/** A selective subscriber holding every group offered, appending each to `offered`. */
function holdingConsumer(offered: Group[]): TrackConsumer {
  return {
    selective: true,
    onGroup: (g) => {
      g.hold();
      offered.push(g);
    },
    onClose: () => {},
  };
}

Deno.test("ingest: announced broadcasts enter the origin and leave it on ended", async () => {
  const { t, ingest, announceStream, interest } = await publisher({ originId: 3 });
  assert.equal(interest.prefix, "");
  assert.equal(interest.excludeHop, 3n, "the relay states its own id to be excluded");
  await announceStream.send.write(encodeAnnounce(V, { active: true, suffix: "cam", hops: [] }));
  await until("the broadcast to be published", () => t.origin.get("cam") !== undefined);
  assert.equal(ingest.broadcasts, 1);
  await announceStream.send.write(encodeAnnounce(V, { active: false, suffix: "cam", hops: [] }));
  await until("the broadcast to end", () => t.origin.get("cam") === undefined);
  assert.equal(ingest.broadcasts, 0);
  t.end();
});

Deno.test("ingest: hop ids count only from a cluster member", async () => {
  const plain = await publisher({ originId: 3 });
  await plain.announceStream.send.write(encodeAnnounce(V, { active: true, suffix: "x", hops: [3n] }));
  await until("a plain publisher's path to be accepted", () => plain.t.origin.get("x") !== undefined);
  assert.deepEqual(plain.t.origin.get("x")!.hops, [], "forged hops are ignored");
  plain.t.end();

  const peer = await publisher({ originId: 3, grant: { internal: true, anonymous: false } });
  await peer.announceStream.send.write(encodeAnnounce(V, { active: true, suffix: "y", hops: [8n, 9n] }));
  await peer.announceStream.send.write(encodeAnnounce(V, { active: true, suffix: "loop", hops: [3n] }));
  await until("the peer's route", () => peer.t.origin.get("y") !== undefined);
  assert.deepEqual(peer.t.origin.get("y")!.hops, [8n, 9n]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(peer.t.origin.get("loop"), undefined, "a chain through this relay is a loop");
  peer.t.end();
});

Deno.test("ingest: one SUBSCRIBE per track; groups arrive byte-exact; not-found closes the track", async () => {
  const { t, ingest, handle, up } = await upstreamTrack();
  assert.equal(up.track, "video");
  const g = await t.peer.openUni();
  await g.write(groupHeader(up.id, 4));
  const payloads = [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array(5000).fill(3)];
  for (const p of payloads) await g.write(frame(p));
  // A flood of zero-length frames is ingested in slices that let the event loop run.
  let timerRan = false;
  setTimeout(() => (timerRan = true), 0);
  await g.write(new Uint8Array(20_000));
  await g.close();
  // The session hands every GROUP stream the peer opens to the ingest.
  const recv = (await t.ctx.transport.acceptUni())!;
  await ingest.group(recv, new StreamReader(recv));
  assert.equal(handle.track.latest?.state, "done");
  const group = handle.track.latest!;
  assert.equal(group.sequence, 4);
  assert.equal(group.frameCount, 3 + 20_000);
  for (let i = 0; i < payloads.length; i++) assert.deepEqual(group.frame(i), frame(payloads[i]));
  assert.ok(timerRan);

  const other = t.origin.acquireTrack("cam", "missing", 0)!;
  const up2 = await nextSubscribe(t);
  up2.stream.send.reset(13);
  assert.equal(await other.track.whenReady(), false);
  assert.equal(other.track.closeCode, 13);
  assert.equal(t.origin.hasTrack("cam", "missing"), false, "a not-found track does not stay open");
  other.release();
  handle.release();
  t.end();
});

Deno.test("ingest: a group every subscriber passed over is stopped upstream, mid-frame, without failing the session", async () => {
  const { t, handle, openGroup: open } = await upstreamTrack();
  // A subscriber that reports its interest per group, holding every group offered.
  const offered: Group[] = [];
  const consumer = holdingConsumer(offered);
  handle.track.attach(consumer);
  const g0 = await open(0);
  await g0.send.write(new Uint8Array([100, 1, 2, 3])); // half a frame: the stop lands mid-frame
  await until("group 0", () => offered.length === 1 && offered[0].frameCount === 1);
  const g1 = await open(1);
  await until("group 1", () => offered.length === 2);
  assert.equal(offered[0].state, "open", "still held: still read");
  offered[0].unhold(); // the subscriber passes over group 0
  assert.equal(offered[0].state, "aborted");
  assert.equal(handle.track.findGroup(0), undefined, "it left the cache");
  await g0.reading; // ends quietly (no protocol error)
  assert.ok((await g0.send.stopped) >= 0, "the publisher is asked to stop sending it");
  // The latest group is still read.
  offered[1].unhold();
  await g1.send.write(frame(new Uint8Array([9])));
  await g1.send.close();
  await g1.reading;
  assert.equal(offered[1].state, "done");
  assert.equal(offered[1].frameCount, 2);
  handle.track.detach(consumer);
  handle.release();
  t.end();
});

Deno.test("ingest: while every subscriber is behind, the newest group's bytes are not read (QUIC); superseded, its stream is stopped", async () => {
  const { t, handle, openGroup: open } = await upstreamTrack({ kind: "quic" });
  // Two subscribers holding every group offered and reading none: both behind.
  const offered: Group[][] = [[], []];
  const consumers = offered.map((list) => holdingConsumer(list));
  for (const c of consumers) handle.track.attach(c);
  for (let seq = 0; seq < MAX_UNREAD_GROUPS; seq++) {
    await open(seq);
    await until(`group ${seq} read`, () => offered[0][seq]?.frameCount === 1);
  }
  const withheld = await open(MAX_UNREAD_GROUPS);
  await until("the group cached", () => handle.track.latest?.sequence === MAX_UNREAD_GROUPS);
  const group = handle.track.latest!;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(group.frameCount, 0, "its frame was left unread");
  assert.equal(offered[0].length, MAX_UNREAD_GROUPS, "not offered");
  // A newer group supersedes it: stopped without reading a byte.
  const newer = await open(MAX_UNREAD_GROUPS + 1);
  await withheld.reading;
  assert.ok((await withheld.send.stopped) >= 0, "the publisher is asked to stop sending it");
  assert.equal(group.state, "aborted");
  assert.equal(group.frameCount, 0);
  // A subscriber starts reading a queued group: the newest is offered and read.
  offered[0][0].run(0);
  await until("the newest group offered", () => offered[1].at(-1)?.sequence === MAX_UNREAD_GROUPS + 1);
  await until("and read", () => offered[1].at(-1)!.frameCount === 1);
  await newer.send.close();
  await newer.reading;
  assert.equal(offered[1].at(-1)!.state, "done");
  for (const c of consumers) handle.track.detach(c);
  handle.release();
  t.end();
});

Deno.test("ingest: over a framed transport (its unread bytes count against a session budget) a withheld group is read, not offered", async () => {
  const { t, handle, openGroup: open } = await upstreamTrack({ kind: "websocket" });
  const offered: Group[] = [];
  const consumers = [0, 1].map(() => holdingConsumer(offered));
  for (const c of consumers) handle.track.attach(c);
  for (let seq = 0; seq <= MAX_UNREAD_GROUPS; seq++) await open(seq);
  await until("the newest group read", () => handle.track.latest?.frameCount === 1);
  assert.equal(handle.track.latest!.sequence, MAX_UNREAD_GROUPS);
  assert.equal(offered.length, 2 * MAX_UNREAD_GROUPS, "withheld from both subscribers");
  for (const c of consumers) handle.track.detach(c);
  handle.release();
  t.end();
});
