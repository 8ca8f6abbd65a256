/**
 * Route choice in a cluster (docs/relay.md §6.2, §6.3): a link's `?cost=` outweighs the order in
 * which routes were learned, and equal routes through two core relays spread broadcasts over
 * both instead of funnelling everything through the first; an edge dual-homed to two cores does
 * not re-announce what it learned from one core to the other.
 */

import assert from "node:assert/strict";
import {
  clusterTest,
  connect,
  eventually,
  metric,
  payload,
  publish,
  readGroup,
  type RelayProcess,
  report,
  sleep,
  startCoresAndEdges,
  startNode,
  subscribe,
  waitConnected,
  watchAnnounced,
  writeGroup,
} from "../testing/mod.ts";

clusterTest(
  "route choice: the cheaper link carries the track, whichever route was learned first",
  async (kit) => {
    const a = await startNode(kit, { id: 91 });
    const b = await startNode(kit, { id: 92, connect: [a.port] });
    const d = await startNode(kit, { id: 94, connect: [a.port] });
    // C learns over B first (listed first), but B's link costs 10.
    const c = await startNode(kit, { id: 93, connect: [b.port, d.port], costs: { [b.port]: 10 } });
    await Promise.all([
      waitConnected(b, [a.port]),
      waitConnected(d, [a.port]),
      waitConnected(c, [b.port, d.port]),
    ]);
    const pubConn = await connect(a.port, "");
    const pub = await publish(pubConn, "cost/x");
    const viewer = await connect(c.port, "");
    const events = await watchAnnounced(viewer, "");
    await eventually("C sees the broadcast", () => events.includes("+cost/x"));
    await sleep(300); // both routes learned
    const track = await subscribe(viewer, "cost/x", "t");
    const upstream = await pub.request();
    writeGroup(upstream, [payload(50, 1)]);
    const got = await readGroup(track);
    assert.deepEqual(got?.frames, [payload(50, 1)]);
    assert.equal(
      await metric(d, "moq_relay_upstream_subscriptions"),
      1,
      "the unpriced link via D carries it",
    );
    assert.equal(await metric(b, "moq_relay_upstream_subscriptions"), 0, "the cost-10 link via B does not");
    assert.deepEqual(events, ["+cost/x"], "no flap");
    pubConn.close();
    await sleep(200);
    viewer.close();
  },
);

clusterTest("load spread: equal routes through two cores split the broadcasts between them", async (kit) => {
  const { cores: [k1, k2], edges: [e1, e2] } = await startCoresAndEdges(kit, [101, 102], [111, 112]);
  const COUNT = 12;
  const pubConn = await connect(e1.port, "");
  const pubs = [];
  for (let i = 0; i < COUNT; i++) pubs.push(await publish(pubConn, `spread/${i}`));
  const viewer = await connect(e2.port, "");
  const events = await watchAnnounced(viewer, "");
  // `@moq/lite` 0.2.2 announces the last broadcast of a burst only later: use those that arrived.
  await eventually(
    "most broadcasts reach E2",
    () => events.filter((e) => e.startsWith("+spread/")).length >= COUNT - 2,
  );
  await sleep(300);
  const arrived = events.filter((e) => e.startsWith("+spread/")).map((e) =>
    Number(e.slice("+spread/".length))
  );
  for (const i of arrived) {
    const track = await subscribe(viewer, `spread/${i}`, "t");
    const upstream = await pubs[i].request();
    writeGroup(upstream, [payload(20, i)]);
    assert.deepEqual((await readGroup(track))?.frames, [payload(20, i)], `spread/${i} flows`);
  }
  const viaK1 = await metric(k1, "moq_relay_upstream_subscriptions");
  const viaK2 = await metric(k2, "moq_relay_upstream_subscriptions");
  report(`load spread: ${viaK1} broadcasts via core 1, ${viaK2} via core 2`);
  assert.equal(viaK1 + viaK2, arrived.length, "one upstream subscription per track");
  assert.ok(viaK1 >= 2 && viaK2 >= 2, `both cores carry some (${viaK1} / ${viaK2})`);
  pubConn.close();
  await sleep(200);
  viewer.close();
});

clusterTest(
  "edges do not carry one core's broadcasts back to their other core (announces grow with N, not N²)",
  async (kit) => {
    const k1 = await startNode(kit, { id: 121 });
    const k2 = await startNode(kit, { id: 122, connect: [k1.port] });
    const edges: RelayProcess[] = [];
    for (let i = 0; i < 4; i++) {
      edges.push(await startNode(kit, { id: 131 + i, connect: [k1.port, k2.port] }));
    }
    await Promise.all([
      waitConnected(k2, [k1.port]),
      ...edges.map((e) => waitConnected(e, [k1.port, k2.port])),
    ]);
    const sent = (r: RelayProcess) => metric(r, "moq_relay_announcements_total", { role: "publisher" });
    const pubConn = await connect(edges[0].port, "");
    await publish(pubConn, "valley/x");
    const viewer = await connect(edges[3].port, "");
    const events = await watchAnnounced(viewer, "");
    await eventually("the last edge's viewer sees the broadcast", () => events.includes("+valley/x"));
    await sleep(500);
    assert.equal(await sent(edges[0]), 2, "the publisher's edge announces it to both of its cores");
    for (const e of edges.slice(1, 3)) {
      assert.equal(await sent(e), 0, `edge :${e.port} announces nothing it learned from a core to a core`);
    }
    pubConn.close();
    await sleep(200);
    viewer.close();
  },
);
