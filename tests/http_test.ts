/**
 * End-to-end tests of the relay's HTTP side against a real relay process (docs/relay.md §4):
 * `/fetch`, `/announced`, `/certificate.sha256`, CORS/HEAD/landing page on the web listener, and
 * `/health`, `/nodes`, `/metrics` on the internal listener, with traffic driven by the real
 * `@moq/lite` 0.2.2 client over WebSocket.
 */

import assert from "node:assert/strict";
import {
  concat,
  connect,
  e2e,
  type ParsedFamily,
  parseMetrics,
  payload,
  publish,
  RawWebSocket,
  readGroup,
  type RelayProcess,
  sampleValue,
  sleep,
  subscribe,
  within,
  writeGroup,
} from "../testing/mod.ts";
import { varintSize } from "../codec/mod.ts";

/** A finished HTTP exchange: status, headers and the whole body as bytes. */
interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  text: string;
}

/** Fetch `url` and read the whole body (so no response body is left open). */
async function get(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await within(15_000, `${init.method ?? "GET"} ${url}`, fetch(url, init));
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: new TextDecoder().decode(body) };
}

/** Byte-exact comparison that reports the first difference (cheap even for large bodies). */
function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const at = actual.findIndex((b, i) => b !== expected[i]);
  assert.equal(at, -1, `${what}: first differing byte at offset ${at}`);
}

/** Read and strictly parse the internal `/metrics` page. */
async function metrics(relay: RelayProcess): Promise<Map<string, ParsedFamily>> {
  const res = await get(`${relay.internalUrl}/metrics`);
  assert.equal(res.status, 200);
  return parseMetrics(res.text);
}

/** Poll `/metrics` until `name{labels}` reaches `target`, then check it stays exactly there. */
async function expectMetric(
  relay: RelayProcess,
  name: string,
  labels: Record<string, string>,
  target: number,
): Promise<void> {
  let last = NaN;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    last = sampleValue(await metrics(relay), name, labels);
    if (last >= target) break;
    await sleep(50);
  }
  await sleep(150);
  last = sampleValue(await metrics(relay), name, labels);
  assert.equal(last, target, `${name}${JSON.stringify(labels)}`);
}

/** GET `url` until its body equals `want` (or 10 s pass); returns the last body. */
async function pollText(url: string, want: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await get(url);
    assert.equal(res.status, 200, url);
    if (res.text === want || Date.now() > deadline) return res.text;
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// /fetch

e2e(
  "/fetch: latest group, ?group=N, unknown group, bad requests, outside the public prefix",
  async (relay) => {
    const pubConn = await connect(relay.port, "anon");
    const subConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "demo");
    // A subscriber keeps the track live so its groups stay cached.
    const track = await subscribe(subConn, "demo", "video");
    const upstream = await pub.request();
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 3; g++) {
      // Sizes straddle the 1-, 2- and 4-byte varint size prefixes.
      const frames = [payload(10 + g, g * 3), payload(5_000 + g, g * 3 + 1), payload(40_000 + g, g * 3 + 2)];
      sent.push(frames);
      writeGroup(upstream, frames);
      const got = await readGroup(track);
      assert.equal(got?.sequence, g);
    }
    const base = `${relay.httpUrl}/fetch/anon/demo/video`;

    const latest = await get(base);
    assert.equal(latest.status, 200);
    assert.equal(latest.headers.get("x-moq-group"), "2");
    assert.equal(latest.headers.get("access-control-allow-origin"), "*");
    assert.equal(latest.headers.get("content-type"), null, "no Content-Type on /fetch bodies");
    assertBytes(latest.body, concat(sent[2]), "latest group, payloads concatenated byte-exact");

    const named = await get(`${base}?group=latest`);
    assert.equal(named.status, 200);
    assertBytes(named.body, concat(sent[2]), "body");

    for (const g of [0, 1]) {
      const res = await get(`${base}?group=${g}`);
      assert.equal(res.status, 200, `group ${g}`);
      assert.equal(res.headers.get("x-moq-group"), String(g));
      assertBytes(res.body, concat(sent[g]), `group ${g} byte-exact`);
    }

    const head = await get(`${base}?group=1`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("x-moq-group"), "1");
    assert.equal(head.body.length, 0);

    const unknown = await get(`${base}?group=99`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.text, /not found/);

    for (const bad of ["x", "-1", "1.5", ""]) {
      const res = await get(`${base}?group=${bad}`);
      assert.equal(res.status, 400, `?group=${bad}`);
      assert.match(res.text, /bad request/);
    }
    for (const short of ["/fetch", "/fetch/", "/fetch/anon", "/fetch/anon/"]) {
      const res = await get(`${relay.httpUrl}${short}`);
      assert.equal(res.status, 400, short);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
    }
    const outside = await get(`${relay.httpUrl}/fetch/private/demo/video`);
    assert.equal(outside.status, 401);
    assert.match(outside.text, /unauthorized/);

    subConn.close();
    pubConn.close();
  },
);

e2e(
  "/fetch: without a subscriber, subscribes upstream and returns the first group to arrive",
  async (relay) => {
    const pubConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "cold");
    const pending = get(`${relay.httpUrl}/fetch/anon/cold/audio`);
    const upstream = await pub.request();
    assert.equal(upstream.name, "audio", "the fetch asked the publisher for the track");
    const frames = [payload(1, 1), payload(70, 2), payload(20_000, 3)];
    writeGroup(upstream, frames);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-moq-group"), "0");
    assertBytes(res.body, concat(frames), "body");

    // A track the publisher ends (cleanly or with an error) before any group: 404, not a hang.
    const ends = [[2, "empty", undefined], [3, "refused", new Error("no such track")]] as const;
    for (const [n, name, end] of ends) {
      const waiting = get(`${relay.httpUrl}/fetch/anon/cold/${name}`);
      const requested = await pub.request(n);
      assert.equal(requested.name, name);
      requested.close(end);
      const ended = await waiting;
      assert.equal(ended.status, 404, name);
      assert.match(ended.text, /not found/);
    }
    pubConn.close();
  },
);

e2e("/fetch: waits for a broadcast that appears later (the 30 s lookup deadline is fixed)", async (relay) => {
  // `fetchTimeoutMs` is not configurable from relay.toml (server/start.ts does not pass it), so
  // the 504 path would take 30 s: test the waiting instead.
  const started = Date.now();
  const pending = get(`${relay.httpUrl}/fetch/anon/later/video`);
  let settled = false;
  pending.finally(() => (settled = true)).catch(() => {});
  await sleep(1_000);
  assert.equal(settled, false, "a broadcast not yet live is waited for, not answered 404");
  const pubConn = await connect(relay.port, "anon");
  const pub = await publish(pubConn, "later");
  const upstream = await pub.request();
  const frames = [payload(300, 9)];
  writeGroup(upstream, frames);
  const res = await pending;
  assert.equal(res.status, 200);
  assertBytes(res.body, concat(frames), "body");
  assert.ok(Date.now() - started >= 1_000);

  // A client that gives up while waiting does not disturb the relay.
  const abort = new AbortController();
  const gaveUp = fetch(`${relay.httpUrl}/fetch/anon/never/video`, { signal: abort.signal });
  await sleep(300);
  abort.abort();
  await assert.rejects(gaveUp);
  const health = await get(`${relay.httpUrl}/health`);
  assert.equal(health.status, 200);
  pubConn.close();
});

// ---------------------------------------------------------------------------------------------
// /announced

e2e(
  "/announced: live broadcasts relative to the prefix, updates on leave, ?limit pagination",
  async (relay) => {
    const url = `${relay.httpUrl}/announced/anon`;
    const empty = await get(url);
    assert.equal(empty.status, 200);
    assert.equal(empty.text, "");
    assert.equal(empty.headers.get("access-control-allow-origin"), "*");

    const connA = await connect(relay.port, "anon");
    const connB = await connect(relay.port, "anon");
    await publish(connA, "room/cam1");
    const b = await publish(connB, "alpha");
    let body = await pollText(url, "alpha\nroom/cam1");
    assert.equal(body, "alpha\nroom/cam1", "sorted, relative to the prefix, no trailing newline");

    const nested = await get(`${relay.httpUrl}/announced/anon/room`);
    assert.equal(nested.text, "cam1");
    const root = await get(`${relay.httpUrl}/announced`);
    assert.equal(root.status, 200);
    assert.equal(root.text, "anon/alpha\nanon/room/cam1");

    const page1 = await get(`${url}?limit=1`);
    assert.equal(page1.status, 200);
    assert.equal(page1.text, "alpha");
    const link = page1.headers.get("link");
    assert.ok(link, "a Link header points at the next page");
    const m = /^<([^>]+)>; rel="next"$/.exec(link);
    assert.ok(m, `Link header shape: ${link}`);
    const page2 = await get(`${relay.httpUrl}${m[1]}`);
    assert.equal(page2.text, "room/cam1");
    assert.equal(page2.headers.get("link"), null, "no next page after the last one");
    for (const bad of ["0", "x", "-1"]) {
      assert.equal((await get(`${url}?limit=${bad}`)).status, 400, `?limit=${bad}`);
    }

    b.broadcast.close();
    body = await pollText(url, "room/cam1");
    assert.equal(body, "room/cam1", "a closed broadcast leaves the list");
    connA.close();
    body = await pollText(url, "");
    assert.equal(body, "", "a closed connection's broadcasts leave the list");

    const outside = await get(`${relay.httpUrl}/announced/private`);
    assert.equal(outside.status, 401);
    connB.close();
  },
);

// ---------------------------------------------------------------------------------------------
// Certificates, CORS, HEAD, landing page, /health

e2e("/certificate.sha256 is the logged certificate hash; /certificates.sha256 lists it", async (relay) => {
  const tlsLine = await relay.waitForLog(/generated development certificate.* sha256=[0-9a-f]{64}/);
  const readyLine = await relay.waitForLog(/relay ready.* certificate_sha256=[0-9a-f]{64}/);
  const logged = /sha256=([0-9a-f]{64})/.exec(tlsLine)![1];
  assert.equal(/certificate_sha256=([0-9a-f]{64})/.exec(readyLine)![1], logged);

  const one = await get(`${relay.httpUrl}/certificate.sha256`);
  assert.equal(one.status, 200);
  assert.match(one.text, /^[0-9a-f]{64}$/, "64 lowercase hex chars, no newline");
  assert.equal(one.text, logged);
  assert.equal(one.headers.get("access-control-allow-origin"), "*");

  for (const path of ["/certificates.sha256", "/certificate.sha256?all"]) {
    const all = await get(`${relay.httpUrl}${path}`);
    assert.equal(all.status, 200, path);
    assert.ok(all.text.endsWith("\n"), `${path}: every line ends in a newline`);
    const lines = all.text.slice(0, -1).split("\n");
    assert.equal(lines[0], logged, `${path}: the served certificate first`);
    for (const l of lines) assert.match(l, /^[0-9a-f]{64}$/);
  }
});

e2e("web listener: /health, CORS, OPTIONS preflight, HEAD, 404 landing page, 405", async (relay) => {
  const health = await get(`${relay.httpUrl}/health`);
  assert.equal(health.status, 200);
  assert.equal(health.text, "ok\n");
  assert.equal(health.headers.get("access-control-allow-origin"), "*");

  const headHealth = await get(`${relay.httpUrl}/health`, { method: "HEAD" });
  assert.equal(headHealth.status, 200);
  assert.equal(headHealth.body.length, 0);
  assert.equal(headHealth.headers.get("access-control-allow-origin"), "*");

  const headCert = await get(`${relay.httpUrl}/certificate.sha256`, { method: "HEAD" });
  assert.equal(headCert.status, 200);
  assert.equal(headCert.body.length, 0);

  for (const path of ["/fetch/anon/x/y", "/announced/anon", "/health"]) {
    const pre = await get(`${relay.httpUrl}${path}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://example.com",
        "access-control-request-method": "GET",
        "access-control-request-headers": "x-custom",
      },
    });
    assert.ok(pre.status === 204 || pre.status === 200, `${path}: preflight status ${pre.status}`);
    assert.equal(pre.headers.get("access-control-allow-origin"), "*", path);
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /\bGET\b/, path);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /x-custom/, path);
  }

  const landing = await get(`${relay.httpUrl}/no/such/page`);
  assert.equal(landing.status, 404);
  assert.match(landing.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(landing.text, /moq-relay/);
  assert.equal(landing.headers.get("access-control-allow-origin"), "*");
  const headLanding = await get(`${relay.httpUrl}/no/such/page`, { method: "HEAD" });
  assert.equal(headLanding.status, 404);
  assert.equal(headLanding.body.length, 0);

  const post = await get(`${relay.httpUrl}/health`, { method: "POST", body: "x" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("access-control-allow-origin"), "*");
});

// ---------------------------------------------------------------------------------------------
// Internal listener

e2e("internal listener: /health, /nodes, unknown path", async (relay) => {
  const health = await get(`${relay.internalUrl}/health`);
  assert.equal(health.status, 200);
  assert.equal(health.text, "ok\n");
  const nodes = await get(`${relay.internalUrl}/nodes`);
  assert.equal(nodes.status, 200);
  assert.match(nodes.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(JSON.parse(nodes.text), { nodes: [] });
  const page = await get(`${relay.internalUrl}/metrics`);
  assert.match(page.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  parseMetrics(page.text);
  assert.equal((await get(`${relay.internalUrl}/fetch/anon/a/b`)).status, 404);
}, { internal: true });

e2e("internal /metrics: counters move by exactly the traffic relayed", async (relay) => {
  const before = await metrics(relay);
  const v0 = (name: string, labels: Record<string, string> = {}) => sampleValue(before, name, labels);
  const pubIn = { role: "subscriber", tier: "" };
  const subOut = { role: "publisher", tier: "" };
  const groups0 = { in: v0("moq_relay_groups_total", pubIn), out: v0("moq_relay_groups_total", subOut) };
  const frames0 = { in: v0("moq_relay_frames_total", pubIn), out: v0("moq_relay_frames_total", subOut) };
  const bytes0 = { in: v0("moq_relay_bytes_total", pubIn), out: v0("moq_relay_bytes_total", subOut) };
  const subs0 = v0("moq_relay_subscriptions_opened_total", subOut);
  const subsClosed0 = v0("moq_relay_subscriptions_closed_total", subOut);
  const missing0 = v0("moq_relay_auth_failures_total", { reason: "missing" });
  const opened0 = v0("moq_relay_sessions_opened_total");
  const closed0 = v0("moq_relay_sessions_closed_total");
  assert.equal(before.get("moq_relay_sessions")?.samples.length, 0, "no session rows before any session");

  const pubConn = await connect(relay.port, "anon");
  const viewers = await Promise.all([1, 2].map(() => connect(relay.port, "anon")));
  const pub = await publish(pubConn, "metered");
  const tracks = await Promise.all(viewers.map((v) => subscribe(v, "metered", "video")));
  const upstream = await pub.request();
  await expectMetric(relay, "moq_relay_subscriptions_opened_total", subOut, subs0 + 2);
  await expectMetric(relay, "moq_relay_sessions", { transport: "websocket" }, 3);
  await expectMetric(relay, "moq_relay_sessions_opened_total", {}, opened0 + 3);

  // 3 groups × 2 frames; sizes cover 1-, 2- and 4-byte varint size prefixes.
  const sizes = [[5, 300], [63, 16_384], [64, 16_383]];
  let wireBytes = 0; // per copy: payload + varint size prefix, as the relay counts frames
  for (let g = 0; g < 3; g++) {
    const frames = sizes[g].map((n, f) => payload(n, g * 2 + f));
    for (const f of frames) wireBytes += f.length + varintSize(f.length);
    writeGroup(upstream, frames);
    for (const t of tracks) {
      const got = await readGroup(t);
      assert.equal(got?.sequence, g);
      assert.equal(got?.frames.length, frames.length);
      frames.forEach((f, i) => assertBytes(got!.frames[i], f, `group ${g} frame ${i}`));
    }
  }
  assert.equal(pub.requests.length, 1, "one upstream subscription for both viewers");
  await expectMetric(relay, "moq_relay_groups_total", pubIn, groups0.in + 3);
  await expectMetric(relay, "moq_relay_groups_total", subOut, groups0.out + 6);
  await expectMetric(relay, "moq_relay_frames_total", pubIn, frames0.in + 6);
  await expectMetric(relay, "moq_relay_frames_total", subOut, frames0.out + 12);
  await expectMetric(relay, "moq_relay_bytes_total", pubIn, bytes0.in + wireBytes);
  await expectMetric(relay, "moq_relay_bytes_total", subOut, bytes0.out + 2 * wireBytes);

  // An unauthenticated upgrade attempt to a private path is refused and counted.
  const refused = await RawWebSocket.connect(relay.port, "/private/room");
  assert.ok(!(refused instanceof RawWebSocket), "the upgrade is refused");
  assert.equal(refused.status, 401);
  await expectMetric(relay, "moq_relay_auth_failures_total", { reason: "missing" }, missing0 + 1);
  await expectMetric(relay, "moq_relay_sessions", { transport: "websocket" }, 3);

  // A viewer leaves: the open-session gauge and the closed counter follow.
  viewers[0].close();
  await expectMetric(relay, "moq_relay_sessions", { transport: "websocket" }, 2);
  await expectMetric(relay, "moq_relay_sessions_closed_total", {}, closed0 + 1);
  viewers[1].close();
  pubConn.close();
  await expectMetric(relay, "moq_relay_sessions_closed_total", {}, closed0 + 3);
  await expectMetric(relay, "moq_relay_subscriptions_closed_total", subOut, subsClosed0 + 2);
  const after = await metrics(relay);
  assert.equal(after.get("moq_relay_sessions")?.samples.length, 0, "no open sessions left");
}, { internal: true });
