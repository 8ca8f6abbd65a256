import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { RelayStats } from "../relay/mod.ts";
import { createInternalHandler, type InternalContext } from "./internal.ts";
import {
  IMMUTABLE_CACHE_CONTROL,
  OPERATOR_SCRIPT_PATH,
  PAGE_CACHE_CONTROL,
  PUBLIC_SCRIPT_PATH,
} from "./console.ts";
import type { StatsSnapshot } from "./stats_json.ts";
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

Deno.test("internal: /stats.json reads the same counters as /metrics, with broadcasts and nodes", async () => {
  const failures = new Map<string, number>([["scope", 5]]);
  const node = { node: "https://relay-b.example/", origin_id: "200", connections: [] };
  await withInternal(async ({ base, stats, ctx }) => {
    const read = async () => {
      const res = await fetch(`${base}/stats.json`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(res.headers.get("cache-control"), "no-store");
      return await res.json() as StatsSnapshot;
    };
    const before = await read();
    assert.deepEqual(before.sessions, []);
    assert.equal(before.bytes_in, 0);
    assert.deepEqual(before.broadcasts, []);
    assert.equal(before.auth_failures.expired, 0, "every reason is listed, zeros included");

    stats.sessionOpened("webtransport", "moq-lite-04");
    stats.sessionOpened("websocket", "moq-lite-02");
    stats.bytesIn += 500;
    stats.bytesOut += 1500;
    stats.framesIn += 5;
    stats.framesOut += 15;
    stats.groupsDropped += 2;
    const source = new TestSource((track) => {
      track.ready();
      track.startGroup(0).append(encodeFrame(new Uint8Array(10)));
      track.countFrame(11);
    });
    const publication = ctx.origin.publish("anon/live", source);
    const handle = ctx.origin.acquireTrack("anon/live", "video", 0)!;
    handle.track.attach({ onGroup: () => {}, onClose: () => {} });

    const after = await read();
    const metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    assert.deepEqual(after.sessions, [
      { transport: "websocket", version: "moq-lite-02", count: 1 },
      { transport: "webtransport", version: "moq-lite-04", count: 1 },
    ]);
    assert.equal(after.bytes_in, sampleValue(metrics, "moq_relay_bytes_total", { role: "subscriber" }));
    assert.equal(after.bytes_out, sampleValue(metrics, "moq_relay_bytes_total", { role: "publisher" }));
    assert.equal(after.frames_out, 15);
    assert.equal(after.groups_dropped, sampleValue(metrics, "moq_relay_groups_dropped_total"));
    assert.equal(after.cache_bytes, sampleValue(metrics, "moq_relay_cache_bytes"));
    assert.equal(after.cache_capacity_bytes, sampleValue(metrics, "moq_relay_cache_capacity_bytes"));
    assert.equal(after.auth_failures.scope, 5);
    assert.deepEqual(after.broadcasts, [{ path: "anon/live", tracks: 1, subscribers: 1, bytes_in: 11 }]);
    assert.equal(after.broadcasts_total, 1);
    assert.deepEqual(after.nodes, [node]);
    assert.ok(after.time_ms >= before.time_ms);
    assert.equal(after.history, undefined, "history only when asked");
    const withHistory = await (await fetch(`${base}/stats.json?history`)).json() as StatsSnapshot;
    assert.deepEqual(withHistory.history, [], "no signal given: nothing recorded");
    handle.release();
    publication.end(false);
  }, { authFailures: () => failures, nodes: () => [node] });
});

Deno.test("internal: / is the operator console, its script is immutable and revalidates by ETag", async () => {
  await withInternal(async ({ base }) => {
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("cache-control"), PAGE_CACHE_CONTROL);
    const html = await page.text();
    assert.ok(html.includes(`src="${OPERATOR_SCRIPT_PATH}"`));
    const script = await fetch(`${base}${OPERATOR_SCRIPT_PATH}`);
    assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(script.headers.get("cache-control"), IMMUTABLE_CACHE_CONTROL);
    assert.match(await script.text(), /stats\.json/);
    const etag = script.headers.get("etag")!;
    const again = await fetch(`${base}${OPERATOR_SCRIPT_PATH}`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), "");
    const head = await fetch(`${base}/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    // The public console's script is not served here.
    const other = await fetch(`${base}${PUBLIC_SCRIPT_PATH}`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
  });
});

Deno.test("internal: /stats.json?history returns the traffic recorded while the relay lives", async () => {
  const stop = new AbortController();
  await withInternal(async ({ base, stats }) => {
    stats.bytesIn = 1000;
    await new Promise((r) => setTimeout(r, 1_200));
    const body = await (await fetch(`${base}/stats.json?history`)).json() as StatsSnapshot;
    const history = body.history ?? [];
    assert.ok(history.length >= 2, `samples recorded: ${history.length}`);
    assert.equal(history[0].bytes_in, 0, "the first sample, taken at start");
    assert.equal(history.at(-1)!.bytes_in, 1000);
    assert.ok(history[0].time_ms < history.at(-1)!.time_ms);
  }, { signal: stop.signal });
  stop.abort();
});
