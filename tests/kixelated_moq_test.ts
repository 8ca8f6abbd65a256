/**
 * `@kixelated/moq` 0.9.4 (moq-lite-01 over a legacy CLIENT_SETUP whose parameters are all
 * length-prefixed) against the relay: it negotiates lite-01, publishes and subscribes byte-exact,
 * and interoperates with `@moq/lite` 0.2.2 through the relay. `[server] version` without a legacy
 * version refuses its SETUP.
 */

import assert from "node:assert/strict";
import {
  connect,
  connectKixelated,
  e2e,
  eventually,
  type KConnection,
  type KixelatedMoq,
  type KTrack,
  loadKixelatedMoq,
  payload,
  publish,
  readGroup,
  type RelayProcess,
  sleep,
  subscribe,
  within,
  writeGroup,
} from "../testing/mod.ts";
import { loadNet } from "../testing/moq_net.ts";

const STEP_TIMEOUT_MS = 10_000;
/** Deno's WebTransport client, captured before `@moq/lite` loading removes the global. */
const NATIVE_WEBTRANSPORT = (globalThis as { WebTransport?: unknown }).WebTransport;

/** `@kixelated/moq` logs every step on the console; keep output readable unless asked. */
function quiet(): void {
  if (Deno.env.get("MOQ_CLIENT_LOG")) return;
  console.debug = () => {};
  console.warn = () => {};
}

let moqModule: Promise<KixelatedMoq> | undefined;
function kixelated(): Promise<KixelatedMoq> {
  quiet();
  moqModule ??= loadKixelatedMoq();
  return moqModule;
}

/** Frames of group `g`: an empty frame, a small one, one spanning many packets. */
function groupFrames(g: number): Uint8Array[] {
  return [new Uint8Array(0), payload(13 + g, g), payload(30_000 + g * 1_001, 70 + g)];
}

async function kWriteGroup(track: KTrack, frames: Uint8Array[]): Promise<number> {
  const group = track.appendGroup();
  for (const frame of frames) group.writeFrame(frame);
  group.close();
  await sleep(20);
  return group.sequence;
}

async function kReadGroup(track: KTrack): Promise<{ sequence: number; frames: Uint8Array[] } | undefined> {
  return await within(
    STEP_TIMEOUT_MS,
    "read a group with @kixelated/moq",
    (async () => {
      const group = await track.nextGroup();
      if (!group) return undefined;
      const frames: Uint8Array[] = [];
      for (;;) {
        const frame = await group.readFrame();
        if (frame === undefined) break;
        frames.push(frame);
      }
      return { sequence: group.sequence, frames };
    })(),
  );
}

/** The relay's "negotiated version" lines for `transport`. */
function negotiated(relay: RelayProcess, transport: string): string[] {
  return relay.logs.filter((l) => /negotiated version/.test(l) && l.includes(`transport=${transport}`));
}

async function kConnect(
  relay: RelayProcess,
  transport: "websocket" | "webtransport" = "websocket",
): Promise<KConnection> {
  const moq = await kixelated();
  const connection = await within(
    STEP_TIMEOUT_MS,
    `@kixelated/moq connect over ${transport}`,
    connectKixelated(moq, `${relay.httpUrl}/anon`, transport),
  );
  assert.ok(connection instanceof moq.Lite.Connection, "@kixelated/moq established a moq-lite session");
  return connection;
}

/** A publisher answering the first track request; resolves with that track. */
async function kPublish(connection: KConnection, path: string): Promise<() => Promise<KTrack>> {
  const moq = await kixelated();
  const broadcast = new moq.Broadcast();
  connection.publish(moq.Path.from(path), broadcast);
  const request = broadcast.requested();
  return async () => {
    const req = await within(STEP_TIMEOUT_MS, "a track request at the @kixelated/moq publisher", request);
    assert.ok(req, "the relay requested a track");
    return req.track;
  };
}

e2e("@kixelated/moq 0.9.4: lite-01 over WebSocket, publish and subscribe byte-exact", async (relay) => {
  const moq = await kixelated();
  const pub = await kConnect(relay);
  const sub = await kConnect(relay);
  try {
    const requested = await kPublish(pub, "kix/cam");
    const track = sub.consume(moq.Path.from("kix/cam")).subscribe("video", 0);
    const upstream = await requested();
    assert.equal(upstream.name, "video");
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 4; g++) {
      sent.push(groupFrames(g));
      assert.equal(await kWriteGroup(upstream, sent[g]), g);
    }
    for (let g = 0; g < 4; g++) {
      const got = await kReadGroup(track);
      assert.ok(got, `group ${g} arrived`);
      assert.equal(got.sequence, g);
      assert.deepEqual(got.frames, sent[g], `group ${g} byte-exact`);
    }
    const lines = negotiated(relay, "websocket");
    assert.equal(lines.length, 2, lines.join("\n"));
    for (const line of lines) assert.match(line, /version=moq-lite-01/);
    assert.ok(!relay.logs.some((l) => /trailing bytes/.test(l)), "the CLIENT_SETUP parameters were accepted");
  } finally {
    pub.close();
    sub.close();
  }
});

e2e(
  "@kixelated/moq 0.9.4 (lite-01) ↔ @moq/lite 0.2.2 (lite-02) through the relay, byte-exact",
  async (relay) => {
    const moq = await kixelated();
    const kix = await kConnect(relay);
    const lite = await connect(relay.port, "anon");
    try {
      // @kixelated/moq publishes, @moq/lite subscribes.
      const requested = await kPublish(kix, "kix/a");
      const liteTrack = await subscribe(lite, "kix/a", "audio");
      const upstream = await requested();
      const sent: Uint8Array[][] = [];
      for (let g = 0; g < 3; g++) {
        sent.push(groupFrames(g));
        await kWriteGroup(upstream, sent[g]);
      }
      for (let g = 0; g < 3; g++) {
        const got = await readGroup(liteTrack);
        assert.ok(got, `group ${g} reached @moq/lite`);
        assert.equal(got.sequence, g);
        assert.deepEqual(got.frames, sent[g], `group ${g} byte-exact at @moq/lite`);
      }
      // @moq/lite publishes, @kixelated/moq subscribes.
      const publisher = await publish(lite, "lite/b");
      const kixTrack = kix.consume(moq.Path.from("lite/b")).subscribe("video", 0);
      const liteUpstream = await publisher.request();
      const back: Uint8Array[][] = [];
      for (let g = 0; g < 3; g++) {
        back.push(groupFrames(10 + g));
        assert.equal(writeGroup(liteUpstream, back[g]), g);
        await sleep(20);
      }
      for (let g = 0; g < 3; g++) {
        const got = await kReadGroup(kixTrack);
        assert.ok(got, `group ${g} reached @kixelated/moq`);
        assert.equal(got.sequence, g);
        assert.deepEqual(got.frames, back[g], `group ${g} byte-exact at @kixelated/moq`);
      }
      const versions = negotiated(relay, "websocket").map((l) => /version=(\S+)/.exec(l)?.[1]).sort();
      assert.deepEqual(versions, ["moq-lite-01", "moq-lite-02"]);
    } finally {
      kix.close();
      lite.close();
    }
  },
);

e2e(
  "@kixelated/moq 0.9.4: [server] version without lite-01/02 refuses its SETUP (no common version)",
  async (relay) => {
    const moq = await kixelated();
    await assert.rejects(
      within(STEP_TIMEOUT_MS, "refused connect", connectKixelated(moq, `${relay.httpUrl}/anon`, "websocket")),
    );
    await relay.waitForLog(/no common version/);
    assert.equal(negotiated(relay, "websocket").length, 0);
  },
  { server: `version = ["moq-lite-04", "moq-lite-03"]` },
);

e2e(
  "@kixelated/moq 0.9.4: lite-01 over Deno's WebTransport (no wt-protocol, legacy SETUP)",
  async (relay) => {
    assert.ok(NATIVE_WEBTRANSPORT, "Deno exposes WebTransport (--unstable-net)");
    const global = globalThis as { WebTransport?: unknown };
    const saved = global.WebTransport;
    global.WebTransport = NATIVE_WEBTRANSPORT;
    try {
      const moq = await kixelated();
      const pub = await kConnect(relay, "webtransport");
      const sub = await kConnect(relay, "webtransport");
      try {
        const requested = await kPublish(pub, "kix/wt");
        const track = sub.consume(moq.Path.from("kix/wt")).subscribe("video", 0);
        const upstream = await requested();
        const frames = [payload(5, 1), payload(4_000, 2)];
        // Deno's client never sends a FIN, so groups do not end: check the frames, not the group end.
        const group = upstream.appendGroup();
        for (const frame of frames) group.writeFrame(frame);
        const got = await within(STEP_TIMEOUT_MS, "a group over WebTransport", track.nextGroup());
        assert.ok(got);
        for (const frame of frames) {
          assert.deepEqual(await within(STEP_TIMEOUT_MS, "a frame", got.readFrame()), frame);
        }
        await eventually(
          "two WebTransport lite-01 sessions",
          () => negotiated(relay, "webtransport").length === 2,
        );
        for (const line of negotiated(relay, "webtransport")) {
          assert.match(line, /version=moq-lite-01/);
        }
      } finally {
        pub.close();
        sub.close();
      }
    } finally {
      global.WebTransport = saved;
    }
  },
);

e2e(
  "@kixelated/moq 0.9.4 (lite-01) ↔ @moq/net 0.3.4 (lite-05) through the relay, byte-exact both ways",
  async (relay) => {
    const moq = await kixelated();
    const Net = await loadNet();
    const kix = await kConnect(relay);
    const net = await within(
      STEP_TIMEOUT_MS,
      "@moq/net connect",
      Net.Connection.connect(new URL(`${relay.httpUrl}/anon`)),
    );
    try {
      assert.equal(net.version, "moq-lite-05");
      // @kixelated/moq publishes, @moq/net subscribes (a lite-01 publisher: no TRACK_INFO request).
      const requested = await kPublish(kix, "kix/n");
      await sleep(300); // the announcement reaches the relay
      const netTrack = net.consume(Net.Path.from("kix/n")).subscribe("video");
      const upstream = await requested();
      const sent: Uint8Array[][] = [];
      for (let g = 0; g < 3; g++) {
        sent.push(groupFrames(g));
        await kWriteGroup(upstream, sent[g]);
        await sleep(150); // one group at a time: @moq/net hands out the newest group first
      }
      for (let g = 0; g < 3; g++) {
        const group = await within(STEP_TIMEOUT_MS, `group ${g} at @moq/net`, netTrack.recvGroup());
        assert.ok(group, `group ${g} reached @moq/net`);
        assert.equal(group.sequence, g);
        const frames: Uint8Array[] = [];
        for (;;) {
          const frame = await within(STEP_TIMEOUT_MS, "a frame at @moq/net", group.readFrame());
          if (!frame) break;
          frames.push(frame.payload);
        }
        assert.deepEqual(frames, sent[g], `group ${g} byte-exact at @moq/net`);
      }
      netTrack.close();
      // @moq/net publishes, @kixelated/moq subscribes (timestamps are dropped for lite-01).
      const broadcast = new Net.Broadcast.Producer();
      const track = broadcast.createTrack("audio", {});
      net.publish(Net.Path.from("net/k"), broadcast);
      await sleep(300);
      const kixTrack = kix.consume(moq.Path.from("net/k")).subscribe("audio", 0);
      await sleep(500); // the relay's subscription reaches the publisher
      const back: Uint8Array[][] = [];
      for (let g = 0; g < 3; g++) {
        back.push(groupFrames(20 + g));
        const group = track.appendGroup();
        for (const f of back[g]) group.writeFrame({ payload: f, timestamp: Net.Time.Timestamp.now() });
        group.close();
        await sleep(20);
      }
      for (let g = 0; g < 3; g++) {
        const got = await kReadGroup(kixTrack);
        assert.ok(got, `group ${g} reached @kixelated/moq`);
        assert.equal(got.sequence, g);
        assert.deepEqual(got.frames, back[g], `group ${g} byte-exact at @kixelated/moq`);
      }
      const versions = negotiated(relay, "websocket").map((l) => /version=(\S+)/.exec(l)?.[1]).sort();
      assert.deepEqual(versions, ["moq-lite-01", "moq-lite-05"]);
    } finally {
      kix.close();
      net.close();
    }
  },
);
