/**
 * moq-lite-05 end to end: the `@moq/net` 0.3.4 client over WebSocket (negotiated subprotocol,
 * byte-exact groups, per-frame timestamps, TRACK_INFO, FETCH of a cached group), bridging with the
 * lite-02 `@moq/lite` 0.2.2 client both ways, and a chain of three relays linked with lite-05.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  clusterTest,
  connect,
  e2e,
  metric,
  payload,
  publish,
  readGroup,
  type RelayProcess,
  sleep,
  startNode,
  subscribe,
  waitConnected,
  within,
  writeGroup,
} from "../testing/mod.ts";
import { loadNet, type MoqNet, recordWebSocketProtocols } from "../testing/moq_net.ts";

const protocols = recordWebSocketProtocols();

/** A deterministic payload: `size` bytes from `seed`. */
function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

interface SentFrame {
  payload: Uint8Array;
  timestamp: number;
}

/** Frame `f` of group `g`: sizes across the small/large cache split, timestamps that go back too. */
function frameOf(g: number, f: number): SentFrame {
  const sizes = [3, 1500, 0, 40_000];
  return {
    payload: bytes(sizes[(g + f) % sizes.length], g * 10 + f),
    timestamp: 90_000 * g + [0, 3003, 1500][f],
  };
}

const FRAMES_PER_GROUP = 3;

/** What the client hands back for a frame. */
interface NetFrame {
  payload: Uint8Array;
  timestamp: { as(scale: number): number };
}

/** The next frame of a `@moq/net` group, within a deadline. */
function nextFrame(
  group: { readFrame(): Promise<NetFrame | undefined> },
  what: string,
): Promise<NetFrame | undefined> {
  return within(10_000, what, group.readFrame());
}

async function netConnect(Net: MoqNet, relay: RelayProcess, path = "anon") {
  const before = protocols.length;
  const conn = await within(
    10_000,
    "@moq/net connect",
    Net.Connection.connect(new URL(`${relay.httpUrl}/${path}`)),
  );
  assert.deepEqual(conn.transport, "websocket");
  assert.match(protocols[before] ?? "", /^qmux-0[0-2]\.moq-lite-05$/);
  return conn;
}

/** Publish a lite-05 track on `conn` at `path` with the given info; returns the producer. */
function netPublish(Net: MoqNet, conn: Awaited<ReturnType<MoqNet["Connection"]["connect"]>>, path: string) {
  const broadcast = new Net.Broadcast.Producer();
  const track = broadcast.createTrack("video", {
    timescale: Net.Time.Timescale(90_000),
    priority: 7,
    latencyMax: 3_000,
    ordered: true,
  });
  conn.publish(Net.Path.from(path), broadcast);
  return { broadcast, track };
}

function writeNetGroup(Net: MoqNet, track: ReturnType<typeof netPublish>["track"], g: number): void {
  const group = track.appendGroup();
  for (let f = 0; f < FRAMES_PER_GROUP; f++) {
    const { payload, timestamp } = frameOf(g, f);
    group.writeFrame({ payload, timestamp: new Net.Time.Timestamp(timestamp, Net.Time.Timescale(90_000)) });
  }
  group.close();
}

e2e(
  "lite-05: @moq/net 0.3.4 over WebSocket, byte-exact groups, timestamps, TRACK_INFO, FETCH",
  async (relay) => {
    const Net = await loadNet();
    const pub = await netConnect(Net, relay);
    const sub = await netConnect(Net, relay);
    try {
      assert.deepEqual(pub.version, "moq-lite-05");
      const { track } = netPublish(Net, pub, "cam");
      const consumer = sub.consume(Net.Path.from("cam"));
      const info = await within(10_000, "TRACK_INFO", consumer.resolveTrackInfo("video"));
      assert.deepEqual(
        {
          timescale: info.timescale,
          priority: info.priority,
          latencyMax: info.latencyMax,
          ordered: info.ordered,
        },
        { timescale: 90_000, priority: 7, latencyMax: 3_000, ordered: true },
      );
      const subscriber = consumer.subscribe("video");
      await sleep(500); // the relay's upstream subscription reaches the publisher
      const GROUPS = 4;
      for (let g = 0; g < GROUPS; g++) {
        writeNetGroup(Net, track, g);
        await sleep(50);
      }
      for (let g = 0; g < GROUPS; g++) {
        const group = await within(10_000, `group ${g}`, subscriber.recvGroup());
        assert.ok(group, `group ${g} arrived`);
        assert.deepEqual(group.sequence, g);
        for (let f = 0; f < FRAMES_PER_GROUP; f++) {
          const frame = await nextFrame(group, `frame ${g}/${f}`);
          assert.ok(frame, `frame ${g}/${f}`);
          const want = frameOf(g, f);
          assert.deepEqual(frame.payload, want.payload);
          assert.deepEqual(frame.timestamp.as(Net.Time.Timescale(90_000)), want.timestamp);
        }
      }
      // An older group, still cached, through the lite-05 FETCH stream.
      const fetched = await within(10_000, "fetch group 1", consumer.fetchGroup("video", 1));
      for (let f = 0; f < FRAMES_PER_GROUP; f++) {
        const frame = await nextFrame(fetched, `fetched frame ${f}`);
        assert.ok(frame);
        assert.deepEqual(frame.payload, frameOf(1, f).payload);
        assert.deepEqual(frame.timestamp.as(Net.Time.Timescale(90_000)), frameOf(1, f).timestamp);
      }
      assert.deepEqual(await fetched.readFrame(), undefined);
      subscriber.close();
    } finally {
      pub.close();
      sub.close();
    }
  },
);

e2e(
  "lite-05 ↔ lite-02: @moq/lite 0.2.2 publisher to @moq/net 0.3.4 subscriber gets synthesized TRACK_INFO and arrival timestamps",
  async (relay) => {
    const Net = await loadNet();
    const pubConn = await connect(relay.port, "anon");
    const sub = await netConnect(Net, relay);
    try {
      const publisher = await publish(pubConn, "old");
      const consumer = sub.consume(Net.Path.from("old"));
      const info = await within(10_000, "synthesized TRACK_INFO", consumer.resolveTrackInfo("video"));
      // Upstream's defaults for a publisher that states nothing.
      assert.deepEqual(
        {
          timescale: info.timescale,
          priority: info.priority,
          latencyMax: info.latencyMax,
          ordered: info.ordered,
        },
        { timescale: 1_000, priority: 0, latencyMax: 5_000, ordered: false },
      );
      const subscriber = consumer.subscribe("video");
      const track = await publisher.request(1);
      await sleep(300);
      const sent: Uint8Array[][] = [];
      const before = Date.now();
      for (let g = 0; g < 3; g++) {
        const frames = [payload(10 + g, g), payload(5_000, g + 100), payload(0, 0)];
        sent.push(frames);
        writeGroup(track, frames);
        await sleep(30);
      }
      for (let g = 0; g < 3; g++) {
        const group = await within(10_000, `group ${g}`, subscriber.recvGroup());
        assert.ok(group);
        for (const want of sent[group.sequence]) {
          const frame = await nextFrame(group, `frame of group ${group.sequence}`);
          assert.ok(frame);
          assert.deepEqual(frame.payload, want);
          // Stamped with the relay's arrival time in ms (same host clock).
          const ts = frame.timestamp.as(Net.Time.Timescale(1_000));
          assert.ok(
            ts >= before - 1_000 && ts <= Date.now() + 1_000,
            `arrival timestamp ${ts} near ${before}`,
          );
        }
      }
      subscriber.close();
    } finally {
      pubConn.close();
      sub.close();
    }
  },
);

e2e(
  "lite-05 ↔ lite-02: @moq/net 0.3.4 publisher to @moq/lite 0.2.2 subscriber, byte-exact",
  async (relay) => {
    const Net = await loadNet();
    const pub = await netConnect(Net, relay);
    const subConn = await connect(relay.port, "anon");
    try {
      const { track } = netPublish(Net, pub, "new");
      await sleep(300); // the announcement reaches the relay
      const subTrack = await subscribe(subConn, "new", "video");
      await sleep(500);
      for (let g = 0; g < 3; g++) {
        writeNetGroup(Net, track, g);
        await sleep(30);
      }
      for (let g = 0; g < 3; g++) {
        const got = await readGroup(subTrack);
        assert.ok(got);
        assert.deepEqual(got.frames, [0, 1, 2].map((f) => frameOf(got.sequence, f).payload));
      }
    } finally {
      pub.close();
      subConn.close();
    }
  },
);

clusterTest(
  "lite-05 through a chain A←B←C: the viewer two hops away gets the publisher's timestamps",
  async (kit) => {
    const Net = await loadNet();
    const a = await startNode(kit, { id: 1 });
    const b = await startNode(kit, { id: 2, connect: [a.port] });
    const c = await startNode(kit, { id: 3, connect: [b.port] });
    await waitConnected(b, [a.port]);
    await waitConnected(c, [b.port]);
    // The links between our relays speak lite-05 (B dialed A, C dialed B).
    await a.waitForLog(/negotiated version.*moq-lite-05/);
    await b.waitForLog(/negotiated version.*moq-lite-05/);
    const pub = await netConnect(Net, a, "");
    const viewer = await netConnect(Net, c, "");
    try {
      const { track } = netPublish(Net, pub, "chain/cam");
      const consumer = viewer.consume(Net.Path.from("chain/cam"));
      const info = await within(15_000, "TRACK_INFO across two hops", consumer.resolveTrackInfo("video"));
      assert.deepEqual(
        {
          timescale: info.timescale,
          priority: info.priority,
          latencyMax: info.latencyMax,
          ordered: info.ordered,
        },
        { timescale: 90_000, priority: 7, latencyMax: 3_000, ordered: true },
      );
      const subscriber = consumer.subscribe("video");
      await sleep(800);
      for (let g = 0; g < 3; g++) {
        writeNetGroup(Net, track, g);
        await sleep(30);
      }
      for (let g = 0; g < 3; g++) {
        const group = await within(10_000, `group ${g}`, subscriber.recvGroup());
        assert.ok(group);
        assert.equal(group.sequence, g);
        for (let f = 0; f < FRAMES_PER_GROUP; f++) {
          const frame = await nextFrame(group, `frame ${g}/${f}`);
          assert.ok(frame);
          assert.deepEqual(frame.payload, frameOf(g, f).payload);
          assert.equal(frame.timestamp.as(Net.Time.Timescale(90_000)), frameOf(g, f).timestamp);
        }
      }
      for (const [name, relay] of [["A", a], ["B", b], ["C", c]] as const) {
        assert.equal(
          await metric(relay, "moq_relay_upstream_subscriptions"),
          1,
          `${name}: one upstream subscription`,
        );
      }
      subscriber.close();
    } finally {
      pub.close();
      viewer.close();
    }
  },
);
