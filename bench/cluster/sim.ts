/**
 * `deno task cluster-sim`: a cluster of real relay processes on loopback in the recommended shape
 * (a full mesh of core relays, every edge dual-homed to two cores), default QUIC settings:
 *
 * - forming time (all processes spawned and every link connected), announce convergence (a
 *   broadcast published on one edge listed by every edge's `/announced/`);
 * - idle RSS per relay (core / edge) and an estimate per link;
 * - one broadcast to viewers on many edges: one upstream subscription per relay;
 * - kill -9 of a core carrying the track: the viewers' largest gap between group arrivals.
 *
 * Usage: `deno task cluster-sim [--sizes 10,30,100] [--cores 5] [--viewers 12] [--markdown]`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type ClusterKit,
  connect,
  makeKit,
  metric,
  payload,
  publish,
  readGroup,
  type RelayProcess,
  rssMiB,
  sleep,
  startNode,
  subscribe,
  waitConnected,
  writeGroup,
} from "../../testing/mod.ts";

/** Relays spawned at once (process start-up is CPU bound). */
const SPAWN_BATCH = 8;
/** Publisher cadence. */
const GROUP_INTERVAL_MS = 50;

/** One simulated size's figures. */
export interface SimResult {
  relays: number;
  cores: number;
  spawnMs: number;
  linksMs: number;
  convergeMs: number;
  coreRssMiB: number;
  edgeRssMiB: number;
  linkKiB: number;
  viewers: number;
  maxUpstreamPerRelay: number;
  killGapMs: number;
  /** Links to live peers closed as unresponsive after the kill (0 when no busy peer was mistaken for dead). */
  falseAlarms: number;
}

async function batched<T>(n: number, start: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += SPAWN_BATCH) {
    out.push(
      ...await Promise.all(Array.from({ length: Math.min(SPAWN_BATCH, n - i) }, (_, j) => start(i + j))),
    );
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

async function rss(relay: RelayProcess): Promise<number> {
  return (await rssMiB(relay.child.pid)) ?? 0;
}

async function announcedOn(relay: RelayProcess, path: string): Promise<boolean> {
  try {
    const res = await fetch(`${relay.httpUrl}/announced/`);
    return (await res.text()).split("\n").includes(path);
  } catch {
    return false;
  }
}

/** Run one cluster of `total` relays. */
export async function simulate(total: number, coreCount: number, viewerCount: number): Promise<SimResult> {
  const kit: ClusterKit = await makeKit();
  try {
    const t0 = Date.now();
    const cores: RelayProcess[] = [];
    for (let i = 0; i < coreCount; i++) {
      // Each core dials the cores started before it: a full mesh, each pair linked once.
      cores.push(await startNode(kit, { id: 1 + i, connect: cores.map((c) => c.port) }));
    }
    const edges = await batched(total - coreCount, (i) =>
      startNode(kit, {
        id: 1000 + i,
        connect: [cores[i % coreCount].port, cores[(i + 1) % coreCount].port],
      }));
    const spawnMs = Date.now() - t0;
    const tLinks = Date.now();
    await Promise.all([
      ...cores.map((c, i) => waitConnected(c, cores.slice(0, i).map((x) => x.port), 60_000)),
      ...edges.map((e, i) =>
        waitConnected(e, [cores[i % coreCount].port, cores[(i + 1) % coreCount].port], 60_000)
      ),
    ]);
    const linksMs = Date.now() - tLinks;
    await sleep(2_000); // settle before measuring memory
    const coreRss = await Promise.all(cores.map(rss));
    const edgeRss = await Promise.all(edges.map(rss));
    const coreLinks = coreCount - 1 + (2 * edges.length) / coreCount;
    const linkKiB = ((mean(coreRss) - mean(edgeRss)) * 1024) / Math.max(1, coreLinks - 2);

    // Convergence: one broadcast on the first edge, listed by every edge.
    const pubConn = await connect(edges[0].port, "");
    const pub = await publish(pubConn, "sim/x");
    const tAnnounce = Date.now();
    const pending = new Set(edges.slice(1));
    while (pending.size > 0 && Date.now() - tAnnounce < 30_000) {
      const seen = await Promise.all(
        [...pending].map(async (e) => [e, await announcedOn(e, "sim/x")] as const),
      );
      for (const [e, ok] of seen) if (ok) pending.delete(e);
      if (pending.size > 0) await sleep(20);
    }
    const convergeMs = Date.now() - tAnnounce;

    // Viewers on edges spread over the cluster.
    const step = Math.max(1, Math.floor((edges.length - 1) / viewerCount));
    const viewerEdges = edges.slice(1).filter((_, i) => i % step === 0).slice(0, viewerCount);
    const viewers = await Promise.all(viewerEdges.map((e) => connect(e.port, "")));
    const tracks = await Promise.all(viewers.map((v) => subscribe(v, "sim/x", "t")));
    const upstream = await pub.request();
    let written = 0;
    const writer = setInterval(() => writeGroup(upstream, [payload(200, written++)]), GROUP_INTERVAL_MS);
    const lastAt = new Array(tracks.length).fill(0);
    const gaps = new Array(tracks.length).fill(0);
    let measuring = false;
    const readers = tracks.map(async (t, i) => {
      for (;;) {
        const g = await readGroup(t, 15_000).catch(() => undefined);
        if (!g) return;
        const now = Date.now();
        if (measuring && lastAt[i] > 0) gaps[i] = Math.max(gaps[i], now - lastAt[i]);
        lastAt[i] = now;
      }
    });
    const tFirst = Date.now();
    while (lastAt.some((t) => t === 0) && Date.now() - tFirst < 20_000) await sleep(50);
    const ups = await Promise.all(
      [...cores, ...edges].map((r) => metric(r, "moq_relay_upstream_subscriptions")),
    );
    const maxUpstreamPerRelay = Math.max(...ups);

    // Kill a core that carries the track.
    const carrying = [];
    for (const c of cores) if (await metric(c, "moq_relay_upstream_subscriptions") > 0) carrying.push(c);
    measuring = true;
    let killGapMs = -1;
    let falseAlarms = 0;
    /** Links to `core` its peers ping: from later cores (they dialed it) and its edges. */
    const countLinks = (core: RelayProcess) =>
      coreCount - 1 - cores.indexOf(core) +
      edges.filter((_, i) => [i % coreCount, (i + 1) % coreCount].includes(cores.indexOf(core))).length;
    if (carrying.length > 0) {
      const victim = carrying[0];
      await sleep(500);
      const killedIso = new Date().toISOString();
      await victim.stop("SIGKILL");
      kit.relays.splice(kit.relays.indexOf(victim), 1);
      await sleep(3_000);
      killGapMs = Math.max(...gaps);
      // Links closed as unresponsive: those to the victim, plus any false alarm on a live peer.
      const linksToVictim = countLinks(victim);
      const closes = [...cores, ...edges].filter((r) => r !== victim)
        .reduce(
          (n, r) =>
            n +
            r.logs.filter((l) => l.slice(0, 24) >= killedIso && /cluster peer unresponsive/.test(l)).length,
          0,
        );
      falseAlarms = closes - linksToVictim;
    }
    clearInterval(writer);
    pubConn.close();
    await sleep(200);
    for (const v of viewers) v.close();
    await Promise.race([Promise.all(readers), sleep(1_000)]);
    return {
      relays: total,
      cores: coreCount,
      spawnMs,
      linksMs,
      convergeMs,
      coreRssMiB: mean(coreRss),
      edgeRssMiB: mean(edgeRss),
      linkKiB,
      viewers: viewers.length,
      maxUpstreamPerRelay,
      killGapMs,
      falseAlarms,
    };
  } finally {
    await Promise.all(kit.relays.map((r) => r.stop("SIGKILL")));
    await Deno.remove(kit.dir, { recursive: true }).catch(() => {});
  }
}

/** The results as a Markdown table. */
export function table(results: SimResult[]): string {
  const rows = [
    "| Relays (core + edge) | Spawn s | Links formed s | Announce convergence ms | Core RSS MiB | Edge RSS MiB | KiB/link | Viewers | Max upstream subs/relay | Kill-a-core gap ms | False alarms |",
    "| -------------------- | ------- | -------------- | ----------------------- | ------------ | ------------ | -------- | ------- | ----------------------- | ------------------ | ------------ |",
  ];
  for (const r of results) {
    rows.push(
      `| ${r.relays} (${r.cores} + ${r.relays - r.cores}) | ${(r.spawnMs / 1000).toFixed(1)} | ${
        (r.linksMs / 1000).toFixed(2)
      } | ${r.convergeMs} | ${r.coreRssMiB.toFixed(0)} | ${r.edgeRssMiB.toFixed(0)} | ${
        r.linkKiB.toFixed(0)
      } | ${r.viewers} | ${r.maxUpstreamPerRelay} | ${r.killGapMs} | ${r.falseAlarms} |`,
    );
  }
  return rows.join("\n");
}

/** `@moq/lite`'s console is silenced by testing/moq.ts: write straight to stdout. */
function out(line: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sizes: { type: "string", default: "10,30" },
      cores: { type: "string", default: "5" },
      viewers: { type: "string", default: "12" },
    },
  });
  const results: SimResult[] = [];
  for (const size of values.sizes.split(",").map(Number)) {
    const r = await simulate(size, Number(values.cores), Number(values.viewers));
    out(JSON.stringify(r));
    results.push(r);
  }
  out(table(results));
  Deno.exit(0);
}
