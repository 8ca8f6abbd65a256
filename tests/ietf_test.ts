/**
 * End-to-end tests of IETF moq-transport sessions with the real `@moq/net` 0.3.4 client over
 * WebSocket: a relay restricted to one draft at a time, publish and subscribe byte-exact, the
 * negotiated version asserted; bridging to and from `@moq/lite` 0.2.2 (moq-lite) sessions.
 */

import assert from "node:assert/strict";
import {
  connect,
  e2e,
  parseMetrics,
  publish,
  publishRequest,
  RawIetfPeer,
  readGroup,
  type RelayProcess,
  sampleValue,
  sleep,
  subscribe,
  within,
  writeGroup,
} from "../testing/mod.ts";

Reflect.deleteProperty(globalThis, "WebTransport");
const { Net } = await import("../testing/moq_net.ts");

type NetConnection = Awaited<ReturnType<typeof Net.Connection.connect>>;
type NetSubscriber = ReturnType<ReturnType<NetConnection["consume"]>["subscribe"]>;

/** Silence the client's console chatter (it logs every stream at debug/warn level). */
function quiet(): void {
  console.debug = () => {};
  console.warn = () => {};
  console.info = () => {};
}

async function netConnect(relay: RelayProcess): Promise<NetConnection> {
  quiet();
  const url = new URL(`http://127.0.0.1:${relay.port}/anon`);
  return await within(10_000, "@moq/net connect", Net.Connection.connect(url));
}

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

/** Publish `path` and answer the first request for a track with `groups` groups of frames. */
function netPublish(conn: NetConnection, path: string) {
  const broadcast = new Net.Broadcast.Producer();
  conn.publish(Net.Path.from(path), broadcast);
  return {
    broadcast,
    async serve(groups: Uint8Array[][]): Promise<string> {
      const req = await within(10_000, "track request", broadcast.requested());
      assert.ok(req, "the relay asked for a track");
      const track = req.accept();
      for (const frames of groups) {
        const g = track.appendGroup();
        for (const payload of frames) g.writeFrame({ payload, timestamp: Net.Time.Timestamp.now() });
        g.close();
        await sleep(30);
      }
      return req.name;
    },
  };
}

async function readNetGroup(track: NetSubscriber): Promise<{ sequence: number; frames: Uint8Array[] }> {
  return await within(
    10_000,
    "read a group",
    (async () => {
      const g = await track.recvGroup();
      assert.ok(g, "a group arrived");
      const frames: Uint8Array[] = [];
      for (;;) {
        const f = await g.readFrame();
        if (!f) break;
        frames.push(f.payload);
      }
      return { sequence: g.sequence, frames };
    })(),
  );
}

const GROUPS: Uint8Array[][] = [
  [bytes(10, 1), bytes(300, 2), bytes(0, 3)],
  [bytes(5000, 4)],
  [bytes(1, 5), bytes(70_000, 6)],
];

for (const draft of [14, 15, 16, 17, 18, 20]) {
  e2e(
    `moq-transport-${draft}: @moq/net publishes and subscribes byte-exact over WebSocket${
      draft === 14 ? " (legacy CLIENT_SETUP)" : ""
    }`,
    async (relay) => {
      const pubConn = await netConnect(relay);
      const subConn = await netConnect(relay);
      assert.equal(pubConn.version, `moq-transport-${draft}`);
      assert.equal(subConn.version, `moq-transport-${draft}`);
      const pub = netPublish(pubConn, "demo");
      await sleep(200); // the announcement reaches the relay
      const track = subConn.consume(Net.Path.from("demo")).subscribe("video");
      const served = pub.serve(GROUPS);
      const got = [];
      for (let i = 0; i < GROUPS.length; i++) got.push(await readNetGroup(track));
      assert.equal(await served, "video");
      for (let i = 0; i < GROUPS.length; i++) {
        assert.equal(
          got[i].frames.length,
          GROUPS[i].length,
          `group ${i} frame count: ${got.map((g) => `${g.sequence}:${g.frames.map((f) => f.length)}`)}`,
        );
        for (let f = 0; f < GROUPS[i].length; f++) {
          assert.deepEqual(got[i].frames[f], GROUPS[i][f], `group ${i} frame ${f} byte-exact`);
        }
      }
      assert.ok(relay.logs.some((l) => l.includes(`moq-transport-${draft}`)), "the relay logged the draft");
      pubConn.close();
      subConn.close();
    },
    { server: `version = ["moq-transport-${draft}"]` },
  );
}

e2e(
  "bridging: an IETF publisher reaches a moq-lite subscriber and an IETF subscriber with one upstream subscription",
  async (relay) => {
    const pubConn = await netConnect(relay);
    assert.equal(pubConn.version, "moq-transport-17");
    const pub = netPublish(pubConn, "bridge");
    await sleep(200);
    const liteConn = await connect(relay.port, "anon");
    const liteTrack = await subscribe(liteConn, "bridge", "video");
    const ietfConn = await netConnect(relay);
    const ietfTrack = ietfConn.consume(Net.Path.from("bridge")).subscribe("video");
    await sleep(200);
    const served = pub.serve(GROUPS);
    assert.equal(await served, "video");
    for (let i = 0; i < GROUPS.length; i++) {
      const lite = await readGroup(liteTrack);
      const ietf = await readNetGroup(ietfTrack);
      assert.ok(lite);
      assert.deepEqual(lite.frames, GROUPS[i], `lite group ${i} byte-exact`);
      assert.deepEqual(ietf.frames, GROUPS[i], `IETF group ${i} byte-exact`);
    }
    // Both viewers share the one upstream SUBSCRIBE; the sessions are labelled by version.
    const metrics = parseMetrics(await (await fetch(`${relay.internalUrl}/metrics`)).text());
    assert.equal(sampleValue(metrics, "moq_relay_upstream_subscriptions"), 1);
    assert.equal(
      sampleValue(metrics, "moq_relay_sessions", { transport: "websocket", version: "moq-transport-17" }),
      2,
    );
    pubConn.close();
    liteConn.close();
    ietfConn.close();
  },
  { server: `version = ["moq-transport-17", "moq-lite-02", "moq-lite-01"]`, internal: true },
);

e2e("bridging: a moq-lite publisher reaches an IETF subscriber byte-exact", async (relay) => {
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "lite-src");
  await sleep(200);
  const subConn = await netConnect(relay);
  assert.equal(subConn.version, "moq-transport-18");
  const track = subConn.consume(Net.Path.from("lite-src")).subscribe("audio");
  const upstream = await pub.request();
  assert.equal(upstream.name, "audio");
  for (const frames of GROUPS) {
    writeGroup(upstream, frames);
    await sleep(30);
  }
  for (let i = 0; i < GROUPS.length; i++) {
    const got = await readNetGroup(track);
    assert.deepEqual(got.frames, GROUPS[i], `group ${i} byte-exact`);
  }
  pubConn.close();
  subConn.close();
}, { server: `version = ["moq-transport-18", "moq-lite-02", "moq-lite-01"]` });

e2e(
  "default config: @moq/net negotiates moq-lite, preferred over the IETF drafts it also offers",
  async (relay) => {
    const conn = await netConnect(relay);
    assert.match(conn.version, /^moq-lite-0\d$/, "moq-lite wins when both are offered");
    conn.close();
  },
);

e2e(
  "bridging: a moq-lite viewer of an IETF publisher's several subgroups gets each as a group stream",
  async (relay) => {
    const pub = await RawIetfPeer.connect(relay.port, 18);
    const req = await pub.request(publishRequest(["multi"], "v", 1));
    assert.equal((await within(5_000, "PUBLISH_OK", req.next()))?.kind, "requestOk");
    const lite = await connect(relay.port, "anon");
    const track = await subscribe(lite, "multi", "v");
    await sleep(300);
    const t = (s: string) => new TextEncoder().encode(s);
    await pub.sendSubgroup(1, 0, [{ id: 0, payload: t("a") }, { id: 2, payload: t("c") }], 0);
    await sleep(50);
    await pub.sendSubgroup(1, 0, [{ id: 1, payload: t("b") }], 1);
    await sleep(50);
    await pub.sendSubgroup(1, 1, [{ id: 0, payload: t("d") }], 0);
    const got = [];
    for (let i = 0; i < 3; i++) {
      const g = await readGroup(track);
      assert.ok(g);
      got.push([g.sequence, g.frames.map((f) => new TextDecoder().decode(f))]);
    }
    // Object ids close up for moq-lite (docs/ietf.md §8.2); each subgroup is its own GROUP stream.
    assert.deepEqual(got, [[0, ["a", "c"]], [0, ["b"]], [1, ["d"]]]);
    pub.close();
    lite.close();
  },
  { server: `version = ["moq-transport-18", "moq-lite-02", "moq-lite-01"]` },
);
