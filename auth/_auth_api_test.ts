import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { AUTH_API_CACHE_MAX_TTL_MS, AuthApiClient, authApiTtlMs } from "./_auth_api.ts";

Deno.test("auth API answers are cached only for an explicit max-age, capped", () => {
  assert.equal(authApiTtlMs(null), 0);
  assert.equal(authApiTtlMs("no-store"), 0);
  assert.equal(authApiTtlMs("max-age=60, no-cache"), 0);
  assert.equal(authApiTtlMs("public, max-age=30"), 30_000);
  assert.equal(authApiTtlMs("max-age=99999999"), AUTH_API_CACHE_MAX_TTL_MS);
  assert.equal(authApiTtlMs("private"), 0);
});

Deno.test("auth API request URL: root trimmed, client values encoded as query parameters only", () => {
  const client = new AuthApiClient("https://auth.example/cluster/auth?project=1", silentLogger());
  const url = client.requestUrl("/demo/room/", "k1&root=evil", "websocket");
  assert.equal(url.pathname, "/cluster/auth");
  assert.deepEqual([...url.searchParams], [
    ["project", "1"],
    ["root", "demo/room"],
    ["kid", "k1&root=evil"],
    ["transport", "websocket"],
  ]);
  assert.ok(!client.requestUrl("", undefined, undefined).searchParams.has("kid"));
});

Deno.test("an unreachable auth API fails closed with 502/566 and the API URL's secrets stay out of the error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new AuthApiClient(
    `http://user:secret@127.0.0.1:${port}/auth?token=hunter2`,
    silentLogger(),
    {
      timeoutMs: 2_000,
    },
  );
  const err = await client.lookup("demo", undefined, "quic", "10.0.0.1").then(() => undefined, (e) => e);
  assert.ok(err, "refused");
  assert.equal(err.status, 502);
  assert.equal(err.closeCode, 566);
  assert.ok(!String(err.message).includes("secret") && !String(err.message).includes("hunter2"), err.message);
  await client.close();
});
