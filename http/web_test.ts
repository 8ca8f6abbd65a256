import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { type Origin, RelayStats, type Track } from "../relay/mod.ts";
import {
  concat,
  encodeFrame,
  eventually,
  pattern,
  startServer,
  StubAuthenticator,
  testOrigin,
  TestServer,
  TestSource,
} from "../testing/mod.ts";
import { createWebHandler, type WebContext } from "./web.ts";
import {
  IMMUTABLE_CACHE_CONTROL,
  OPERATOR_SCRIPT_PATH,
  PAGE_CACHE_CONTROL,
  PUBLIC_SCRIPT_PATH,
} from "./console.ts";
import { PUBLIC_JS } from "./_console_assets.ts";

interface Env {
  origin: Origin;
  auth: StubAuthenticator;
  server: TestServer;
  setDraining(value: boolean): void;
  get(path: string, init?: RequestInit): Promise<{ status: number; text: string; headers: Headers }>;
  bytes(path: string): Promise<{ status: number; body: Uint8Array; headers: Headers }>;
}

async function withWeb(fn: (env: Env) => Promise<void>, options: Partial<WebContext> = {}): Promise<void> {
  const origin = testOrigin();
  const auth = new StubAuthenticator();
  let draining = false;
  const ctx: WebContext = {
    origin,
    stats: new RelayStats(),
    auth,
    logger: silentLogger(),
    certificateHashes: () => [],
    draining: () => draining,
    fetchTimeoutMs: 2_000,
    ...options,
  };
  const server = await startServer(createWebHandler(ctx));
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(server.base + path, init);
    return { status: res.status, text: await res.text(), headers: res.headers };
  };
  const bytes = async (path: string) => {
    const res = await fetch(server.base + path);
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
  };
  try {
    await fn({ origin, auth, server, setDraining: (v) => void (draining = v), get, bytes });
  } finally {
    await server.close();
    origin.close();
  }
}

const FRAMES = [pattern(10, 1), pattern(300, 2), pattern(20_000, 3), new Uint8Array(0), pattern(5, 4)];

/** A source that serves group 0 (one frame) and group 1 (FRAMES), both complete. */
function completeSource(): TestSource {
  return new TestSource((track) => {
    track.ready();
    const g0 = track.startGroup(0);
    g0.append(encodeFrame(pattern(3, 9)));
    g0.finish();
    const g1 = track.startGroup(1);
    for (const f of FRAMES) g1.append(encodeFrame(f));
    g1.finish();
  });
}

Deno.test("web: /health answers ok, 503 while draining, HEAD without body, CORS on every response", async () => {
  await withWeb(async ({ get, setDraining }) => {
    const ok = await get("/health");
    assert.equal(ok.status, 200);
    assert.equal(ok.text, "ok\n");
    assert.equal(ok.headers.get("access-control-allow-origin"), "*");
    const head = await get("/health", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    setDraining(true);
    const drain = await get("/health");
    assert.equal(drain.status, 503);
    assert.equal(drain.text, "draining\n");
    assert.equal(drain.headers.get("access-control-allow-origin"), "*");
  });
});

Deno.test("web: /certificate.sha256 serves one bare hash; all of them at ?all and /certificates.sha256", async () => {
  const first = "AB:".repeat(31) + "CD";
  const second = "0123456789abcdef".repeat(4);
  await withWeb(async ({ get }) => {
    const one = await get("/certificate.sha256");
    assert.equal(one.status, 200);
    // @moq/lite 0.2.2 feeds the whole body to Hex.toBytes: even length, hex only, no newline.
    assert.match(one.text, /^[0-9a-f]{64}$/);
    assert.equal(one.text, "ab".repeat(31) + "cd");
    assert.equal(one.headers.get("access-control-allow-origin"), "*");
    const all = await get("/certificates.sha256");
    assert.equal(all.text, `${"ab".repeat(31)}cd\n${second}\n`);
    const query = await get("/certificate.sha256?all");
    assert.equal(query.text, all.text);
  }, { certificateHashes: () => [first, second] });
  await withWeb(async ({ get }) => {
    const none = await get("/certificate.sha256");
    assert.equal(none.status, 404);
    assert.equal(none.text, "no certificate\n");
  });
});

Deno.test("web: unknown paths get the landing page, OPTIONS a preflight, other methods 405", async () => {
  await withWeb(async ({ get }) => {
    const page = await get("/nope");
    assert.equal(page.status, 404);
    assert.match(page.text, /moq-relay for Deno/);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.equal(page.headers.get("access-control-allow-origin"), "*");
    const pre = await get("/fetch/a/b", {
      method: "OPTIONS",
      headers: { "access-control-request-method": "GET", "access-control-request-headers": "x-custom" },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /GET/);
    assert.equal(pre.headers.get("access-control-allow-headers"), "x-custom");
    const post = await get("/health", { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD, OPTIONS");
  });
});

Deno.test("web: /announced lists live broadcasts relative to the prefix, hides .internal, honours auth", async () => {
  await withWeb(async ({ origin, get, auth }) => {
    const source = new TestSource();
    for (const path of ["anon/a", "anon/b/c", "other", ".internal/origins/x", "private/z"]) {
      origin.publish(path, source);
    }
    const root = await get("/announced");
    assert.equal(root.status, 200);
    assert.equal(root.text, "anon/a\nanon/b/c\nother\nprivate/z");
    assert.equal(root.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(auth.calls.at(-1), { root: "", transport: "http" });
    const internal = await get("/announced?jwt=internal");
    assert.equal(internal.text, ".internal/origins/x\nanon/a\nanon/b/c\nother\nprivate/z");
    const prefixed = await get("/announced/anon");
    assert.equal(prefixed.text, "a\nb/c");
    assert.deepEqual(auth.calls.at(-1), { root: "anon", transport: "http" });
    const slash = await get("/announced/anon/");
    assert.equal(slash.text, "a\nb/c");
    const empty = await get("/announced/nothing-here");
    assert.equal(empty.status, 200);
    assert.equal(empty.text, "");
    const narrow = await get("/announced?jwt=narrow");
    assert.equal(narrow.text, "");
    const head = await get("/announced/anon", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
  });
});

Deno.test("web: /announced auth failures and bad input", async () => {
  await withWeb(async ({ origin, get }) => {
    origin.publish("private/z", new TestSource());
    const denied = await get("/announced/private");
    assert.equal(denied.status, 401);
    assert.match(denied.text, /^unauthorized: no token, and no public access at this path\n$/);
    assert.equal(denied.headers.get("access-control-allow-origin"), "*");
    const allowed = await get("/announced/private?jwt=internal");
    assert.equal(allowed.text, "z");
    const bad = await get("/announced?jwt=bad");
    assert.equal(bad.status, 401);
    assert.equal(bad.text.split("\n").length, 2, "one line plus the newline");
    const nosub = await get("/announced?jwt=nosub");
    assert.equal(nosub.status, 401);
    const down = await get("/announced?jwt=down");
    assert.equal(down.status, 502);
    assert.equal((await get("/announced?limit=0")).status, 400);
    assert.equal((await get("/announced?limit=abc")).status, 400);
    assert.equal((await get("/announced?limit=10001")).status, 400);
    assert.equal((await get("/announced/%E0%A4%A")).status, 400);
    // (`%2E%2E` segments are resolved by URL parsing before the handler; see access_test.ts.)
  });
});

Deno.test("web: /announced paginates with ?limit= and ?after=", async () => {
  await withWeb(async ({ origin, get }) => {
    const source = new TestSource();
    for (const name of ["e", "a", "c", "b", "d"]) origin.publish(`room/${name}`, source);
    const first = await get("/announced/room?limit=2");
    assert.equal(first.text, "a\nb");
    assert.equal(first.headers.get("link"), '</announced/room?limit=2&after=b>; rel="next"');
    const second = await get("/announced/room?limit=2&after=b");
    assert.equal(second.text, "c\nd");
    const third = await get("/announced/room?limit=2&after=d");
    assert.equal(third.text, "e");
    assert.equal(third.headers.get("link"), null);
    const afterOnly = await get("/announced/room?after=c");
    assert.equal(afterOnly.text, "d\ne");
    const all = await get("/announced/room");
    assert.equal(all.text, "a\nb\nc\nd\ne");
    assert.equal(all.headers.get("link"), null);
  });
});

Deno.test("web: /fetch latest returns the byte-exact payloads of a multi-frame group", async () => {
  await withWeb(async ({ origin, bytes, auth }) => {
    const source = completeSource();
    origin.publish("anon/live", source);
    const expected = concat(FRAMES);
    const latest = await bytes("/fetch/anon/live/video");
    assert.equal(latest.status, 200);
    assert.equal(latest.headers.get("x-moq-group"), "1");
    assert.equal(latest.headers.get("content-type"), null);
    assert.equal(latest.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(latest.body, expected);
    assert.deepEqual(auth.calls.at(-1), { root: "anon/live", transport: "http" });
    // The cache's buffers are shared, not transferred: a second read sees the same bytes.
    assert.deepEqual((await bytes("/fetch/anon/live/video?group=latest")).body, expected);
    const byNumber = await bytes("/fetch/anon/live/video?group=0");
    assert.equal(byNumber.status, 200);
    assert.deepEqual(byNumber.body, pattern(3, 9));
    // The handle is released after each fetch (warm period 0 ⇒ the track closes).
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
    assert.ok(source.cancelled >= 1);
  });
});

Deno.test("web: /fetch bad requests, missing groups and refused tracks", async () => {
  await withWeb(async ({ origin, get }) => {
    origin.publish("anon/live", completeSource());
    origin.publish(
      "anon/refused",
      new TestSource((track) => {
        track.ready();
        track.upstreamEnded(0); // docs/protocol.md §16 item 3: OK, then reset before any group
      }),
    );
    origin.publish("anon/closed", new TestSource((track) => track.close(13)));
    for (const path of ["/fetch", "/fetch/", "/fetch/only-one", "/fetch/anon/live/video?group=abc"]) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      assert.equal(res.text.split("\n").length, 2, `${path}: one line`);
    }
    assert.equal((await get("/fetch/anon/live/video?group=-1")).status, 400);
    assert.equal((await get("/fetch/anon/live/video?group=1.5")).status, 400);
    const missing = await get("/fetch/anon/live/video?group=7");
    assert.equal(missing.status, 404);
    assert.match(missing.text, /group 7/);
    assert.equal((await get("/fetch/anon/refused/video")).status, 404);
    assert.equal((await get("/fetch/anon/closed/video")).status, 404);
    const head = await get("/fetch/anon/live/video", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    assert.equal(head.headers.get("x-moq-group"), "1");
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
  });
});

Deno.test("web: /fetch auth: 401 from AuthError, 502 key source down, 403 out of scope or .internal", async () => {
  await withWeb(async ({ origin, get }) => {
    origin.publish("anon/live", completeSource());
    origin.publish("private/x", completeSource());
    origin.publish(".internal/origins/a", completeSource());
    const denied = await get("/fetch/private/x/video");
    assert.equal(denied.status, 401);
    assert.equal(denied.text, "unauthorized: no token, and no public access at this path\n");
    assert.equal((await get("/fetch/private/x/video?jwt=internal")).status, 200);
    assert.equal((await get("/fetch/anon/live/video?jwt=bad")).status, 401);
    assert.equal((await get("/fetch/anon/live/video?jwt=nosub")).status, 401);
    assert.equal((await get("/fetch/anon/live/video?jwt=down")).status, 502);
    assert.equal((await get("/fetch/anon/live/video?jwt=narrow")).status, 403);
    assert.equal((await get("/fetch/.internal/origins/a/video")).status, 403);
    assert.equal((await get("/fetch/.internal/origins/a/video?jwt=internal")).status, 200);
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
  });
});

Deno.test("web: /fetch waits for a broadcast that is not live yet, 504 when it never comes", async () => {
  await withWeb(async ({ origin, bytes, get }) => {
    const started = Date.now();
    const late = await get("/fetch/anon/never/video");
    assert.equal(late.status, 504);
    assert.match(late.text, /not live/);
    assert.ok(Date.now() - started >= 140, "waited for the timeout");

    const pending = bytes("/fetch/anon/soon/video");
    await new Promise((resolve) => setTimeout(resolve, 40));
    origin.publish("anon/soon", completeSource());
    const res = await pending;
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, concat(FRAMES));

    // A track that never answers: 504 after the lookup deadline.
    origin.publish("anon/silent", new TestSource(() => {}));
    assert.equal((await get("/fetch/anon/silent/video")).status, 504);
    // A live track with no group yet: 504 too.
    origin.publish("anon/idle", new TestSource((track) => track.ready()));
    assert.equal((await get("/fetch/anon/idle/video")).status, 504);
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
  }, { fetchTimeoutMs: 150 });
});

Deno.test("web: /fetch latest waits for the first group and streams a group as frames arrive", async () => {
  await withWeb(async ({ origin, server }) => {
    let track: Track | undefined;
    origin.publish(
      "anon/stream",
      new TestSource((t) => {
        track = t;
        t.ready();
      }),
    );
    const pending = fetch(`${server.base}/fetch/anon/stream/video`);
    await eventually("a consumer of the track", () => track !== undefined && track.consumers.size > 0, 3_000);
    const group = track!.startGroup(5);
    group.append(encodeFrame(pattern(100, 1)));
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-moq-group"), "5");
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.deepEqual(first.value, pattern(100, 1), "first frame delivered before the group is done");
    group.append(encodeFrame(pattern(70_000, 2)));
    let received: Uint8Array = new Uint8Array(0);
    while (received.length < 70_000) {
      const next = await reader.read();
      assert.equal(next.done, false);
      received = concat([received, next.value!]);
    }
    assert.deepEqual(received, pattern(70_000, 2));
    group.finish();
    assert.equal((await reader.read()).done, true);
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
  });
});

Deno.test("web: /fetch aborts the body after the inactivity deadline, not a total deadline", async () => {
  await withWeb(async ({ origin, server }) => {
    let track: Track | undefined;
    origin.publish(
      "anon/slow",
      new TestSource((t) => {
        track = t;
        t.ready();
      }),
    );
    const pending = fetch(`${server.base}/fetch/anon/slow/video`);
    await eventually("a consumer of the track", () => track !== undefined && track.consumers.size > 0, 3_000);
    const group = track!.startGroup(0);
    group.append(encodeFrame(pattern(10, 1)));
    const res = await pending;
    const reader = res.body!.getReader();
    // Frames keep coming every 100 ms for longer than the 250 ms deadline: no abort.
    const started = Date.now();
    let total = 0;
    for (let i = 0; i < 5; i++) {
      const chunk = await reader.read();
      total += chunk.value!.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      group.append(encodeFrame(pattern(10, i + 2)));
    }
    assert.ok(Date.now() - started > 400, "outlived a total deadline");
    assert.equal(total, 50);
    // Then the publisher stalls: the body is aborted.
    await assert.rejects(async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
      }
    });
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
  }, { fetchTimeoutMs: 250 });
});

Deno.test("web: /fetch releases the track when the client disconnects mid-body", async () => {
  await withWeb(async ({ origin, server }) => {
    let track: Track | undefined;
    origin.publish(
      "anon/gone",
      new TestSource((t) => {
        track = t;
        t.ready();
        t.startGroup(0).append(encodeFrame(pattern(10, 1)));
      }),
    );
    const abort = new AbortController();
    const res = await fetch(`${server.base}/fetch/anon/gone/video`, { signal: abort.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    assert.deepEqual((await reader.read()).value, pattern(10, 1));
    assert.equal(origin.stats().tracks, 1);
    abort.abort();
    await reader.read().catch(() => {});
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
    assert.equal(track!.state, "closed");
  });
});

Deno.test("web: /fetch aborts the body when the group is aborted upstream", async () => {
  await withWeb(async ({ origin, server }) => {
    let track: Track | undefined;
    origin.publish(
      "anon/reset",
      new TestSource((t) => {
        track = t;
        t.ready();
        t.startGroup(0).append(encodeFrame(pattern(10, 1)));
      }),
    );
    const res = await fetch(`${server.base}/fetch/anon/reset/video`);
    const reader = res.body!.getReader();
    await reader.read();
    track!.groups[0].abort(26);
    await assert.rejects(() => reader.read());
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
  });
});

async function rawRequest(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

function upgradeRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

Deno.test("web: WebSocket upgrades are authenticated first and handed the grant", async () => {
  const grants: string[] = [];
  await withWeb(async ({ server, auth, get }) => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/anon/room?jwt=internal`);
    const message = await new Promise<string>((resolve, reject) => {
      socket.onmessage = (e) => resolve(String(e.data));
      socket.onerror = () => reject(new Error("websocket failed"));
    });
    assert.equal(message, "anon/room internal");
    assert.deepEqual(auth.calls.at(-1), { root: "anon/room", transport: "websocket" });
    const closed = new Promise((resolve) => (socket.onclose = resolve));
    socket.close();
    await closed;

    const denied = await rawRequest(server.port, upgradeRequest("/private/room"));
    assert.match(denied, /^HTTP\/1\.1 401 /);
    assert.match(denied, /access-control-allow-origin: \*/i);
    const down = await rawRequest(server.port, upgradeRequest("/anon?jwt=down"));
    assert.match(down, /^HTTP\/1\.1 502 /);
    // A plain GET on a WebSocket path is the landing page.
    assert.equal((await get("/anon/room")).status, 404);
    assert.deepEqual(grants, ["anon/room"]);
  }, {
    webSocket: (req, grant) => {
      grants.push(grant.root);
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => socket.send(`${grant.root} ${grant.internal ? "internal" : "public"}`);
      return response;
    },
  });
});

Deno.test("web: without a WebSocket acceptor (web.ws = false) upgrades get the landing page", async () => {
  await withWeb(async ({ server }) => {
    const res = await rawRequest(server.port, upgradeRequest("/anon"));
    assert.match(res, /^HTTP\/1\.1 404 /);
  });
});

Deno.test("web: /fetch releases the track when the client leaves during the lookup", async () => {
  await withWeb(async ({ origin, server }) => {
    origin.publish("anon/mute", new TestSource(() => {})); // never answers
    const abort = new AbortController();
    const pending = fetch(`${server.base}/fetch/anon/mute/video`, { signal: abort.signal }).catch(() => null);
    await eventually("the origin holds one track", () => origin.stats().tracks === 1, 3_000);
    const started = Date.now();
    abort.abort();
    assert.equal(await pending, null);
    await eventually("the origin holds no track", () => origin.stats().tracks === 0, 3_000);
    assert.ok(Date.now() - started < 1_500, "released long before the 5 s lookup deadline");
  }, { fetchTimeoutMs: 5_000 });
});

Deno.test("web: / is the public console (page, hashed script, /console/grant); the operator console is not here", async () => {
  await withWeb(async ({ get, auth }) => {
    const page = await get("/");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("cache-control"), PAGE_CACHE_CONTROL);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer", "a token in the URL never leaks");
    assert.ok(page.text.includes(`src="${PUBLIC_SCRIPT_PATH}"`));
    const script = await get(PUBLIC_SCRIPT_PATH);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(script.headers.get("cache-control"), IMMUTABLE_CACHE_CONTROL);
    assert.equal(script.text.length, PUBLIC_JS.length);
    const cached = await get(PUBLIC_SCRIPT_PATH, {
      headers: { "if-none-match": script.headers.get("etag")! },
    });
    assert.equal(cached.status, 304);
    assert.equal((await get(PUBLIC_SCRIPT_PATH.replace(".js", "0.js"))).status, 404, "only the current hash");
    for (const path of [OPERATOR_SCRIPT_PATH, "/stats.json"]) {
      assert.equal((await get(path)).status, 404, path);
    }

    const grant = await get("/console/grant");
    assert.equal(grant.status, 200);
    assert.equal(grant.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(grant.text), { publish: [""], subscribe: [""], anonymous: true });
    assert.deepEqual(auth.calls.at(-1), { root: "", transport: "http" }, "asked for a session at /");
    assert.deepEqual(JSON.parse((await get("/console/grant?jwt=narrow")).text), {
      publish: [""],
      subscribe: ["only"],
      anonymous: false,
    });
    const bad = await get("/console/grant?jwt=bad");
    assert.equal(bad.status, 401);
    assert.equal(bad.text, "unauthorized: token signature does not verify\n");
  });
});

Deno.test("web: the console script is sent gzip-encoded when accepted, with its own ETag", async () => {
  await withWeb(async ({ server }) => {
    const res = await fetch(server.base + PUBLIC_SCRIPT_PATH, { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-encoding"), "gzip");
    assert.equal(res.headers.get("vary"), "accept-encoding");
    assert.match(res.headers.get("etag") ?? "", /-gzip"$/);
    // fetch decodes the body: it must be the bundle, byte for byte.
    assert.equal(await res.text(), PUBLIC_JS);
    const zipped = Number(res.headers.get("content-length"));
    assert.ok(zipped > 0 && zipped < PUBLIC_JS.length / 2, `gzip shrinks the bundle (${zipped} bytes)`);
    const plain = await fetch(server.base + PUBLIC_SCRIPT_PATH, {
      headers: { "accept-encoding": "identity" },
    });
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal((await plain.text()).length, PUBLIC_JS.length);
  });
});
