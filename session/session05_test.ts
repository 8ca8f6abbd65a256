/**
 * moq-lite-05 at the session level over in-memory streams: the SETUP gate (Path authorisation on
 * URL-less transports, Role refusal) and malformed input, which closes only that session with the
 * right code and a warn line.
 */

import assert from "node:assert/strict";
import { createLogger, LogFilter } from "../log/mod.ts";
import { Origin, RelayStats, type Track } from "../relay/mod.ts";
import { AuthError, type SessionGrant } from "../auth/mod.ts";
import { eventually, type MemoryTransport, memoryTransportPair } from "../testing/mod.ts";
import { StreamReader, type TransportKind } from "../transport/mod.ts";
import { Writer } from "../codec/mod.ts";
import {
  BidiType05,
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeAnnounceRequest,
  decodeSubscribe05,
  decodeTrack,
  encodeAnnounceBroadcast,
  encodeAnnounceOk,
  encodeAnnounceRequest,
  encodeSetupStream,
  encodeStreamType05,
  encodeSubscribe05,
  encodeTrackInfo,
  FrameTimestampDecoder,
  ProbeLevel,
  readFrame05,
  readSetupStream,
  readSubscribeResponse05,
  Role,
  type Setup,
  UniType05,
} from "./lite05.ts";
import { MoqSession } from "./session.ts";

const GRANT: SessionGrant = { root: "", publish: [""], subscribe: [""], internal: false, anonymous: true };

interface Started {
  client: MemoryTransport;
  session: MoqSession;
  origin: Origin;
  warnings: string[];
}

interface StartOptions {
  kind?: TransportKind;
  url?: string;
  role?: "server" | "client";
  grant?: SessionGrant;
  authorize?: (url: URL) => Promise<SessionGrant>;
  originId?: number;
}

function start(options: StartOptions = {}): Started {
  const [client, server] = memoryTransportPair({
    protocol: "moq-lite-05",
    kind: options.kind,
    url: options.url ?? (options.kind === "quic" ? "moql://relay.test/" : undefined),
  });
  const warnings: string[] = [];
  const logger = createLogger(LogFilter.parse("warn"), (line) => warnings.push(line));
  const origin = new Origin({ logger });
  const session = new MoqSession({
    id: 1,
    transport: server,
    grant: options.grant ?? GRANT,
    origin,
    stats: new RelayStats(),
    logger,
    authorize: options.authorize,
    originId: options.originId,
    role: options.role,
  });
  return { client, session, origin, warnings };
}

async function sendUni(client: MemoryTransport, bytes: Uint8Array): Promise<void> {
  const s = await client.openUni();
  await s.write(bytes);
  await s.close();
}

function setupBytes(setup: Partial<Setup> = {}): Uint8Array {
  return encodeSetupStream({ probe: ProbeLevel.None, role: Role.Both, ...setup });
}

/** The relay's SETUP, read from its Setup stream. */
async function relaySetup(client: MemoryTransport): Promise<Setup> {
  const s = await client.acceptUni();
  assert.ok(s, "the relay opened its Setup stream");
  const r = new StreamReader(s);
  assert.equal(await r.varint(), UniType05.Setup);
  return await readSetupStream(r);
}

/** Expect the session to close with `code` and a warn line mentioning it. */
async function closesWith(t: Started, code: number): Promise<void> {
  const info = await t.session.done;
  assert.equal(info.code, code, `close code (reason: ${info.reason})`);
  assert.ok(
    t.warnings.some((l) => l.includes("closing session on protocol error") && l.includes(`code=${code}`)),
    `a warn line for code ${code}: ${t.warnings.join(" | ")}`,
  );
}

/**
 * Play a lite-05 publisher of `cam`: complete the SETUP and answer the relay's ANNOUNCE_REQUEST
 * (ANNOUNCE_OK with `hop`). Returns the announce stream.
 */
async function publisherOf(t: Started, hop = 0n) {
  await sendUni(t.client, setupBytes());
  await relaySetup(t.client);
  const s = (await t.client.acceptBidi())!;
  const r = new StreamReader(s.recv);
  assert.equal(await r.varint(), BidiType05.Announce);
  assert.equal(decodeAnnounceRequest(await r.message(4096)).prefix, "");
  await s.send.write(encodeAnnounceOk({ hop, activeCount: 1 }));
  await s.send.write(encodeAnnounceBroadcast({ active: true, suffix: "cam", hops: [] }));
  await eventually("the broadcast to reach the origin", () => t.origin.get("cam") !== undefined, 2_000, 5);
  return s;
}

/** Make the relay subscribe to cam/video; answer its TRACK with `trackInfo`. Returns the SUBSCRIBE id. */
async function answerTrack(t: Started, trackInfo: Uint8Array): Promise<void> {
  t.origin.acquireTrack("cam", "video", 0);
  const s = (await t.client.acceptBidi())!;
  const r = new StreamReader(s.recv);
  assert.equal(await r.varint(), BidiType05.Track);
  assert.deepEqual(decodeTrack(await r.message(4096)), { broadcast: "cam", track: "video" });
  await s.send.write(trackInfo);
  await s.send.close();
}

async function nextSubscribe(t: Started) {
  const s = (await t.client.acceptBidi())!;
  const r = new StreamReader(s.recv);
  assert.equal(await r.varint(), BidiType05.Subscribe);
  return { stream: s, msg: decodeSubscribe05(await r.message(4096)) };
}

const GOOD_INFO = encodeTrackInfo({ priority: 0, ordered: false, maxLatencyMs: 5000, timescale: 1000 });

Deno.test("lite-05 SETUP: the relay answers with its own SETUP only after the client's", async () => {
  const t = start();
  await sendUni(t.client, setupBytes({ probe: ProbeLevel.Report }));
  const setup = await relaySetup(t.client);
  assert.equal(setup.path, undefined, "the server sends no Path");
  assert.equal(t.session.version, 0xff0dad05);
  t.client.close(0, "done");
  await t.session.done;
});

Deno.test("lite-05 SETUP: a raw QUIC Path carries the root and ?jwt=, authorised like a URL", async () => {
  const seen: string[] = [];
  const t = start({
    kind: "quic",
    grant: { ...GRANT, publish: [], subscribe: [] },
    authorize: (url) => {
      seen.push(url.href);
      if (url.searchParams.get("jwt") !== "good") throw new AuthError("bad_signature", "bad token");
      return Promise.resolve({ ...GRANT, root: "room" });
    },
  });
  await sendUni(t.client, setupBytes({ path: "/room?jwt=good" }));
  await relaySetup(t.client);
  assert.deepEqual(seen, ["moql://relay.test/room?jwt=good"]);
  // Authorised to publish: the relay asks what the client publishes.
  const s = (await t.client.acceptBidi())!;
  assert.equal(await new StreamReader(s.recv).varint(), BidiType05.Announce);
  t.client.close(0, "done");
  await t.session.done;

  const bad = start({
    kind: "quic",
    authorize: () => Promise.reject(new AuthError("bad_signature", "bad token")),
  });
  await sendUni(bad.client, setupBytes({ path: "/room?jwt=forged" }));
  assert.equal((await bad.session.done).code, 6);
  assert.ok(bad.warnings.some((l) => l.includes("SETUP refused: not authorised")));
  assert.ok(!bad.warnings.some((l) => l.includes("forged")), "the token never reaches a log line");
});

Deno.test("lite-05 SETUP: a Role the grant does not allow closes the session during the handshake", async () => {
  const t = start({ grant: { ...GRANT, publish: [] } });
  await sendUni(t.client, setupBytes({ role: Role.Publisher }));
  assert.equal((await t.session.done).code, 6);
  assert.ok(t.warnings.some((l) => l.includes("does not allow the requested role")));
  assert.equal(t.session.version, null, "the session never started");
});

Deno.test("lite-05 SETUP: Role Subscriber leaves the publishing half unwired", async () => {
  const t = start();
  await sendUni(t.client, setupBytes({ role: Role.Subscriber }));
  await relaySetup(t.client);
  const none = await Promise.race([
    t.client.acceptBidi().then(() => "stream"),
    new Promise((r) => setTimeout(() => r("none"), 300)),
  ]);
  assert.equal(none, "none", "no ANNOUNCE_REQUEST toward a subscribe-only client");
  t.client.close(0, "done");
  await t.session.done;
});

Deno.test("lite-05 malformed: a duplicate SETUP parameter closes the session with code 5", async () => {
  const t = start();
  // SETUP with two Probe parameters.
  await sendUni(t.client, Uint8Array.of(0x01, 0x07, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02));
  await closesWith(t, 5);
});

Deno.test("lite-05 malformed: a second SETUP closes the session with code 15", async () => {
  const t = start();
  await sendUni(t.client, setupBytes());
  await relaySetup(t.client);
  await sendUni(t.client, setupBytes());
  await closesWith(t, 15);
});

Deno.test("lite-05 malformed: bytes after the SETUP on its stream close the session with code 15", async () => {
  const t = start();
  await sendUni(t.client, Uint8Array.of(0x01, 0x01, 0x00, 0x01, 0x00));
  await closesWith(t, 15);
});

Deno.test("lite-05 malformed: TRACK_INFO with timescale 0 closes the session with code 5", async () => {
  const t = start();
  await publisherOf(t);
  await answerTrack(t, Uint8Array.of(0x05, 0x00, 0x00, 0x53, 0x88, 0x00));
  await closesWith(t, 5);
});

Deno.test("lite-05 malformed: a timestamp delta below zero closes the session with code 11", async () => {
  const t = start();
  await publisherOf(t);
  await answerTrack(t, GOOD_INFO);
  const { msg } = await nextSubscribe(t);
  const group = await t.client.openUni();
  const header = new Writer(8).varint62(msg.id).varint(0).finish();
  await group.write(new Writer(16).varint(0).varint(header.length).bytes(header).finish());
  // zigzag 1 = delta −1 from 0: the timestamp leaves 0..2^62−1.
  await group.write(Uint8Array.of(0x01, 0x01, 0xaa));
  await closesWith(t, 11);
});

Deno.test("lite-05 malformed: an unknown subscribe response type closes the session with code 5", async () => {
  const t = start();
  await publisherOf(t);
  await answerTrack(t, GOOD_INFO);
  const { stream } = await nextSubscribe(t);
  await stream.send.write(Uint8Array.of(0x05, 0x01, 0x00));
  await closesWith(t, 5);
});

Deno.test("lite-05 announce: the receiver appends ANNOUNCE_OK's hop id; a second active is a restart", async () => {
  const t = start({ grant: { ...GRANT, internal: true }, originId: 9 });
  const s = await publisherOf(t, 42n);
  assert.deepEqual(t.origin.get("cam")!.hops, [42n], "hop stamped by the receiver");
  // A route change: the same path active again, now through hop 7 first. lite-04 would close the
  // session (duplicate announce); lite-05 replaces the route.
  await s.send.write(encodeAnnounceBroadcast({ active: true, suffix: "cam", hops: [7n] }));
  await eventually("the restarted route", () => t.origin.get("cam")?.hops.join() === "7,42", 2_000, 5);
  assert.equal(t.session.closeInfo, null, "the session lives on");
  // Our own hop id in the chain is a loop: dropped, not an error.
  await s.send.write(encodeAnnounceBroadcast({ active: true, suffix: "loop", hops: [9n] }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(t.origin.get("loop"), undefined);
  t.client.close(0, "done");
  await t.session.done;
});

Deno.test("lite-05 announce: 62-bit hop ids from a peer stay exact in the origin's chain", async () => {
  const t = start({ grant: { ...GRANT, internal: true }, originId: 9 });
  const big = (1n << 60n) + 1n; // 2^60 + 1 is not a double: a Number would round it to 2^60
  const s = await publisherOf(t, big);
  assert.deepEqual(t.origin.get("cam")!.hops, [big]);
  await s.send.write(encodeAnnounceBroadcast({ active: true, suffix: "two", hops: [(1n << 62n) - 1n] }));
  await eventually("the second route", () => t.origin.get("two") !== undefined, 2_000, 5);
  assert.deepEqual(t.origin.get("two")!.hops, [(1n << 62n) - 1n, big]);
  t.client.close(0, "done");
  await t.session.done;
});

Deno.test("lite-05 announce: ANNOUNCE_OK states our hop and the initial count; chains exclude our hop", async () => {
  const t = start({ grant: { ...GRANT, internal: true }, originId: 9 });
  await sendUni(t.client, setupBytes({ role: Role.Subscriber }));
  await relaySetup(t.client);
  for (const [path, hops] of [["a", [1]], ["b", [2, 3]]] as const) {
    t.origin.publish(path, {
      label: path,
      hops: hops.map(BigInt),
      subscribe: () => ({ cancel: () => {} }),
    });
  }
  const s = await t.client.openBidi();
  await s.send.write(encodeStreamType05(BidiType05.Announce));
  await s.send.write(encodeAnnounceRequest({ prefix: "", excludeHop: 5n }));
  const r = new StreamReader(s.recv);
  assert.deepEqual(decodeAnnounceOk(await r.message(4096)), { hop: 9n, activeCount: 2 });
  const got = [
    decodeAnnounceBroadcast(await r.message(4096)),
    decodeAnnounceBroadcast(await r.message(4096)),
  ];
  got.sort((x, y) => x.suffix.localeCompare(y.suffix));
  assert.deepEqual(got, [
    { active: true, suffix: "a", hops: [1n] },
    { active: true, suffix: "b", hops: [2n, 3n] },
  ]);
  t.client.close(0, "done");
  await t.session.done;
});

Deno.test("lite-05 as the dialing side on raw QUIC: its SETUP carries the dial URL's path and ?jwt=", async () => {
  const t = start({ kind: "quic", url: "moql://peer.test/room?jwt=abc", role: "client", originId: 4 });
  const setup = await relaySetup(t.client);
  assert.equal(setup.path, "/room?jwt=abc");
  assert.equal(setup.origin, 4n);
  // It starts without waiting for the peer's SETUP: the ANNOUNCE_REQUEST follows.
  const s = (await t.client.acceptBidi())!;
  assert.equal(await new StreamReader(s.recv).varint(), BidiType05.Announce);
  await sendUni(t.client, setupBytes());
  await sendUni(t.client, setupBytes());
  await closesWith(t, 15);
});

Deno.test("lite-05 subscribe: START at the first group served, END as the track ends, FIN after the groups", async () => {
  const t = start();
  await sendUni(t.client, setupBytes({ role: Role.Subscriber }));
  await relaySetup(t.client);
  let upstream: Track | undefined;
  t.origin.publish("cam", {
    label: "test",
    hops: [],
    subscribe: (track) => {
      upstream = track;
      track.info = { priority: 1, ordered: true, maxLatencyMs: 2000, timescale: 90_000 };
      queueMicrotask(() => track.ready());
      return { cancel: () => {} };
    },
  });
  const s = await t.client.openBidi();
  await s.send.write(encodeStreamType05(BidiType05.Subscribe));
  await s.send.write(encodeSubscribe05({
    id: 3n,
    broadcast: "cam",
    track: "video",
    priority: 0,
    ordered: false,
    maxLatencyMs: 0,
  }));
  await eventually("the upstream subscription", () => upstream?.state === "live", 2_000, 5);
  const responses = new StreamReader(s.recv);
  const group = upstream!.startGroup(5);
  const frame = (payload: number[]) =>
    new Writer(8).varint(payload.length).bytes(Uint8Array.from(payload)).finish();
  group.append(frame([1, 2]), 90_000n);
  group.append(frame([3]), 89_000n);
  assert.deepEqual(await readSubscribeResponse05(responses), { type: "start", group: 5 });
  const uni = (await t.client.acceptUni())!;
  const gr = new StreamReader(uni);
  assert.equal(await gr.varint(), 0);
  await gr.message(64); // GROUP header
  const clock = new FrameTimestampDecoder();
  assert.deepEqual(await readFrame05(gr, clock, 1024), { timestamp: 90_000n, payload: Uint8Array.of(1, 2) });
  assert.deepEqual(await readFrame05(gr, clock, 1024), { timestamp: 89_000n, payload: Uint8Array.of(3) });
  // The track ends while group 5 is still open: END (exclusive) at once, FIN only after the group.
  upstream!.upstreamEnded(null, true);
  upstream!.close(null);
  assert.deepEqual(await readSubscribeResponse05(responses), { type: "end", group: 6 });
  assert.equal(await readSubscribeResponse05(responses), null, "FIN after END");
  t.client.close(0, "done");
  await t.session.done;
});
