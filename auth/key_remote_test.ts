import assert from "node:assert/strict";
import { KeyStore } from "./_key_store.ts";
import {
  cacheTtlMs,
  KEY_CACHE_TTL_MS,
  KEY_MISS_FETCH_BURST,
  KEY_MISS_FETCH_REFILL_MS,
  KEY_MISS_MIN_TTL_MS,
  loggableUrl,
} from "./key_remote.ts";
import { MAX_CACHED_MISSES } from "./_key_source.ts";
import { encodeKey } from "./jwk.ts";
import { generateKey } from "./token_cli.ts";
import { AuthError, type AuthFailureReason } from "./types.ts";
import { silentLogger } from "../log/mod.ts";

/** A real key server on loopback: `good.jwk` is a key cached for an hour; anything else 404 `no-cache`. */
async function keyServer() {
  const body = encodeKey(await generateKey("ES256", "good"));
  const hits = { good: 0, other: 0 };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname === "/keys/good.jwk") {
      hits.good++;
      return new Response(body, { headers: { "cache-control": "max-age=3600" } });
    }
    hits.other++;
    return new Response("not found", { status: 404, headers: { "cache-control": "no-cache" } });
  });
  return { hits, base: `http://127.0.0.1:${server.addr.port}/keys`, close: () => server.shutdown() };
}

async function reason(promise: Promise<unknown>): Promise<AuthFailureReason> {
  return (await failure(promise)).reason;
}

function randomKid(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

async function failure(promise: Promise<unknown>): Promise<AuthError> {
  const e = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(e instanceof AuthError, `expected an AuthError, got ${e}`);
  return e;
}

Deno.test("remote key_dir: a flood of random kids reaches the key server a bounded number of times", async () => {
  const server = await keyServer();
  let now = 1_000_000;
  const store = await KeyStore.create({ keyDir: server.base }, silentLogger(), undefined, { now: () => now });
  try {
    assert.equal((await store.resolve("good")).jwk.kid, "good");
    const errors = await Promise.all(Array.from({ length: 500 }, () => failure(store.resolve(randomKid()))));
    assert.ok(server.hits.other <= KEY_MISS_FETCH_BURST, `key server saw ${server.hits.other} lookups`);
    const reasons = new Set(errors.map((e) => e.reason));
    assert.deepEqual([...reasons].sort(), ["key_unavailable", "unknown_kid"]);
    assert.ok(errors.filter((e) => e.reason === "key_unavailable").every((e) => e.closeCode === 566));
    assert.equal((await store.resolve("good")).jwk.kid, "good", "the good key still resolves");
    assert.equal(server.hits.good, 1, "from the cache");

    // The bucket refills: one more lookup per refill interval.
    now += KEY_MISS_FETCH_REFILL_MS;
    const before = server.hits.other;
    await Promise.all(Array.from({ length: 20 }, () => failure(store.resolve(randomKid()))));
    assert.equal(server.hits.other, before + 1);
  } finally {
    await store.close();
    await server.close();
  }
});

Deno.test("remote key_dir: a 404 under no-cache is still remembered for the minimum miss time", async () => {
  const server = await keyServer();
  let now = 1_000_000;
  const store = await KeyStore.create({ keyDir: server.base }, silentLogger(), undefined, { now: () => now });
  try {
    for (let i = 0; i < 50; i++) assert.equal((await failure(store.resolve("gone"))).reason, "unknown_kid");
    assert.equal(server.hits.other, 1, "one lookup while the miss is cached");
    now += KEY_MISS_MIN_TTL_MS - 1;
    assert.equal((await failure(store.resolve("gone"))).reason, "unknown_kid");
    assert.equal(server.hits.other, 1);
    now += 1;
    assert.equal((await failure(store.resolve("gone"))).reason, "unknown_kid");
    assert.equal(server.hits.other, 2, "looked up again once the miss expired");
  } finally {
    await store.close();
    await server.close();
  }
});

Deno.test("remote key_dir: misses never evict good keys", async () => {
  const server = await keyServer();
  let now = 1_000_000;
  const store = await KeyStore.create({ keyDir: server.base }, silentLogger(), undefined, { now: () => now });
  try {
    assert.equal((await store.resolve("good")).jwk.kid, "good");
    // More distinct misses than either cache holds, paced so the bucket always has room.
    for (let i = 0; i < MAX_CACHED_MISSES + 100; i += KEY_MISS_FETCH_BURST) {
      now += KEY_MISS_FETCH_BURST * KEY_MISS_FETCH_REFILL_MS;
      const batch = Array.from({ length: KEY_MISS_FETCH_BURST }, () => store.resolve(randomKid()));
      for (const e of await Promise.all(batch.map(failure))) assert.equal(e.reason, "unknown_kid");
    }
    assert.ok(server.hits.other >= MAX_CACHED_MISSES + 100, `${server.hits.other} lookups`);
    assert.equal((await store.resolve("good")).jwk.kid, "good");
    assert.equal(server.hits.good, 1, "the good key stayed cached");
  } finally {
    await store.close();
    await server.close();
  }
});

Deno.test("key URLs in logs and errors hide user info and query", () => {
  assert.equal(loggableUrl(new URL("https://keys.example/k/")), "https://keys.example/k/");
  const hidden = loggableUrl(new URL("https://user:s3cret@keys.example/k/?token=abc"));
  assert.ok(!hidden.includes("s3cret") && !hidden.includes("abc") && !hidden.includes("user"), hidden);
});

Deno.test("cacheTtlMs reads Cache-Control", () => {
  assert.equal(cacheTtlMs(null), KEY_CACHE_TTL_MS);
  assert.equal(cacheTtlMs("public, max-age=120"), 120_000);
  assert.equal(cacheTtlMs("no-store"), 0);
  assert.equal(cacheTtlMs("no-cache, max-age=5"), 0);
  assert.equal(cacheTtlMs("max-age=99999999"), 3_600_000);
});

Deno.test("remote keys: fetched once, cached by max-age, revalidated by ETag, stale on outage", async () => {
  const key = await generateKey("ES256", "remote");
  const body = encodeKey(key);
  const hits: string[] = [];
  let mode: "ok" | "fail" = "ok";
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    hits.push(`${url.pathname} ${req.headers.get("if-none-match") ?? ""}`);
    if (mode === "fail") return new Response("down", { status: 503 });
    if (url.pathname === "/keys/remote.jwk" || url.pathname === "/single.jwk") {
      if (req.headers.get("if-none-match") === '"v1"') return new Response(null, { status: 304 });
      return new Response(body, { headers: { "cache-control": "max-age=60", etag: '"v1"' } });
    }
    if (url.pathname === "/keys/html.jwk") return new Response("<html>", { status: 200 });
    if (url.pathname === "/keys/weak.jwk") return new Response('{"alg":"HS256","k":"c2hvcnQ"}');
    return new Response("not found", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  let now = 1_000_000;
  const options = { now: () => now };
  const dirStore = await KeyStore.create({ keyDir: `${base}/keys` }, silentLogger(), undefined, options);
  const single = await KeyStore.create({ key: `${base}/single.jwk` }, silentLogger(), undefined, options);
  try {
    assert.equal((await dirStore.resolve("remote")).jwk.kid, "remote");
    assert.equal((await dirStore.resolve("remote")).jwk.kid, "remote");
    assert.deepEqual(hits, ["/keys/remote.jwk "]);

    assert.equal(await reason(dirStore.resolve("nope")), "unknown_kid");
    assert.equal(await reason(dirStore.resolve(undefined)), "unknown_kid");
    const html = await dirStore.resolve("html").then(() => undefined, (e) => e);
    assert.ok(html instanceof AuthError);
    assert.equal(html.reason, "key_unavailable");
    assert.equal(html.status, 502);
    assert.equal(html.closeCode, 566);

    // A JSON answer that is not a usable key is a credential failure (401), cached like a key.
    assert.equal(await reason(dirStore.resolve("weak")), "no_key");
    assert.equal(await reason(dirStore.resolve("weak")), "no_key");
    assert.equal(hits.filter((h) => h.startsWith("/keys/weak.jwk")).length, 1);

    now += 61_000;
    assert.equal((await dirStore.resolve("remote")).jwk.kid, "remote");
    assert.equal(hits.at(-1), '/keys/remote.jwk "v1"');

    now += 61_000;
    mode = "fail";
    assert.equal((await dirStore.resolve("remote")).jwk.kid, "remote", "stale key used during an outage");
    const fresh = await dirStore.resolve("other").then(() => undefined, (e) => e);
    assert.equal(fresh?.reason, "key_unavailable");

    mode = "ok";
    assert.equal((await single.resolve("whatever")).jwk.kid, "remote");
  } finally {
    await dirStore.close();
    await single.close();
    await server.shutdown();
  }
});

Deno.test("remote key server unreachable: key_unavailable (502 / close 566)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const store = await KeyStore.create({ key: `http://127.0.0.1:${port}/k.jwk` }, silentLogger());
  try {
    const error = await store.resolve(undefined).then(() => undefined, (e) => e);
    assert.ok(error instanceof AuthError);
    assert.equal(error.reason, "key_unavailable");
    assert.equal(error.closeCode, 566);
  } finally {
    await store.close();
  }
});

Deno.test("remote key fetch times out", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async () => {
    await release;
    return new Response("late");
  });
  const store = await KeyStore.create(
    { key: `http://127.0.0.1:${server.addr.port}/k.jwk` },
    silentLogger(),
    undefined,
    { fetchTimeoutMs: 100 },
  );
  try {
    const started = Date.now();
    assert.equal(await reason(store.resolve(undefined)), "key_unavailable");
    assert.ok(Date.now() - started < 5000);
  } finally {
    resolve();
    await store.close();
    await server.shutdown();
  }
});
