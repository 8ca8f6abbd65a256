import assert from "node:assert/strict";
import { silentLogger } from "../../log/mod.ts";
import { pattern, readAll, startWebSocketServer, withTimeout } from "../../testing/mod.ts";
import { acceptWebSocket, dialWebSocket, isWebSocketUpgrade, WebSocketDialError } from "./upgrade.ts";
import { sleep } from "../../util/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function upgradeRequest(protocols?: string, extra: Record<string, string> = {}): Request {
  const headers: Record<string, string> = {
    upgrade: "websocket",
    connection: "keep-alive, Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    ...extra,
  };
  if (protocols !== undefined) headers["sec-websocket-protocol"] = protocols;
  return new Request("http://127.0.0.1/room", { headers });
}

Deno.test("isWebSocketUpgrade recognises upgrade requests only", () => {
  assert.equal(isWebSocketUpgrade(upgradeRequest()), true);
  assert.equal(isWebSocketUpgrade(upgradeRequest(undefined, { upgrade: "WebSocket" })), true);
  assert.equal(isWebSocketUpgrade(new Request("http://127.0.0.1/")), false);
  assert.equal(isWebSocketUpgrade(upgradeRequest(undefined, { connection: "keep-alive" })), false);
  assert.equal(isWebSocketUpgrade(upgradeRequest(undefined, { upgrade: "h2c" })), false);
  assert.equal(
    isWebSocketUpgrade(
      new Request("http://127.0.0.1/", { method: "POST", headers: { upgrade: "websocket" } }),
    ),
    false,
  );
});

Deno.test("acceptWebSocket answers 400 with a one-line reason for unusable requests", async () => {
  const logger = silentLogger();
  const bad = acceptWebSocket(upgradeRequest("moql, qmux-03"), { logger, peer: "x:1" });
  assert.ok("error" in bad);
  assert.equal(bad.error.status, 400);
  const text = await bad.error.text();
  assert.match(text, /^no supported WebSocket subprotocol offered \(got "moql, qmux-03"/);
  assert.equal(text.trim().split("\n").length, 1);

  const disabled = acceptWebSocket(upgradeRequest("webtransport.moq-lite-04"), {
    logger,
    peer: "x:1",
    versions: ["moq-lite-02"],
  });
  assert.ok("error" in disabled);
  assert.equal(disabled.error.status, 400);
  await disabled.error.body?.cancel();

  const notUpgrade = acceptWebSocket(new Request("http://127.0.0.1/"), { logger, peer: "x:1" });
  assert.ok("error" in notUpgrade);
  assert.equal(notUpgrade.error.status, 400);
  assert.match(await notUpgrade.error.text(), /not a WebSocket upgrade/);
});

Deno.test("acceptWebSocket answers the selected subprotocol in the 101 response", async () => {
  const relay = startWebSocketServer({ versions: ["moq-lite-03", "moq-lite-02"] });
  const ws = new WebSocket(relay.url, [
    "qmux-00",
    "webtransport",
    "webtransport.moq-lite-04",
    "qmux-00.moq-lite-03",
  ]);
  await withTimeout(
    new Promise((resolve) => ws.addEventListener("open", resolve, { once: true })),
    5000,
    "open",
  );
  assert.equal(ws.protocol, "qmux-00.moq-lite-03");
  const session = await relay.nextSession();
  assert.equal(session.protocol, "moq-lite-03");
  const closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
  ws.close();
  await closed;
  await relay.close();
});

/** Open a WebSocket by hand over TCP (the client never answers pings). Returns the connection. */
async function rawUpgrade(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(enc.encode(
    "GET /quiet HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Protocol: webtransport\r\n\r\n",
  ));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  assert.match(dec.decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 101/);
  return conn;
}

Deno.test("keep-alive: a silent peer that never answers pings is closed abruptly after idleTimeoutMs", async () => {
  const relay = startWebSocketServer({ idleTimeoutMs: 1000 });
  const conn = await rawUpgrade(relay.port);
  try {
    const session = await relay.nextSession();
    const started = Date.now();
    const info = await withTimeout(session.closed, 5000, "idle close");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 700 && elapsed < 3000, `closed after ${elapsed} ms`);
    assert.equal(info.abrupt, true);
    assert.equal(info.remote, true);
    assert.match(info.reason, /ping/i);
  } finally {
    conn.close();
    await relay.close();
  }
});

Deno.test("keep-alive: an idle peer that answers pings stays connected", async () => {
  const relay = startWebSocketServer({ idleTimeoutMs: 1000 });
  const session = (async () => await relay.nextSession())();
  const client = await dialWebSocket(new URL(relay.url), { logger: silentLogger() });
  try {
    const server = await session;
    await sleep(2500);
    const outcome = await Promise.race([server.closed.then(() => "closed"), sleep(10).then(() => "open")]);
    assert.equal(outcome, "open");
  } finally {
    client.close(0, "done");
    await client.closed;
    await relay.close();
  }
});

Deno.test("dialWebSocket ↔ acceptWebSocket: webtransport.moq-lite-05, streams both ways, client parity", async () => {
  const relay = startWebSocketServer();
  const client = await dialWebSocket(new URL(relay.url.replace("ws:", "http:")), { logger: silentLogger() });
  try {
    const server = await relay.nextSession();
    assert.equal(client.kind, "websocket");
    assert.equal(client.protocol, "moq-lite-05");
    assert.equal(server.protocol, "moq-lite-05");
    assert.equal(client.peer, `127.0.0.1:${relay.port}`);

    // Client-opened bidi: echo 200 KB.
    const data = pattern(200_000, 5);
    const bidi = await client.openBidi();
    const sent = bidi.send.write(data).then(() => bidi.send.close());
    const accepted = (await server.acceptBidi())!;
    const got = await readAll(accepted.recv);
    assert.deepEqual(got, data);
    await accepted.send.write(got);
    await accepted.send.close();
    await sent;
    assert.deepEqual(await readAll(bidi.recv), data);

    // Server-opened uni reaches the client.
    const uni = await server.openUni();
    await uni.write(enc.encode("to client"));
    await uni.close();
    const incoming = (await client.acceptUni())!;
    assert.equal(dec.decode(await readAll(incoming)), "to client");

    // Client-opened uni reaches the server.
    const up = await client.openUni();
    await up.write(enc.encode("to server"));
    await up.close();
    assert.equal(dec.decode(await readAll((await server.acceptUni())!)), "to server");

    client.close(0, "");
    assert.deepEqual(await withTimeout(server.closed, 2000, "server close"), {
      code: 0,
      reason: "",
      remote: true,
      abrupt: false,
    });
    assert.deepEqual(await client.closed, { code: 0, reason: "", remote: false, abrupt: false });
  } finally {
    client.close(0, "");
    await relay.close();
  }
});

Deno.test("dialWebSocket: refused, aborted and timed-out dials reject with WebSocketDialError", async () => {
  const logger = silentLogger();
  // A port that was just free: connection refused.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(dialWebSocket(new URL(`ws://127.0.0.1:${port}/`), { logger }), WebSocketDialError);
  await assert.rejects(
    dialWebSocket(new URL("ftp://127.0.0.1/"), { logger }),
    /use an http\(s\) or ws\(s\) URL/,
  );

  // A listener that accepts TCP but never answers the upgrade: timeout, then abort.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const silentPort = (silent.addr as Deno.NetAddr).port;
  const conns: Deno.Conn[] = [];
  const acceptLoop = (async () => {
    try {
      for await (const conn of silent) conns.push(conn);
    } catch {
      // listener closed
    }
  })();
  try {
    await assert.rejects(
      dialWebSocket(new URL(`ws://127.0.0.1:${silentPort}/`), { logger, timeoutMs: 200 }),
      /timed out after 200 ms/,
    );
    const controller = new AbortController();
    const dial = dialWebSocket(new URL(`ws://127.0.0.1:${silentPort}/`), {
      logger,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(dial, /aborted/);
  } finally {
    silent.close();
    await acceptLoop;
    for (const conn of conns) conn.close();
  }
});

Deno.test("dialWebSocket: aborting the signal after connecting closes the session with code 0", async () => {
  const relay = startWebSocketServer();
  const controller = new AbortController();
  const client = await dialWebSocket(new URL(relay.url), {
    logger: silentLogger(),
    signal: controller.signal,
  });
  const server = await relay.nextSession();
  controller.abort();
  assert.deepEqual(await client.closed, { code: 0, reason: "aborted", remote: false, abrupt: false });
  assert.equal((await withTimeout(server.closed, 2000, "server close")).code, 0);
  await relay.close();
});
