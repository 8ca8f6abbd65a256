/**
 * Cluster scenarios against real relay processes on loopback (docs/relay.md §6): relays
 * dial each other over WebTransport (`http://` peers pinned by `/certificate.sha256`) with a
 * shared cluster credential; clients are the real `@moq/lite` 0.2.2 over WebSocket.
 *
 * - a chain A←B←C: byte-exact delivery, one track request for viewers on B and C, clean ends
 *   and republishing;
 * - a full mesh grown by gossip from one seed: no loops or echo, shortest route, forged
 *   advertisements ignored, `.internal` invisible, withdrawal when the publisher's relay dies,
 *   departed gossip peers forgotten;
 * - a diamond: kill the relay carrying the route, the viewer recovers over the other link;
 * - a peer that refuses our credential is backed off, `/nodes` shows why;
 * - restart: peers reconnect, the origin id is stable;
 * - latency through 1, 2 and 3 relays (printed, not asserted).
 *
 * Relays run with a 3 s QUIC idle timeout (1 s keep-alive) so a killed relay is noticed quickly.
 */

import assert from "node:assert/strict";
import { gossipDialer } from "../cluster/mod.ts";
import {
  type ClusterKit,
  clusterPort,
  clusterTest as clusterTestWith,
  connect,
  eventually,
  makeKit,
  metric,
  nodes,
  payload,
  peerUrl,
  publish,
  readGroup,
  report,
  sleep,
  startNode,
  startRelay,
  subscribe,
  waitConnected,
  watchAnnounced,
  within,
  writeGroup,
} from "../testing/mod.ts";

/** Relays here run with a 3 s QUIC idle timeout (1 s keep-alive). */
const SHORT_IDLE = `quic.idle_timeout = "3s"\nquic.keep_alive = "1s"`;

function clusterTest(name: string, fn: (kit: ClusterKit) => Promise<void>): void {
  clusterTestWith(name, fn, SHORT_IDLE);
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

clusterTest("chain A←B←C: byte-exact delivery, one track request for viewers on B and C", async (kit) => {
  const a = await startNode(kit, { id: 1 });
  const b = await startNode(kit, { id: 2, connect: [a.port] });
  const c = await startNode(kit, { id: 3, connect: [b.port] });
  await waitConnected(b, [a.port]);
  await waitConnected(c, [b.port]);

  const pubConn = await connect(a.port, "");
  const pub = await publish(pubConn, "chain/cam");
  const viewerC = await connect(c.port, "");
  const events = await watchAnnounced(viewerC, "");
  await eventually("C sees the broadcast", () => events.includes("+chain/cam"));
  const trackC = await subscribe(viewerC, "chain/cam", "video");
  const viewerB = await connect(b.port, "");
  const trackB = await subscribe(viewerB, "chain/cam", "video");
  const upstream = await pub.request();
  await sleep(300); // both viewers' subscriptions settle before the publisher writes
  const sent: Uint8Array[][] = [];
  for (let g = 0; g < 4; g++) {
    const frames = [0, 1, 2].map((f) => payload(100 + g * 3000 + f * 5000, g * 10 + f));
    sent.push(frames);
    writeGroup(upstream, frames);
    await sleep(20);
  }
  for (const [name, track] of [["C", trackC], ["B", trackB]] as const) {
    for (let g = 0; g < 4; g++) {
      const got = await readGroup(track);
      assert.ok(got, `${name}: group ${g} arrived`);
      assert.equal(got.sequence, g);
      assert.equal(got.frames.length, 3);
      for (let f = 0; f < 3; f++) {
        assert.deepEqual(got.frames[f], sent[g][f], `${name}: group ${g} frame ${f} byte-exact`);
      }
    }
  }
  assert.equal(pub.requests.length, 1, "the publisher saw exactly one track request");
  assert.equal(
    await metric(b, "moq_relay_upstream_subscriptions"),
    1,
    "B: one upstream for its viewer and C",
  );
  assert.equal(await metric(c, "moq_relay_upstream_subscriptions"), 1, "C: one upstream");
  assert.deepEqual(events, ["+chain/cam"], "C's viewer saw one active and no echo");
  // A clean unannounce on A is gone from C promptly (no linger); republishing the same path is
  // routable on C each time.
  let current = pub;
  for (let round = 1; round <= 3; round++) {
    current.broadcast.close();
    await eventually(
      `C sees end #${round}`,
      () => events.filter((e) => e === "-chain/cam").length === round,
      3_000,
    );
    current = await publish(pubConn, "chain/cam");
    await eventually(
      `C sees active #${round + 1}`,
      () => events.filter((e) => e === "+chain/cam").length === round + 1,
    );
    const again = await subscribe(viewerC, "chain/cam", "video");
    writeGroup(await current.request(), [payload(64, round)]);
    assert.deepEqual((await readGroup(again))?.frames[0], payload(64, round), `republish #${round} routable`);
    again.close();
  }
  for (const conn of [pubConn, viewerB, viewerC]) conn.close();
});

clusterTest(
  "full mesh from one seed via gossip: no loops, shortest route, withdrawal, forgetting",
  async (kit) => {
    const seed = await startNode(kit, { id: 10, mesh: true });
    const b = await startNode(kit, { id: 11, mesh: true, connect: [seed.port] });
    const c = await startNode(kit, { id: 12, mesh: true, connect: [seed.port] });
    // B and C find each other through the seed's gossip; the side gossipDialer picks dials.
    const [low, high] = gossipDialer(peerUrl(b.port), peerUrl(c.port)) === peerUrl(b.port) ? [b, c] : [c, b];
    await waitConnected(low, [seed.port, high.port]);
    const lowNodes = await nodes(low);
    assert.equal(lowNodes.find((n) => n.node === peerUrl(high.port))?.source, "gossip");
    assert.equal(lowNodes.find((n) => n.node === peerUrl(high.port))?.origin_id, high === b ? "11" : "12");
    // The other side leaves the link to the dialer; the seed dials nobody (both dialed it).
    assert.ok(!(await nodes(high)).some((n) => n.node === peerUrl(low.port) && n.direction === "outbound"));
    assert.ok((await nodes(seed)).every((n) => n.direction === null), "the seed only lists advertised nodes");

    // Nobody without the cluster credential can forge a gossip advertisement.
    const forger = await connect(seed.port, "");
    const forgedNode = "http://127.0.0.1:9/";
    await publish(forger, `.internal/origins/${forgedNode}`);

    const pubConn = await connect(high.port, "");
    const pub = await publish(pubConn, "mesh/x");
    const viewers = await Promise.all([seed, low, high].map((r) => connect(r.port, "")));
    const events = await Promise.all(viewers.map((v) => watchAnnounced(v, "")));
    await eventually("every node sees mesh/x", () => events.every((e) => e.includes("+mesh/x")));
    const counts = await Promise.all([seed, low, high].map((r) => metric(r, "moq_relay_broadcasts")));
    // Shortest route: the seed pulls straight from high, not through low.
    const track = await subscribe(viewers[0], "mesh/x", "t");
    const upstream = await pub.request();
    writeGroup(upstream, [payload(500, 7)]);
    assert.deepEqual((await readGroup(track))?.frames[0], payload(500, 7));
    assert.equal(await metric(low, "moq_relay_upstream_subscriptions"), 0, "no detour through low");
    await sleep(1_500);
    for (const e of events) assert.deepEqual(e, ["+mesh/x"], "one active each, no .internal paths, no flap");
    // mesh/x plus the three advertisements: the count stays put (no echo, no loop).
    assert.deepEqual(
      await Promise.all([seed, low, high].map((r) => metric(r, "moq_relay_broadcasts"))),
      counts,
    );
    assert.deepEqual(counts, [4, 4, 4]);
    for (const r of [seed, low, high]) {
      assert.ok(!(await nodes(r)).some((n) => n.node === forgedNode), "a forged advertisement is ignored");
      const listed = await (await fetch(`${r.httpUrl}/announced/`)).text();
      assert.equal(listed.trim(), "mesh/x", "anonymous /announced lists no .internal path");
    }

    // Kill the publisher's relay: the route is withdrawn everywhere (after the 5 s linger), and the
    // gossip link to it is forgotten rather than redialed.
    const killedAt = Date.now();
    await high.stop("SIGKILL");
    await eventually(
      "mesh/x withdrawn on seed and low",
      () => events[0].includes("-mesh/x") && events[1].includes("-mesh/x"),
      15_000,
    );
    const withdrawnMs = Date.now() - killedAt;
    await eventually(
      "low forgets high",
      async () => (await nodes(low)).every((n) => n.node !== peerUrl(high.port)),
    );
    report(
      `mesh: route withdrawn ${withdrawnMs} ms after the kill (the accepting seed notices within the 2 s cluster-link idle timeout, then 5 s linger)`,
    );
    assert.deepEqual(events[0], ["+mesh/x", "-mesh/x"]);
    assert.deepEqual(events[1], ["+mesh/x", "-mesh/x"]);
    for (const conn of [...viewers, pubConn, forger]) {
      conn.close();
    }
  },
);

clusterTest(
  "diamond: kill the relay carrying the route; the viewer recovers over the redundant link",
  async (kit) => {
    const a = await startNode(kit, { id: 21 });
    const b = await startNode(kit, { id: 22, connect: [a.port] });
    const d = await startNode(kit, { id: 24, connect: [a.port] });
    const c = await startNode(kit, { id: 23, connect: [b.port, d.port] });
    await Promise.all([
      waitConnected(b, [a.port]),
      waitConnected(d, [a.port]),
      waitConnected(c, [b.port, d.port]),
    ]);

    const pubConn = await connect(a.port, "");
    const pub = await publish(pubConn, "diamond/x");
    const viewer = await connect(c.port, "");
    const events = await watchAnnounced(viewer, "");
    await eventually("C sees the broadcast", () => events.includes("+diamond/x"));
    const track = await subscribe(viewer, "diamond/x", "t");
    const upstream = await pub.request();
    let written = 0;
    const writeErrors: string[] = [];
    const writer = setInterval(() => {
      try {
        writeGroup(upstream, [payload(200, written++)]);
      } catch (err) {
        writeErrors.push(String(err));
      }
    }, 50);
    try {
      const first = await readGroup(track);
      assert.ok(first, "the first group arrived");
      // Both routes are two hops long; the one learned first carries the subscription.
      const viaB = await metric(b, "moq_relay_upstream_subscriptions");
      const viaD = await metric(d, "moq_relay_upstream_subscriptions");
      assert.equal(viaB + viaD, 1, "exactly one of B and D carries the track");
      const [victim, survivor] = viaB > 0 ? [b, d] : [d, b];
      await victim.stop("SIGKILL");
      const killedAt = Date.now();
      const writtenAtKill = written;
      let last = first.sequence;
      for (;;) {
        const got = await readGroup(track, 10_000);
        assert.ok(got, "the viewer's subscription survived");
        assert.ok(got.sequence > last, `groups keep increasing (${got.sequence} after ${last})`);
        assert.deepEqual(got.frames[0], payload(200, got.sequence), "byte-exact after the switch");
        last = got.sequence;
        if (got.sequence > writtenAtKill + 2) break;
      }
      const recoveryMs = Date.now() - killedAt;
      report(
        `diamond: viewer on C recovered ${recoveryMs} ms after the kill (cluster-link liveness pings; the QUIC idle timeout is 3 s)`,
      );
      assert.ok(recoveryMs < 8_000, `recovered within a few seconds (${recoveryMs} ms)`);
      assert.equal(
        await metric(survivor, "moq_relay_upstream_subscriptions"),
        1,
        "the other route took over",
      );
      assert.deepEqual(events, ["+diamond/x"], "no ended/active flap for the viewer");
      assert.equal(pub.requests.length, 1, "the publisher was not disturbed");
      assert.deepEqual(writeErrors, [], "the publisher's track stayed open");
    } finally {
      clearInterval(writer);
    }
    // Publisher first, then let the last groups land: `@moq/qmux` 0.0.6 throws an uncaught error
    // when a group stream arrives at a connection it already closed.
    pubConn.close();
    await sleep(200);
    viewer.close();
  },
);

clusterTest("a peer that refuses our credential is backed off; /nodes shows state and error", async (kit) => {
  // A relay with a key of its own and no public access: our cluster token means nothing to it.
  const other = await makeKit();
  try {
    const strict = await startRelay({
      port: clusterPort(),
      auth: other.auth.replace(/\npublic = ""/, ""),
    });
    kit.relays.push(strict);
    const dialer = await startNode(kit, { connect: [strict.port] });
    const url = peerUrl(strict.port);
    await eventually(
      "the first refusal",
      async () => (await nodes(dialer)).some((n) => n.state === "rejected"),
    );
    await sleep(6_000);
    const [info] = (await nodes(dialer)).filter((n) => n.node === url);
    assert.ok(info, "the peer is listed");
    assert.ok(["rejected", "connecting"].includes(info.state), `state ${info.state}`);
    assert.match(info.last_error ?? "", /HTTP 401/);
    // 1 s, 2 s, 4 s … with 50–100 % jitter: 3 or 4 attempts in ~6 s (not one every second).
    assert.ok(info.attempts >= 3 && info.attempts <= 5, `${info.attempts} attempts`);
    const dials = dialer.logs.filter((l) => /dialing cluster peer/.test(l)).map((l) =>
      Date.parse(l.split(/\s+/)[0])
    );
    const gaps = dials.slice(1).map((t, i) => t - dials[i]);
    for (let i = 1; i < gaps.length; i++) {
      assert.ok(gaps[i] >= gaps[i - 1] - 50, `the delay grows: ${gaps.join(", ")} ms`);
    }
    const spanS = ((Date.now() - dials[0]) / 1000).toFixed(1);
    report(`refusing peer: ${info.attempts} attempts in ${spanS} s, gaps ${gaps.join(", ")} ms`);
    assert.ok(
      info.state !== "rejected" || Date.parse(info.retry_at ?? "") > Date.now(),
      "a retry is scheduled",
    );
  } finally {
    await Deno.remove(other.dir, { recursive: true }).catch(() => {});
  }
});

clusterTest(
  "restart a relay: its peers reconnect and routes work again; its origin id is stable",
  async (kit) => {
    const a = await startNode(kit, {}); // no cluster.id: derived from the node identity
    const b = await startNode(kit, { id: 32, connect: [a.port] });
    const jwt = (await Deno.readTextFile(kit.tokenFile)).trim();
    const c = await startNode(kit, { id: 33, connect: [a.port], inlineJwt: jwt });
    await Promise.all([waitConnected(b, [a.port]), waitConnected(c, [a.port])]);
    assert.ok(!JSON.stringify(await nodes(c)).includes(jwt), "/nodes never shows the inline token");
    const idBefore = /origin_id=(\d+)/.exec(await a.waitForLog(/cluster initialized/))?.[1];
    assert.ok(idBefore);

    await a.stop("SIGKILL");
    const restartedAt = Date.now();
    const a2 = await startNode(kit, { port: a.port });
    const idAfter = /origin_id=(\d+)/.exec(await a2.waitForLog(/cluster initialized/))?.[1];
    assert.equal(idAfter, idBefore, "the same origin id after a restart");
    await eventually("B and C reconnected", async () => {
      const all = [...await nodes(b), ...await nodes(c)];
      return all.length === 2 && all.every((n) => n.state === "connected" && n.attempts >= 2);
    }, 15_000);
    assert.ok(!c.logs.some((l) => l.includes(jwt)), "the inline token is never logged");
    report(`restart: both peers reconnected ${Date.now() - restartedAt} ms after the restart`);

    // B → restarted A → C.
    const pubConn = await connect(b.port, "");
    const pub = await publish(pubConn, "restart/x");
    const viewer = await connect(c.port, "");
    const events = await watchAnnounced(viewer, "");
    await eventually("C sees B's broadcast through A", () => events.includes("+restart/x"));
    const track = await subscribe(viewer, "restart/x", "t");
    writeGroup(await pub.request(), [payload(1234, 5)]);
    assert.deepEqual((await readGroup(track))?.frames[0], payload(1234, 5));
    viewer.close();
    pubConn.close();
  },
);

clusterTest("latency: publish → receive through 1 relay and a 3-relay chain (p50 printed)", async (kit) => {
  const a = await startNode(kit, { id: 41 });
  const b = await startNode(kit, { id: 42, connect: [a.port] });
  const c = await startNode(kit, { id: 43, connect: [b.port] });
  await Promise.all([waitConnected(b, [a.port]), waitConnected(c, [b.port])]);
  const pubConn = await connect(a.port, "");
  const pub = await publish(pubConn, "lat/x");
  const relays = [a, b, c];
  const conns = await Promise.all(relays.map((r) => connect(r.port, "")));
  for (const conn of conns) {
    const events = await watchAnnounced(conn, "");
    await eventually("announced", () => events.includes("+lat/x"));
  }
  const tracks = await Promise.all(conns.map((conn) => subscribe(conn, "lat/x", "t")));
  const upstream = await pub.request();
  const FRAMES = 50;
  const stamped = (i: number) => {
    const frame = payload(1024, i);
    new DataView(frame.buffer).setFloat64(0, performance.now());
    return frame;
  };
  // Warm up until every viewer receives, then measure FRAMES groups of one 1 KiB frame each.
  let seq = 0;
  for (;;) {
    writeGroup(upstream, [stamped(seq++)]);
    await sleep(20);
    const firsts = await Promise.all(tracks.map((t) => readGroup(t, 5_000)));
    if (firsts.every((g) => g !== undefined)) break;
  }
  const start = seq;
  const latencies: number[][] = tracks.map(() => []);
  const readers = tracks.map(async (track, i) => {
    while (latencies[i].length < FRAMES) {
      const got = await readGroup(track, 5_000);
      if (!got) return;
      if (got.sequence < start) continue;
      const sentAt = new DataView(got.frames[0].buffer, got.frames[0].byteOffset).getFloat64(0);
      latencies[i].push(performance.now() - sentAt);
    }
  });
  for (let i = 0; i < FRAMES; i++) {
    writeGroup(upstream, [stamped(seq++)]);
    await sleep(20);
  }
  await within(10_000, "all frames measured", Promise.all(readers));
  const p = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.floor(q * (xs.length - 1))];
  const names = ["1 relay (A)", "2 relays (A→B)", "3 relays (A→B→C)"];
  for (let i = 0; i < 3; i++) {
    assert.equal(latencies[i].length, FRAMES, `${names[i]}: every frame arrived`);
    report(
      `latency ${names[i]}: p50 ${p(latencies[i], 0.5).toFixed(2)} ms, p90 ${
        p(latencies[i], 0.9).toFixed(2)
      } ms` +
        ` (${FRAMES} frames of 1 KiB, WebSocket clients, WebTransport cluster links)`,
    );
  }
  for (const conn of [...conns, pubConn]) conn.close();
});
