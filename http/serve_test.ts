import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
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

async function readUntilClosed(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<{ closed: boolean; text: string }> {
  const buf = new Uint8Array(1024);
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"wait">((r) => setTimeout(() => r("wait"), deadline - Date.now())),
    ]);
    if (n === "wait") return { closed: false, text };
    if (n === null) return { closed: true, text };
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return { closed: false, text };
}

Deno.test({
  name: "serve: a connection whose request headers do not complete in time is closed",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: (_req, info) => new Response(`peer ${(info.remoteAddr as Deno.NetAddr).port}`),
    signal: abort.signal,
    logger: silentLogger(),
    headersDeadlineMs: 300,
  });
  const port = listener.addr.port;
  const slow = await Deno.connect({ hostname: "127.0.0.1", port });
  await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n"));
  const t0 = Date.now();
  const result = await readUntilClosed(slow, 3_000);
  assert.ok(result.closed, "the slow connection is still open");
  assert.ok(Date.now() - t0 < 2_000, `closed after ${Date.now() - t0} ms`);
  slow.close();
  // A complete request on time is served, and the handler sees the real peer's port.
  const fast = await Deno.connect({ hostname: "127.0.0.1", port });
  const local = (fast.localAddr as Deno.NetAddr).port;
  await fast.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const answer = await readUntilClosed(fast, 3_000);
  assert.match(answer.text, /^HTTP\/1\.1 200/);
  assert.ok(answer.text.endsWith(`peer ${local}`), answer.text);
  fast.close();
  abort.abort();
  await listener.finished;
});

Deno.test({
  name: "serve: connections past the per-IP cap are closed at once; a freed slot is reusable",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("ok"),
    signal: abort.signal,
    logger: silentLogger(),
    maxConnectionsPerIp: 3,
  });
  const port = listener.addr.port;
  const held = await Promise.all([0, 1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port })));
  await new Promise((r) => setTimeout(r, 100));
  const extra = await Deno.connect({ hostname: "127.0.0.1", port });
  assert.ok((await readUntilClosed(extra, 2_000)).closed, "the 4th connection was not closed");
  extra.close();
  held[0].close();
  await new Promise((r) => setTimeout(r, 100));
  const res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(await res.text(), "ok");
  for (const c of held.slice(1)) c.close();
  abort.abort();
  await listener.finished;
});

Deno.test({
  name: "serve: a slow second request on a kept-alive connection is closed too",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("ok"),
    signal: abort.signal,
    logger: silentLogger(),
    headersDeadlineMs: 300,
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
  await new Promise((r) => setTimeout(r, 400)); // idle between requests is not the header deadline
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHo"));
  const t0 = Date.now();
  const result = await readUntilClosed(conn, 3_000);
  assert.ok(result.closed, "the slow second request is still open");
  assert.ok(Date.now() - t0 < 2_000);
  conn.close();
  abort.abort();
  await listener.finished;
});

Deno.test({
  name: "serve: HTTPS goes through the same gate (TLS handshake within the header deadline)",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const { generateSelfSignedCertificate } = await import("../transport/mod.ts");
  const cert = await generateSelfSignedCertificate(["localhost", "127.0.0.1"]);
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req) => new Response(`secure ${new URL(req.url).pathname}`),
    signal: abort.signal,
    logger: silentLogger(),
    cert: cert.certPem,
    key: cert.keyPem,
    headersDeadlineMs: 300,
  });
  const client = Deno.createHttpClient({ caCerts: [cert.certPem] });
  try {
    const res = await fetch(`https://localhost:${listener.addr.port}/x`, { client });
    assert.equal(await res.text(), "secure /x");
    // A peer that never starts the TLS handshake is closed by the deadline.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    assert.ok((await readUntilClosed(idle, 3_000)).closed, "a silent TLS peer stays open");
    idle.close();
    // A peer that completes the handshake but dribbles its request headers is closed too.
    const slow = await Deno.connectTls({
      hostname: "localhost",
      port: listener.addr.port,
      caCerts: [cert.certPem],
    });
    await slow.handshake();
    await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\n"));
    const t0 = Date.now();
    assert.ok((await readUntilClosed(slow, 3_000)).closed, "a slow TLS request stays open");
    assert.ok(Date.now() - t0 < 2_000);
    slow.close();
  } finally {
    client.close();
    abort.abort();
    await listener.finished;
  }
});
