import assert from "node:assert/strict";
import { silentLogger } from "../log/logger.ts";
import { formatAddress, ListenError, serveHttp } from "./serve.ts";

Deno.test("serve: resolves once bound on an OS-chosen port and stops when the signal aborts", async () => {
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("hi"),
    signal: abort.signal,
    logger: silentLogger(),
  });
  assert.equal(listener.addr.hostname, "127.0.0.1");
  assert.ok(listener.addr.port > 0);
  const res = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
  assert.equal(await res.text(), "hi");
  abort.abort();
  await listener.finished;
  await assert.rejects(() => fetch(`http://127.0.0.1:${listener.addr.port}/`));
});

Deno.test("serve: a port in use rejects with a ListenError naming the address", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const err = await serveHttp({
      hostname: "127.0.0.1",
      port,
      handler: () => new Response("never"),
      signal: new AbortController().signal,
      logger: silentLogger(),
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ListenError, `expected ListenError, got ${err}`);
    assert.equal(err.address, `127.0.0.1:${port}`);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(err.message, /already in use/);
  } finally {
    taken.close();
  }
});

Deno.test("serve: HTTPS needs both cert and key; a handler that throws gets a 500", async () => {
  await assert.rejects(
    () =>
      serveHttp({
        hostname: "127.0.0.1",
        port: 0,
        handler: () => new Response(""),
        signal: new AbortController().signal,
        logger: silentLogger(),
        cert: "x",
      }),
    ListenError,
  );
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => {
      throw new Error("boom");
    },
    signal: abort.signal,
    logger: silentLogger(),
  });
  const res = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "internal error\n");
  abort.abort();
  await listener.finished;
  assert.equal(formatAddress("::1", 80), "[::1]:80");
});
