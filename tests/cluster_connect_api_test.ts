/**
 * `[cluster] connect_api` (docs/relay.md §6.3) changing under a running relay: the peer list from
 * a watched file and from an HTTP service started by the test. Peers added and removed show in
 * `/nodes` and in the data flow; a broken list keeps the last good one; a changed cost or
 * credential redials; the HTTP source is polled with `?node=` and honours `max-age` and `ETag`.
 */

import assert from "node:assert/strict";
import type { NodeInfo } from "../cluster/mod.ts";
import {
  type ClusterKit,
  clusterPort,
  clusterTest,
  connect,
  eventually,
  nodes,
  payload,
  peerUrl,
  publish,
  readGroup,
  type RelayProcess,
  sleep,
  startNode,
  subscribe,
  watchAnnounced,
  writeGroup,
} from "../testing/mod.ts";

async function apiNodes(relay: RelayProcess): Promise<NodeInfo[]> {
  return (await nodes(relay)).filter((n) => n.source === "api");
}

/** Wait until the relay's list-sourced links are exactly `ports`, all connected. */
async function waitApiPeers(relay: RelayProcess, ports: number[]): Promise<void> {
  const want = ports.map(peerUrl).sort();
  await eventually(`connect_api peers ${want.join(", ")} connected`, async () => {
    const got = await apiNodes(relay);
    return JSON.stringify(got.map((n) => n.node).sort()) === JSON.stringify(want) &&
      got.every((n) => n.state === "connected");
  }, 15_000);
}

/** A publisher on `relay` at `path` that writes one group on request. */
async function publishOn(relay: RelayProcess, path: string) {
  const conn = await connect(relay.port, "");
  const pub = await publish(conn, path);
  return { conn, pub };
}

/** Subscribe through `viewerConn` and check one byte-exact group arrives. */
async function dataFlows(
  viewer: Awaited<ReturnType<typeof connect>>,
  source: Awaited<ReturnType<typeof publishOn>>,
  path: string,
  seed: number,
): Promise<void> {
  const track = await subscribe(viewer, path, "t");
  const upstream = await source.pub.request();
  const writer = setInterval(() => writeGroup(upstream, [payload(100, seed)]), 50);
  try {
    const got = await readGroup(track);
    assert.ok(got, `a group of ${path} arrived`);
    assert.deepEqual(got.frames[0], payload(100, seed), "byte-exact");
  } finally {
    clearInterval(writer);
  }
}

async function twoPeers(kit: ClusterKit) {
  const p = await startNode(kit, { id: 81 });
  const q = await startNode(kit, { id: 82 });
  const a = await publishOn(p, "api/p");
  const b = await publishOn(q, "api/q");
  return { p, q, a, b };
}

clusterTest(
  "connect_api from a watched file: peers added, removed, bad list keeps the last good",
  async (kit) => {
    const { p, q, a, b } = await twoPeers(kit);
    const file = `${kit.dir}/peers.json`;
    await Deno.writeTextFile(file, JSON.stringify([peerUrl(p.port)]));
    const r = await startNode(kit, { id: 83, cluster: [`connect_api = "${file}"`] });
    await waitApiPeers(r, [p.port]);
    const viewer = await connect(r.port, "");
    const events = await watchAnnounced(viewer, "");
    await eventually("P's broadcast reaches R", () => events.includes("+api/p"));
    await dataFlows(viewer, a, "api/p", 1);

    // Replace the file (rename over it, as deploy tools do): Q in, P out.
    await Deno.writeTextFile(`${file}.tmp`, JSON.stringify([peerUrl(q.port)]));
    await Deno.rename(`${file}.tmp`, file);
    await waitApiPeers(r, [q.port]);
    await eventually("Q's broadcast reaches R", () => events.includes("+api/q"));
    await eventually("P's broadcast leaves R", () => events.includes("-api/p"));
    await dataFlows(viewer, b, "api/q", 2);

    // A broken list: the last good one stays.
    await Deno.writeTextFile(file, `{"not": "a list"`);
    await r.waitForLog(/cannot use the peer list file; keeping the last good list/, 10_000);
    await sleep(500);
    await waitApiPeers(r, [q.port]);
    assert.ok(!events.includes("-api/q"), "Q's broadcast stayed");

    // Both, then none.
    await Deno.writeTextFile(file, JSON.stringify([peerUrl(p.port), peerUrl(q.port)]));
    await waitApiPeers(r, [p.port, q.port]);
    await Deno.writeTextFile(file, "[]");
    await waitApiPeers(r, []);
    await eventually("both broadcasts leave R", () => events.filter((e) => e.startsWith("-")).length >= 3);
    for (const c of [a.conn, b.conn]) c.close();
    await sleep(200);
    viewer.close();
  },
);

clusterTest(
  "connect_api over HTTP: ?node=, max-age polling, ETag, redial on a changed cost, outage keeps the list",
  async (kit) => {
    const { p, q, a, b } = await twoPeers(kit);
    let list: string[] = [peerUrl(p.port)];
    let failing = false;
    const requests: URL[] = [];
    let notModified = 0;
    const apiPort = clusterPort();
    const server = Deno.serve({ hostname: "127.0.0.1", port: apiPort, onListen: () => {} }, (req) => {
      const url = new URL(req.url);
      requests.push(url);
      if (failing) return new Response("down", { status: 503 });
      const body = JSON.stringify(list);
      const etag = `"${body.length}-${[...body].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)}"`;
      if (req.headers.get("if-none-match") === etag) {
        notModified++;
        return new Response(null, { status: 304, headers: { etag, "cache-control": "max-age=1" } });
      }
      return new Response(body, {
        headers: { "content-type": "application/json", etag, "cache-control": "max-age=1" },
      });
    });
    try {
      const rPort = clusterPort();
      const r = await startNode(kit, {
        port: rPort,
        id: 84,
        cluster: [`node = "${peerUrl(rPort)}"`, `connect_api = "http://127.0.0.1:${apiPort}/peers"`],
      });
      await waitApiPeers(r, [p.port]);
      assert.equal(
        requests[0].searchParams.get("node"),
        peerUrl(rPort),
        "?node= carries this relay's node URL",
      );
      const viewer = await connect(r.port, "");
      const events = await watchAnnounced(viewer, "");
      await eventually("P's broadcast reaches R", () => events.includes("+api/p"));
      await dataFlows(viewer, a, "api/p", 3);

      // Unchanged list: conditional polls about once a second (max-age=1), nothing redialed.
      const before = (await apiNodes(r))[0];
      await sleep(2_500);
      assert.ok(requests.length >= 2 && requests.length <= 6, `${requests.length} polls in ~3 s`);
      assert.ok(notModified >= 1, "later polls are conditional (304)");
      assert.equal((await apiNodes(r))[0].connected_since, before.connected_since, "no redial");

      // Q added; P's cost changes: P is redialed, its broadcast survives (same publisher).
      list = [`${peerUrl(p.port)}?cost=5`, peerUrl(q.port)];
      await waitApiPeers(r, [p.port, q.port]);
      await eventually("P redialed", async () => {
        const info = (await apiNodes(r)).find((n) => n.node === peerUrl(p.port));
        return info !== undefined && info.state === "connected" &&
          info.connected_since !== before.connected_since;
      });
      await eventually("Q's broadcast reaches R", () => events.includes("+api/q"));
      await dataFlows(viewer, b, "api/q", 4);

      // Outage: the last good list stays.
      failing = true;
      await r.waitForLog(/cannot use the peer list; keeping the last good one/, 10_000);
      await waitApiPeers(r, [p.port, q.port]);
      failing = false;

      // P removed: its link closes cleanly and its broadcast leaves R; Q's stays.
      list = [peerUrl(q.port)];
      await waitApiPeers(r, [q.port]);
      await eventually("P's broadcast leaves R", () => events.includes("-api/p"));
      assert.ok(!events.includes("-api/q"), "Q's broadcast stayed");
      for (const c of [a.conn, b.conn]) c.close();
      await sleep(200);
      viewer.close();
    } finally {
      await server.shutdown();
    }
  },
);
