/**
 * Attack: a flood of tokens with made-up `kid`s against a relay whose `[auth] key_dir` is a key
 * server URL (docs/relay.md §2.2). Every unknown kid used to cost one outbound fetch, and a 404
 * with `Cache-Control: no-cache` was not cached at all, so N connections meant N requests to the
 * key server. Now unknown-kid fetches draw on a token bucket and misses are cached for at least
 * 30 s in their own bounded cache: the key server sees a small bounded number of requests, and a
 * token whose key is known keeps connecting.
 */

import assert from "node:assert/strict";
import { RawWebSocket, sleep, startRelay, within } from "../testing/mod.ts";
import {
  encodeKey,
  generateKey,
  KEY_MISS_FETCH_BURST,
  KEY_MISS_FETCH_REFILL_MS,
  signToken,
} from "../auth/mod.ts";

const CONNECTIONS = 500;
const CONCURRENCY = 50;

async function upgrade(port: number, target: string): Promise<number> {
  const res = await within(10_000, "upgrade", RawWebSocket.connect(port, target, ["webtransport"]));
  if (res instanceof RawWebSocket) {
    res.drop();
    return 101;
  }
  return res.status;
}

Deno.test({
  name: "attack: 500 tokens with random kids reach a remote key_dir a bounded number of times",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const good = await generateKey("ES256", "good");
  const late = await generateKey("ES256", "late");
  const bodies = new Map([["/keys/good.jwk", encodeKey(good)], ["/keys/late.jwk", encodeKey(late)]]);
  const hits = { good: 0, unknown: 0 };
  const keyServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const body = bodies.get(new URL(req.url).pathname);
    if (body !== undefined) {
      hits.good++;
      return new Response(body, { headers: { "cache-control": "max-age=3600" } });
    }
    hits.unknown++;
    return new Response("no such key", { status: 404, headers: { "cache-control": "no-cache" } });
  });
  const relay = await startRelay({
    auth: `key_dir = "http://127.0.0.1:${keyServer.addr.port}/keys/"`,
    log: "warn",
  });
  try {
    const goodToken = await signToken(good, { root: "", get: ["demo"] });
    assert.equal(await upgrade(relay.port, `/demo?jwt=${goodToken}`), 101, "the good token connects");
    assert.equal(hits.good, 1);

    const tokens = await Promise.all(
      Array.from({ length: CONNECTIONS }, () => {
        const kid = crypto.randomUUID().replaceAll("-", "");
        return signToken({ ...good, kid }, { root: "", get: ["demo"] });
      }),
    );
    const statuses = new Map<number, number>();
    const started = Date.now();
    for (let i = 0; i < tokens.length; i += CONCURRENCY) {
      const batch = tokens.slice(i, i + CONCURRENCY);
      for (const status of await Promise.all(batch.map((t) => upgrade(relay.port, `/demo?jwt=${t}`)))) {
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }
    const elapsedMs = Date.now() - started;
    const bound = KEY_MISS_FETCH_BURST + Math.ceil(elapsedMs / KEY_MISS_FETCH_REFILL_MS) + 1;
    console.log(
      `${CONNECTIONS} random-kid connections in ${elapsedMs} ms: key server saw ${hits.unknown} lookups ` +
        `(bound ${bound}); answers ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
    assert.equal(statuses.get(101), undefined, "no random-kid token was accepted");
    assert.equal((statuses.get(401) ?? 0) + (statuses.get(502) ?? 0), CONNECTIONS);
    assert.ok(hits.unknown <= bound, `the key server saw ${hits.unknown} lookups (bound ${bound})`);

    assert.equal(await upgrade(relay.port, `/demo?jwt=${goodToken}`), 101, "the good token still connects");
    assert.equal(hits.good, 1, "its key was neither evicted nor refetched");
    // The throttle is brief: a kid first seen after the flood is looked up once the bucket refills.
    await sleep(2 * KEY_MISS_FETCH_REFILL_MS);
    const lateToken = await signToken(late, { root: "", get: ["demo"] });
    assert.equal(
      await upgrade(relay.port, `/demo?jwt=${lateToken}`),
      101,
      "a new kid connects after the flood",
    );
    assert.equal(hits.good, 2);
    const leaked = relay.logs.filter((l) => tokens.slice(0, 20).some((t) => l.includes(t)));
    assert.deepEqual(leaked, [], "no log line carries a token");
  } finally {
    await relay.stop("SIGKILL");
    await keyServer.shutdown();
  }
});
