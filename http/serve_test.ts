import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { ConnUpgradeRequest } from "../transport/mod.ts";
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

Deno.test({
  name: "serve (directWebSocket): accepted upgrades run on the gate's connection, refused ones get the " +
    "handler's answer, other requests reach Deno.serve, slow headers are still cut",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const abort = new AbortController();
  const peers: number[] = [];
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req, info) => {
      peers.push((info.remoteAddr as Deno.NetAddr).port);
      if (!(req instanceof ConnUpgradeRequest)) return new Response(`plain ${new URL(req.url).pathname}`);
      if (new URL(req.url).pathname === "/deny") {
        return new Response("no\n", { status: 401, headers: { "x-why": "test" } });
      }
      const socket = req.upgrade({ protocol: "echo", idleTimeoutMs: 0 });
      socket.addEventListener("message", (e) => socket.send(new Uint8Array((e as MessageEvent).data)));
      return new Response(null);
    },
    signal: abort.signal,
    logger: silentLogger(),
    headersDeadlineMs: 300,
    directWebSocket: true,
  });
  const port = listener.addr.port;
  // A real WebSocket client: subprotocol, binary echo, clean close.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, ["other", "echo"]);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("the WebSocket did not open"));
  });
  assert.equal(ws.protocol, "echo");
  const echoed = new Promise<ArrayBuffer>((resolve) => (ws.onmessage = (e) => resolve(e.data)));
  ws.send(new Uint8Array([1, 2, 3, 250]));
  assert.deepEqual([...new Uint8Array(await echoed)], [1, 2, 3, 250]);
  const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
  ws.close(1000);
  assert.equal((await closed).code, 1000);
  // A refused upgrade: the handler's status, headers and body, then the connection closes.
  const denied = await Deno.connect({ hostname: "127.0.0.1", port });
  await denied.write(
    new TextEncoder().encode(
      "GET /deny HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  const answer = await readUntilClosed(denied, 3_000);
  assert.ok(answer.closed);
  assert.match(answer.text, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(answer.text, /x-why: test\r\n/);
  assert.match(answer.text, /content-length: 3\r\n/);
  assert.ok(answer.text.endsWith("\r\n\r\nno\n"), answer.text);
  denied.close();
  // A plain request goes through the loopback server, with the real peer.
  const plain = await Deno.connect({ hostname: "127.0.0.1", port });
  const local = (plain.localAddr as Deno.NetAddr).port;
  await plain.write(new TextEncoder().encode("GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const page = await readUntilClosed(plain, 3_000);
  assert.match(page.text, /^HTTP\/1\.1 200/);
  assert.ok(page.text.endsWith("plain /p"), page.text);
  assert.equal(peers.at(-1), local);
  plain.close();
  // Headers that never complete are still cut by the deadline.
  const slow = await Deno.connect({ hostname: "127.0.0.1", port });
  await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"));
  const t0 = Date.now();
  assert.ok((await readUntilClosed(slow, 3_000)).closed, "the slow connection is still open");
  assert.ok(Date.now() - t0 < 2_000, `closed after ${Date.now() - t0} ms`);
  slow.close();
  abort.abort();
  await listener.finished;
});
