import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { RelayStats } from "../relay/mod.ts";
import { createInternalHandler, type InternalContext } from "./internal.ts";
import {
  encodeFrame,
  parseMetrics,
  sampleValue,
  startServer,
  testOrigin,
  TestSource,
} from "../testing/mod.ts";

async function withInternal(
  fn: (
    env: { base: string; stats: RelayStats; ctx: InternalContext; setDraining(v: boolean): void },
  ) => Promise<void>,
  extra: Partial<InternalContext> = {},
): Promise<void> {
  const origin = testOrigin();
  const stats = new RelayStats();
  let draining = false;
  const ctx: InternalContext = { origin, stats, logger: silentLogger(), draining: () => draining, ...extra };
  const server = await startServer(createInternalHandler(ctx));
  try {
    await fn({ base: server.base, stats, ctx, setDraining: (v) => void (draining = v) });
  } finally {
    await server.close();
    origin.close();
  }
}

Deno.test("internal: /health is ok, 503 while draining; unknown paths 404", async () => {
  await withInternal(async ({ base, setDraining }) => {
    const ok = await fetch(`${base}/health`);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "ok\n");
    setDraining(true);
    const drain = await fetch(`${base}/health`);
    assert.equal(drain.status, 503);
    assert.equal(await drain.text(), "draining\n");
    const missing = await fetch(`${base}/announced`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /\/metrics/);
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  });
});

Deno.test("internal: /nodes is an empty list without a cluster, else the cluster view", async () => {
  await withInternal(async ({ base }) => {
    const res = await fetch(`${base}/nodes`);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(await res.json(), { nodes: [] });
  });
  const node = { node: "https://relay-b.example/", origin_id: "200", announced: null, connections: [] };
  await withInternal(async ({ base }) => {
    assert.deepEqual(await (await fetch(`${base}/nodes`)).json(), { nodes: [node] });
  }, { nodes: () => [node] });
});

Deno.test("internal: /metrics validates and its counters follow RelayStats and the origin", async () => {
  const failures = new Map<string, number>();
  await withInternal(async ({ base, stats, ctx }) => {
    const read = async () => {
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      return parseMetrics(await res.text());
    };
    const before = await read();
    assert.equal(sampleValue(before, "moq_relay_bytes_total", { role: "publisher" }), 0);
    assert.equal(sampleValue(before, "moq_relay_broadcasts"), 0);
    assert.equal(sampleValue(before, "moq_relay_auth_failures_total", { reason: "expired" }), 0);

    stats.sessionOpened("webtransport", "lite-04");
    stats.bytesOut += 1234;
    stats.bytesIn += 99;
    stats.framesOut += 7;
    stats.groupsIn += 2;
    stats.groupsDropped += 3;
    stats.connectionErrors += 1;
    stats.subscriptionsOpened += 4;
    failures.set("expired", 2);
    const source = new TestSource((track) => {
      track.ready();
      track.startGroup(0).append(encodeFrame(new Uint8Array(10)));
    });
    const publication = ctx.origin.publish("anon/live", source);
    const handle = ctx.origin.acquireTrack("anon/live", "video", 0)!;

    const after = await read();
    assert.equal(sampleValue(after, "moq_relay_bytes_total", { tier: "", role: "publisher" }), 1234);
    assert.equal(sampleValue(after, "moq_relay_bytes_total", { tier: "", role: "subscriber" }), 99);
    assert.equal(sampleValue(after, "moq_relay_frames_total", { role: "publisher" }), 7);
    assert.equal(sampleValue(after, "moq_relay_groups_total", { role: "subscriber" }), 2);
    assert.equal(sampleValue(after, "moq_relay_groups_dropped_total"), 3);
    assert.equal(sampleValue(after, "moq_relay_connection_errors_total"), 1);
    assert.equal(sampleValue(after, "moq_relay_subscriptions_opened_total", { role: "publisher" }), 4);
    assert.equal(
      sampleValue(after, "moq_relay_sessions", { transport: "webtransport", version: "lite-04" }),
      1,
    );
    assert.equal(sampleValue(after, "moq_relay_auth_failures_total", { reason: "expired" }), 2);
    assert.equal(sampleValue(after, "moq_relay_broadcasts"), 1);
    assert.equal(sampleValue(after, "moq_relay_tracks"), 1);
    assert.equal(sampleValue(after, "moq_relay_upstream_subscriptions"), 1);
    assert.equal(sampleValue(after, "moq_relay_cache_groups"), 1);
    assert.equal(sampleValue(after, "moq_relay_cache_bytes"), 11);

    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    handle.release();
    publication.end(false);
  }, { authFailures: () => failures });
});

Deno.test("internal: /nodes never serves a credential; /health is 503 when a listener died", async () => {
  const leaked = "cannot dial wss://peer/?jwt=eyJhbGciOi.eyJyb290Ijo.c2ln: connection refused";
  let unhealthy: string | undefined;
  await withInternal(async ({ base }) => {
    const body = await (await fetch(`${base}/nodes`)).text();
    assert.ok(!body.includes("eyJ"), body);
    assert.match(body, /jwt=\[redacted\]: connection refused/);
    unhealthy = "quic listener down";
    const res = await fetch(`${base}/health`);
    assert.equal(res.status, 503);
    assert.equal(await res.text(), "unhealthy: quic listener down\n");
  }, { nodes: () => [{ node: "wss://peer/", last_error: leaked }], unhealthy: () => unhealthy });
});
