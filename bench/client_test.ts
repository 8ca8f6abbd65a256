import assert from "node:assert/strict";
import { BenchPublisher, BenchSubscriber, connect, type Target } from "./client.ts";
import { type ServerProcess, startBenchRelay, startRawQuic, startRawTcp, startRawWs } from "./procs.ts";
import { eventually, freePort } from "../testing/mod.ts";

const PATH = "anon/test";

/** Publish one group of three frames to two subscribers through `server` and check what arrives. */
async function roundTrip(server: ServerProcess, target: Target): Promise<void> {
  const pub = new BenchPublisher(await connect(target), target.mode, PATH);
  const subs: BenchSubscriber[] = [];
  try {
    await pub.announced;
    for (let i = 0; i < 2; i++) {
      const sub = new BenchSubscriber(await connect(target), {
        mode: target.mode,
        path: PATH,
        track: "video",
      });
      sub.latencies = [];
      await sub.subscribe();
      subs.push(sub);
    }
    await pub.subscribed();
    assert.equal(pub.session.protocol, `moq-lite-${target.lite ?? "04"}`);
    const send = await pub.openGroup(5);
    assert.ok(send, "publisher has a subscription");
    for (const size of [100, 40_000, 8]) await pub.writeFrame(send, size);
    await send.close();
    await eventually("both subscribers got the group", () => subs.every((s) => s.groupsComplete === 1));
    for (const s of subs) {
      assert.equal(s.frames, 3);
      assert.equal(s.lastEndedSequence, 5);
      assert.equal(s.errors, 0);
      assert.equal(s.latencies!.length, 3);
      assert.ok(s.latencies!.every((l) => l >= 0 && l < 5_000), `latencies ${s.latencies}`);
    }
  } finally {
    pub.close();
    for (const s of subs) s.close();
    await Promise.all([pub.session.closed, ...subs.map((s) => s.session.closed)]);
    await server.stop();
  }
}

Deno.test("bench client: relay over QUIC delivers a group to every subscriber", async () => {
  const relay = await startBenchRelay();
  await roundTrip(relay, { transport: "quic", port: relay.quicPort, pin: relay.pin, mode: "relay" });
});

Deno.test("bench client: relay over WebSocket delivers a group to every subscriber", async () => {
  const relay = await startBenchRelay();
  await roundTrip(relay, { transport: "websocket", port: relay.wsPort, mode: "relay" });
});

Deno.test("raw QUIC baseline forwards the publisher's bytes to every subscriber", async () => {
  const raw = await startRawQuic();
  await roundTrip(raw, { transport: "quic", port: raw.quicPort, pin: raw.pin, mode: "raw" });
});

Deno.test("raw WebSocket baseline forwards the publisher's bytes to every subscriber", async () => {
  const raw = await startRawWs();
  await roundTrip(raw, { transport: "websocket", port: raw.wsPort, mode: "raw" });
});

Deno.test("bench client lite-05: relay over QUIC delivers a group to every subscriber", async () => {
  const relay = await startBenchRelay();
  await roundTrip(relay, {
    transport: "quic",
    port: relay.quicPort,
    pin: relay.pin,
    mode: "relay",
    lite: "05",
  });
});

Deno.test("bench client lite-05: relay over WebSocket delivers a group to every subscriber", async () => {
  const relay = await startBenchRelay();
  await roundTrip(relay, { transport: "websocket", port: relay.wsPort, mode: "relay", lite: "05" });
});

Deno.test("bench client lite-05: raw baselines accept moq-lite-05 and forward its frames", async () => {
  const quic = await startRawQuic();
  await roundTrip(quic, { transport: "quic", port: quic.quicPort, pin: quic.pin, mode: "raw", lite: "05" });
  const ws = await startRawWs();
  await roundTrip(ws, { transport: "websocket", port: ws.wsPort, mode: "raw", lite: "05" });
});

Deno.test("bench client: relay over TCP (qmux-01 records) delivers a group to every subscriber, 04 and 05", async () => {
  for (const lite of ["04", "05"] as const) {
    const relay = await startBenchRelay({ tcpPort: freePort() });
    await roundTrip(relay, { transport: "tcp", port: relay.tcpPort, mode: "relay", lite });
  }
});

Deno.test("raw TCP baseline forwards the publisher's records to every subscriber, 04 and 05", async () => {
  for (const lite of ["04", "05"] as const) {
    const raw = await startRawTcp();
    await roundTrip(raw, { transport: "tcp", port: raw.tcpPort, mode: "raw", lite });
  }
});
