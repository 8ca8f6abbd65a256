import assert from "node:assert/strict";
import { KeyStore } from "./key_store.ts";
import {
  KEY_MISS_FETCH_BURST,
  KEY_MISS_FETCH_REFILL_MS,
  KEY_MISS_MIN_TTL_MS,
  loggableUrl,
  MAX_CACHED_MISSES,
} from "./key_remote.ts";
import { encodeKey } from "./jwk.ts";
import { generateKey } from "./token_cli.ts";
import { AuthError } from "./types.ts";
import { silentLogger } from "../log/logger.ts";

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
