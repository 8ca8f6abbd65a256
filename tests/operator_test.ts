/**
 * End-to-end tests of the operator-facing sections (docs/relay.md §1.3, §2.8, §4): the unified
 * `auth_api` against a real HTTP auth service started by the test (aliases, public grants, the key
 * for the kid, outage → 502, caching seen in request counts, per-peer rate limits) and
 * `auth.domains` subdomain routing over WebSocket and HTTP.
 */

import assert from "node:assert/strict";
import {
  concat,
  connect,
  encodeFrame,
  eventually,
  freePort,
  payload,
  publish,
  RawMoqPeer,
  RawWebSocket,
  readGroup,
  type RelayProcess,
  startRelay,
  subscribe,
  within,
  writeGroup,
} from "../testing/mod.ts";
import { generateKey, type Jwk, keyToJson, signToken } from "../auth/mod.ts";
import { KEYS } from "../config/mod.ts";
import { silentLogger } from "../log/mod.ts";
import {
  dialQmuxStream,
  dialWebTransport,
  encodeFrame as encodeQmuxFrame,
  type NegotiatedProtocol,
  TransportParameterId,
} from "../transport/mod.ts";
import { encodeVarint } from "../codec/mod.ts";

// ---------------------------------------------------------------------------------------------
// A real auth service
// ---------------------------------------------------------------------------------------------

/** One request the auth service saw. */
interface ApiRequest {
  root: string;
  kid: string | null;
  transport: string | null;
}

/**
 * The auth service of these tests: `demo/...` is aliased to `x7k2qp/...`, `open/...` and
 * `cached/...` are public (the latter with `max-age=60`), and the key for {@link kid} is returned.
 */
class AuthService {
  readonly requests: ApiRequest[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  /** When set, every request answers this status. */
  failWith: number | undefined;
  keyJson: unknown;
  kid = "";

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/auth`;
  }

  #handle(req: Request): Response {
    const url = new URL(req.url);
    const root = url.searchParams.get("root") ?? "";
    this.requests.push({
      root,
      kid: url.searchParams.get("kid"),
      transport: url.searchParams.get("transport"),
    });
    if (this.failWith !== undefined) return new Response("down", { status: this.failWith });
    const [first, ...rest] = root.split("/");
    const body: Record<string, unknown> = {};
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (first === "demo") body.alias = ["x7k2qp", ...rest].join("/");
    if (first === "open") body.public = { subscribe: [""], publish: [""] };
    if (first === "cached") {
      body.public = { subscribe: [""] };
      headers["cache-control"] = "max-age=60";
    } else {
      headers["cache-control"] = "no-store";
    }
    if (first === "deep") body.alias = "x7k2qp/one/two";
    if (url.searchParams.get("kid") === this.kid) body.key = this.keyJson;
    body.tier = "gold";
    return new Response(JSON.stringify(body), { headers });
  }

  count(root: string): number {
    return this.requests.filter((r) => r.root === root).length;
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

async function upgrade(relay: RelayProcess, target: string, host?: string): Promise<number> {
  const res = await within(
    5_000,
    `upgrade ${target}`,
    RawWebSocket.connect(relay.port, target, ["webtransport"], host),
  );
  if (res instanceof RawWebSocket) {
    res.drop();
    return 101;
  }
  return res.status;
}

interface ApiContext {
  relay: RelayProcess;
  api: AuthService;
  key: Jwk;
}

function apiTest(name: string, fn: (ctx: ApiContext) => Promise<void>) {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const api = new AuthService();
    const key = await generateKey("HS256", "k1");
    api.kid = "k1";
    api.keyJson = keyToJson(key);
    let relay: RelayProcess | undefined;
    try {
      relay = await startRelay({
        auth: `auth_api = "${api.url}"`,
        internal: true,
        toml: "[stats]\nenabled = true",
      });
      await fn({ relay, api, key });
    } finally {
      await relay?.stop("SIGKILL");
      await api.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// auth_api
// ---------------------------------------------------------------------------------------------

apiTest(
  "auth_api: a token for the vanity root publishes; a token for the alias receives byte-exact",
  async (ctx) => {
    const pubToken = await signToken(ctx.key, { root: "demo", put: [""] });
    const subToken = await signToken(ctx.key, { root: "x7k2qp", get: [""] });
    const pubConn = await connect(ctx.relay.port, "demo", `?jwt=${pubToken}`);
    const subConn = await connect(ctx.relay.port, "x7k2qp", `?jwt=${subToken}`);
    try {
      const pub = await publish(pubConn, "cam");
      const track = await subscribe(subConn, "cam", "video");
      const served = await pub.request();
      const frames = [payload(3000, 1), payload(10, 2)];
      writeGroup(served, frames);
      const got = await readGroup(track);
      assert.ok(got, "a group arrived through the alias");
      assert.deepEqual(got.frames, frames);
      const seen = ctx.api.requests.find((r) => r.root === "demo");
      assert.ok(seen, "the API was asked about the dialed path");
      assert.equal(seen.kid, "k1");
      assert.equal(seen.transport, "websocket");
    } finally {
      pubConn.close();
      subConn.close();
    }
    // The token root is checked against the dialed path, not the alias.
    assert.equal(await upgrade(ctx.relay, `/demo?jwt=${subToken}`), 401);
    // An alias of another depth is refused.
    assert.equal(await upgrade(ctx.relay, `/deep?jwt=${pubToken}`), 401);
  },
);

apiTest("auth_api: public grants, unknown kid, no token, outage → 502", async (ctx) => {
  assert.equal(await upgrade(ctx.relay, "/open/room"), 101, "public grant from the API");
  assert.equal(await upgrade(ctx.relay, "/closed"), 401, "no public grant, no token");
  const other = await generateKey("HS256", "k2");
  assert.equal(
    await upgrade(ctx.relay, `/closed?jwt=${await signToken(other, { root: "", get: [""] })}`),
    401,
  );
  assert.equal(ctx.api.requests.at(-1)?.kid, "k2");
  // A forged token with the right kid but a different secret.
  const forged = await generateKey("HS256", "k1");
  assert.equal(
    await upgrade(ctx.relay, `/closed?jwt=${await signToken(forged, { root: "", get: [""] })}`),
    401,
  );
  // HTTP: no transport parameter; the public grant lets /announced answer.
  const res = await fetch(`${ctx.relay.httpUrl}/announced/open`);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  assert.equal(ctx.api.requests.at(-1)?.transport, null);
  ctx.api.failWith = 503;
  assert.equal(await upgrade(ctx.relay, "/open/room"), 502, "fails closed");
  const down = await fetch(`${ctx.relay.httpUrl}/announced/open`);
  assert.equal(down.status, 502);
  await down.body?.cancel();
  const token = await signToken(ctx.key, { root: "", get: [""] });
  assert.equal(await upgrade(ctx.relay, `/x?jwt=${token}`), 502);
  assert.ok(!ctx.relay.logs.some((l) => l.includes(token)), "the token never reaches a log line");
});

apiTest("auth_api: answers are cached for max-age, no-store answers are not", async (ctx) => {
  for (let i = 0; i < 3; i++) assert.equal(await upgrade(ctx.relay, "/cached/a"), 101);
  assert.equal(ctx.api.count("cached/a"), 1, "max-age=60: one request for three connections");
  for (let i = 0; i < 3; i++) assert.equal(await upgrade(ctx.relay, "/open/a"), 101);
  assert.equal(ctx.api.count("open/a"), 3, "no-store: one request per connection");
  // WebTransport: the CONNECT and the session share one lookup.
  const pin = await (await fetch(`${ctx.relay.httpUrl}/certificate.sha256`)).text();
  const wt = await dialWebTransport(new URL(`https://127.0.0.1:${ctx.relay.port}/open/wt`), {
    logger: silentLogger(),
    certificateSha256: [pin],
    timeoutMs: 10_000,
  });
  const peer = RawMoqPeer.over(wt);
  await peer.announce("cam");
  await eventually(
    "the WebTransport session is live",
    () => ctx.relay.logs.some((l) => /session accepted.*open\/wt/.test(l)),
  );
  assert.equal(ctx.api.count("open/wt"), 1, "one auth API request per WebTransport session");
  assert.equal(ctx.api.requests.find((r) => r.root === "open/wt")?.transport, "quic");
  peer.close();
  // The cache serves a cached answer during an outage.
  ctx.api.failWith = 500;
  assert.equal(await upgrade(ctx.relay, "/cached/a"), 101);
  assert.equal(await upgrade(ctx.relay, "/open/a"), 502);
});

apiTest("auth_api: one peer's connection flood reaches the API a bounded number of times", async (ctx) => {
  const attempts = 60;
  const statuses = await Promise.all(
    Array.from({ length: attempts }, (_, i) => upgrade(ctx.relay, `/open/flood${i}`)),
  );
  const sent = ctx.api.requests.filter((r) => r.root.startsWith("open/flood")).length;
  assert.ok(sent < attempts, `the API saw ${sent} of ${attempts} lookups`);
  assert.ok(sent <= 30, `the API saw ${sent} lookups (burst 20 + refill)`);
  assert.ok(statuses.includes(502), "lookups over the limit are refused");
  assert.ok(statuses.includes(101), "lookups under the limit pass");
});

// ---------------------------------------------------------------------------------------------
// auth.domains
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "auth.domains: Host → path prefix over WebSocket, WebTransport and HTTP, longest suffix wins",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay({
    auth: `public = ["acme", "eu/acme"]\ndomains = ["cdn.test", "eu.cdn.test"]`,
  });
  try {
    const port = relay.port;
    // WebSocket: the Host header adds the prefix before authentication.
    assert.equal(await upgrade(relay, "/room", `acme.cdn.test:${port}`), 101);
    assert.equal(await upgrade(relay, "/room", `other.cdn.test:${port}`), 401);
    assert.equal(await upgrade(relay, "/room", `127.0.0.1:${port}`), 401);
    // Longest suffix: `acme.eu.cdn.test` is `acme` under eu.cdn.test, not `eu/acme` under cdn.test.
    assert.equal(await upgrade(relay, "/room", `acme.eu.cdn.test:${port}`), 101);
    assert.equal(await upgrade(relay, "/room", `x.eu.cdn.test:${port}`), 401);
    // HTTP: a broadcast published at acme/live shows up relative to the subdomain's prefix.
    const conn = await connect(port, "acme");
    try {
      const pub = await publish(conn, "live");
      const frames = [payload(500, 7)];
      const fetched = httpGet(port, "/fetch/live/video", `acme.cdn.test:${port}`);
      writeGroup(await pub.request(), frames);
      const body = await fetched;
      assert.equal(body.status, 200);
      assert.deepEqual(body.bytes, frames[0]);
      const announced = await httpGet(port, "/announced", `acme.cdn.test:${port}`);
      assert.equal(announced.status, 200);
      assert.equal(new TextDecoder().decode(announced.bytes), "live");
      const refused = await httpGet(port, "/announced", `other.cdn.test:${port}`);
      assert.equal(refused.status, 401);
    } finally {
      conn.close();
    }
    // WebTransport: the CONNECT :authority names the subdomain (the test dials 127.0.0.1).
    const pin = await (await fetch(`${relay.httpUrl}/certificate.sha256`)).text();
    const wt = (host: string, path: string) =>
      dialWebTransport(new URL(`https://${host}:${port}${path}`), {
        logger: silentLogger(),
        certificateSha256: [pin],
        connectHost: "127.0.0.1",
        timeoutMs: 10_000,
        protocols: ["moq-lite-04"], // RawMoqPeer speaks lite-04
      });
    await assert.rejects(wt("other.cdn.test", "/room"), /401/);
    const session = await wt("acme.cdn.test", "/");
    const peer = RawMoqPeer.over(session);
    try {
      await peer.announce("wt-live");
      const deadline = Date.now() + 10_000;
      let listed = "";
      while (!listed.split("\n").includes("wt-live") && Date.now() < deadline) {
        listed = new TextDecoder().decode((await httpGet(port, "/announced", `acme.cdn.test:${port}`)).bytes);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(listed.split("\n").includes("wt-live"), `published over WebTransport under acme/: ${listed}`);
    } finally {
      peer.close();
    }
  } finally {
    await relay.stop("SIGKILL");
  }
});

/** A plain HTTP/1.1 GET with a chosen Host header (fetch() does not let a test set Host). */
async function httpGet(
  port: number,
  path: string,
  host: string,
): Promise<{ status: number; bytes: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await within(15_000, `GET ${path}`, conn.read(buf));
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = concat(chunks);
    const text = new TextDecoder("latin1").decode(all);
    const end = text.indexOf("\r\n\r\n");
    const head = text.slice(0, end);
    const status = Number(head.split(" ")[1]);
    let body: Uint8Array = all.subarray(end + 4);
    if (/transfer-encoding:\s*chunked/i.test(head)) body = dechunk(body);
    return { status, bytes: body };
  } finally {
    try {
      conn.close();
    } catch {
      // closed
    }
  }
}

function dechunk(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  const dec = new TextDecoder("latin1");
  while (i < data.length) {
    const lineEnd = dec.decode(data.subarray(i)).indexOf("\r\n");
    const size = parseInt(dec.decode(data.subarray(i, i + lineEnd)), 16);
    i += lineEnd + 2;
    if (!(size > 0)) break;
    for (let j = 0; j < size; j++) out.push(data[i + j]);
    i += size + 2;
  }
  return new Uint8Array(out);
}

// ---------------------------------------------------------------------------------------------
// [stats]
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "[stats]: a MoQ subscriber reads the JSON broadcasts and sees the counters move after an exchange",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay({
    auth: `[auth.public]\nsubscribe = ["anon", ".stats"]\npublish = ["anon"]`,
    toml: `[stats]\nenabled = true\ninterval = 1\nnode = "n1"`,
    internal: true,
  });
  const watcher = await connect(relay.port, "");
  const pubConn = await connect(relay.port, "anon");
  const subConn = await connect(relay.port, "anon");
  try {
    const egress = await subscribe(watcher, ".stats/node/n1", "publisher.json");
    const ingress = await subscribe(watcher, ".stats/node/n1", "subscriber.json");
    const sessions = await subscribe(watcher, ".stats/node/n1", "sessions.json");
    const first = JSON.parse(new TextDecoder().decode((await readGroup(egress))!.frames[0]));
    assert.equal(first["anon/cam"]?.bytes ?? 0, 0, "no egress yet");
    const pub = await publish(pubConn, "cam");
    const track = await subscribe(subConn, "cam", "video");
    const frames = [payload(1000, 3), payload(24, 4)];
    writeGroup(await pub.request(), frames);
    assert.deepEqual((await readGroup(track))!.frames, frames);
    // Within a few intervals a snapshot shows the exchange under the broadcast path `anon/cam`, as
    // upstream keys traffic entries.
    type Entry = Record<string, number>;
    const until = async (sub: typeof egress, done: (e: Record<string, Entry>) => boolean) => {
      let seen: Record<string, Entry> = {};
      const deadline = Date.now() + 10_000;
      while (!done(seen) && Date.now() < deadline) {
        seen = JSON.parse(new TextDecoder().decode((await readGroup(sub))!.frames[0]));
      }
      return seen;
    };
    const out = await until(egress, (e) => e["anon/cam"]?.bytes >= 1024);
    const cam = out["anon/cam"];
    assert.ok(cam, `publisher.json has an anon/cam entry: ${JSON.stringify(out)}`);
    assert.ok(cam.bytes >= 1024 && cam.frames === 2 && cam.groups === 1, JSON.stringify(out));
    assert.equal(cam.subscriptions - cam.subscriptions_closed, 1, "one live subscription");
    assert.equal(cam.broadcasts - cam.broadcasts_closed, 1, "one viewer");
    for (const key of ["announced", "announced_closed", "announced_bytes", "fetches", "datagrams"]) {
      assert.equal(typeof cam[key], "number", `${key} in every entry`);
    }
    assert.ok(
      Object.keys(out).every((k) => !k.startsWith(".stats")),
      "serving the stats is not itself counted",
    );
    const inbound = (await until(ingress, (e) => e["anon/cam"]?.bytes >= 1024))["anon/cam"];
    assert.ok(inbound, "subscriber.json has the ingress entry");
    assert.ok(inbound.bytes >= 1024 && inbound.frames === 2 && inbound.groups === 1, JSON.stringify(inbound));
    assert.equal(inbound.announced - inbound.announced_closed, 1, "the publisher's announcement is live");
    assert.equal(inbound.subscriptions - inbound.subscriptions_closed, 1, "one upstream subscription");
    const present = JSON.parse(new TextDecoder().decode((await readGroup(sessions))!.frames[0]));
    assert.ok(present.anon.sessions - present.anon.sessions_closed >= 2, JSON.stringify(present));
    assert.ok(present[""].sessions >= 1, "the watcher's own session at the root");
    // The same counters behind /metrics.
    const metrics = await (await fetch(`${relay.internalUrl}/metrics`)).text();
    const bytes = /^moq_relay_bytes_total\{role="publisher",tier=""\} (\d+)$/m.exec(metrics);
    assert.ok(bytes && Number(bytes[1]) >= 1024, metrics);
    assert.match(metrics, /^moq_relay_viewers_opened_total\{role="publisher",tier=""\} [1-9]/m);
    // An unknown track is refused.
    const missing = await subscribe(watcher, ".stats/node/n1", "nope.json");
    await assert.rejects(readGroup(missing, 5_000));
  } finally {
    watcher.close();
    pubConn.close();
    subConn.close();
    await relay.stop("SIGKILL");
  }
});

Deno.test({
  name: "[stats] depth = 1: one broadcast per first path segment, announced while it has entries",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay({
    auth: `[auth.public]\nsubscribe = ["anon", ".stats"]\npublish = ["anon"]`,
    toml: `[stats]\nenabled = true\ninterval = 1\nnode = "n1"\ndepth = 1`,
    internal: true,
  });
  const watcher = await connect(relay.port, "");
  const pubConn = await connect(relay.port, "anon");
  const subConn = await connect(relay.port, "anon");
  try {
    const pub = await publish(pubConn, "cam");
    const track = await subscribe(subConn, "cam", "video");
    const frames = [payload(500, 1)];
    writeGroup(await pub.request(), frames);
    assert.deepEqual((await readGroup(track))!.frames, frames);
    // The group broadcast of `anon` appears within an interval or two.
    let listed = "";
    for (const until = Date.now() + 10_000; Date.now() < until;) {
      listed = await (await fetch(`${relay.httpUrl}/announced/.stats`)).text();
      if (listed.split("\n").includes("anon/node/n1")) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(listed.split("\n").includes("anon/node/n1"), `the anon group is announced: ${listed}`);
    const egress = await subscribe(watcher, ".stats/anon/node/n1", "publisher.json");
    let seen: Record<string, { bytes: number }> = {};
    const deadline = Date.now() + 10_000;
    while (!(seen["anon/cam"]?.bytes >= 500) && Date.now() < deadline) {
      seen = JSON.parse(new TextDecoder().decode((await readGroup(egress))!.frames[0]));
    }
    assert.ok(seen["anon/cam"]?.bytes >= 500, JSON.stringify(seen));
    assert.ok(Object.keys(seen).every((k) => k.startsWith("anon/")), "only the group's entries");
    const sessions = await subscribe(watcher, ".stats/anon/node/n1", "sessions.json");
    const present = JSON.parse(new TextDecoder().decode((await readGroup(sessions))!.frames[0]));
    assert.ok(present.anon?.sessions >= 2 && present[""] === undefined, JSON.stringify(present));
  } finally {
    watcher.close();
    pubConn.close();
    subConn.close();
    await relay.stop("SIGKILL");
  }
});

// ---------------------------------------------------------------------------------------------
// [server.tcp], [server.unix]
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "[server.tcp] + [server.unix]: qmux publisher over TCP, subscriber over a Unix socket, byte-exact",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const tcpPort = freePort();
  const dir = await Deno.makeTempDir({ prefix: "moq-unix-" });
  const socketPath = `${dir}/moq.sock`;
  const relay = await startRelay({
    toml: `[server.tcp]\nbind = "127.0.0.1:${tcpPort}"\n[server.unix]\nbind = "${socketPath}"`,
    internal: true,
  });
  const options = { peer: "relay", logger: silentLogger() };
  try {
    assert.equal((await Deno.stat(socketPath)).mode! & 0o777, 0o660, "socket file mode");
    // A second relay on the same socket path refuses to start instead of stealing it.
    const second = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "--server-bind",
        "",
        "--web-http-listen",
        `127.0.0.1:${freePort()}`,
        "--auth-public",
        "anon",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", MOQ_SERVER_UNIX_BIND: socketPath },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(second.code, 1);
    assert.match(new TextDecoder().decode(second.stderr), /^Error: .*server\.unix\.bind: .* is in use/m);
    const pub = RawMoqPeer.over(
      await dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
        ...options,
        kind: "tcp",
        protocols: ["moq-lite-04"],
      }),
    );
    const sub = RawMoqPeer.over(
      await dialQmuxStream(await Deno.connect({ transport: "unix", path: socketPath }), {
        ...options,
        kind: "unix",
        protocols: ["moq-lite-04"],
      }),
    );
    // Tokenless stream sessions get the public access at the root: publish and subscribe anon/.
    await pub.announce("cam"); // relative to the relay's interest prefix anon/
    const subscribing = sub.subscribe(1n, "anon/cam", "video");
    const up = await pub.request();
    await within(5_000, "SUBSCRIBE_OK", subscribing);
    const frames = [payload(40_000, 5), payload(1, 6), payload(16_400, 7)];
    const group = await pub.openGroup(up.msg.id, 0);
    for (const f of frames) await group.write(encodeFrame(f));
    await group.close();
    await eventually("the group reaches the Unix-socket subscriber", () => sub.groups.length >= 1, 10_000);
    const incoming = sub.groups[0];
    const got: Uint8Array[] = [];
    for (;;) {
      const f = await within(5_000, "read a frame", incoming.reader.frame(1 << 20));
      if (f === null) break;
      got.push(f);
    }
    assert.deepEqual(got, frames.map(encodeFrame));
    const metrics = await (await fetch(`${relay.internalUrl}/metrics`)).text();
    assert.match(metrics, /moq_relay_sessions\{transport="tcp",version="[^"]+"\} 1/);
    assert.match(metrics, /moq_relay_sessions\{transport="unix",version="[^"]+"\} 1/);
    pub.close();
    sub.close();
    // A peer offering only an unknown protocol is refused at the handshake.
    await assert.rejects(
      dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
        ...options,
        kind: "tcp",
        protocols: ["moq-lite-99" as NegotiatedProtocol],
      }),
    );
  } finally {
    await relay.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

// ---------------------------------------------------------------------------------------------
// An upstream-style relay.toml
// ---------------------------------------------------------------------------------------------

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;

function spawnRelay(config: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, config],
    cwd: ROOT,
    env: { NO_COLOR: "1", RUST_LOG: "warn" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

Deno.test({
  name:
    "an upstream relay.toml with auth_api, domains, [stats], [server.tcp], [server.unix], qlog, iroh starts; " +
    "[server.unix.allow] and mTLS-only auth fail with one line",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-upstream-toml-" });
  const port = freePort();
  const upstream = [
    `[server]`,
    `bind = "127.0.0.1:${port}"`,
    `[server.tls]`,
    `generate = ["localhost"]`,
    `[server.quic]`,
    `congestion_control = "delay"`,
    `qlog = "${dir}/qlog"`,
    `[server.tcp]`,
    `bind = "127.0.0.1:${freePort()}"`,
    `[server.unix]`,
    `bind = "${dir}/moq.sock"`,
    `[web.http]`,
    `listen = "127.0.0.1:${port}"`,
    `[auth]`,
    `auth_api = "http://127.0.0.1:9/auth"`,
    `domains = ["cdn.example.com"]`,
    `[stats]`,
    `enabled = true`,
    `node = "sjc/1"`,
    `[iroh]`,
    `enabled = true`,
    ``,
  ].join("\n");
  try {
    await Deno.writeTextFile(`${dir}/relay.toml`, upstream);
    const child = spawnRelay(`${dir}/relay.toml`);
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let logs = "";
    const deadline = Date.now() + 30_000;
    let healthy = false;
    while (!healthy && Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        await res.body?.cancel();
        healthy = res.ok;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    child.kill("SIGKILL");
    await child.status;
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) break;
      logs += value;
    }
    assert.ok(healthy, `the upstream relay.toml starts:\n${logs}`);
    for (const key of ["server.quic.congestion_control", "server.quic.qlog", "iroh.enabled"]) {
      const lines = logs.split("\n").filter((l) => l.includes(key));
      assert.equal(lines.length, 1, `one warning line for ${key}:\n${logs}`);
    }

    const fails = async (toml: string, key: RegExp) => {
      await Deno.writeTextFile(`${dir}/bad.toml`, toml);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, `${dir}/bad.toml`],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stderr);
      const errors = text.split("\n").filter((l) => l.startsWith("Error:"));
      assert.equal(out.code, 1, text);
      assert.equal(errors.length, 1, text);
      assert.match(errors[0], key);
    };
    await fails(upstream + `[server.unix.allow]\nuid = [1001]\n`, /server\.unix\.allow\.uid.*permissions/);
    // Stream-only (no [server] bind, no certificate), as upstream documents for local workers.
    const tcpPort = freePort();
    await Deno.writeTextFile(
      `${dir}/streams.toml`,
      `[server.tcp]\nbind = "127.0.0.1:${tcpPort}"\n[auth]\npublic = "anon"\n`,
    );
    const streamOnly = spawnRelay(`${dir}/streams.toml`);
    try {
      let session;
      const until = Date.now() + 30_000;
      while (session === undefined && Date.now() < until) {
        try {
          session = await dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
            kind: "tcp",
            protocols: ["moq-lite-04"],
            peer: "relay",
            logger: silentLogger(),
          });
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(session, "a stream-only relay serves qmux over TCP");
      session.close(0, "done");
    } finally {
      streamOnly.kill("SIGKILL");
      await streamOnly.status;
      await streamOnly.stderr.cancel();
    }
    await Deno.writeTextFile(`${dir}/ca.pem`, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    await fails(
      upstream.split("\n").filter((l) => !/^(\[auth\]|auth_api|domains)/.test(l)).join("\n").replace(
        `generate = ["localhost"]`,
        `generate = ["localhost"]\nroot = ["${dir}/ca.pem"]`,
      ),
      /mTLS/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("README: every upstream key is in the status table", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("### Every upstream key and its status here"));
  for (const def of KEYS) {
    assert.match(section, new RegExp("^\\| `" + def.path.replaceAll(".", "\\.") + "` +\\|", "m"), def.path);
  }
});

/** A Size-prefixed record. */
function record(bytes: Uint8Array): Uint8Array {
  const size = encodeVarint(bytes.length);
  const out = new Uint8Array(size.length + bytes.length);
  out.set(size);
  out.set(bytes, size.length);
  return out;
}

/** A client's first record: transport parameters offering `protocols` in-band. */
function helloRecord(protocols: string[]): Uint8Array {
  const params = encodeQmuxFrame({
    type: "transport_parameters",
    params: {
      initialMaxData: 1 << 20,
      initialMaxStreamDataBidiLocal: 1 << 16,
      initialMaxStreamDataBidiRemote: 1 << 16,
      initialMaxStreamDataUni: 1 << 16,
      initialMaxStreamsBidi: 10,
      initialMaxStreamsUni: 10,
    },
  }, "qmux-01");
  // Re-encode the frame with application_protocols appended to its parameters.
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const value = names.flatMap((n) => [...encodeVarint(n.length), ...n]);
  const extra = [
    ...encodeVarint(TransportParameterId.APPLICATION_PROTOCOLS),
    ...encodeVarint(value.length),
    ...value,
  ];
  const typeLength = 8;
  const lengthWidth = 1 << (params[typeLength] >> 6);
  let length = params[typeLength] & 0x3f;
  for (let i = 1; i < lengthWidth; i++) length = length * 256 + params[typeLength + i];
  const body = [...params.subarray(typeLength + lengthWidth), ...extra];
  return record(new Uint8Array([...params.subarray(0, typeLength), ...encodeVarint(body.length), ...body]));
}

Deno.test({
  name: "attack: garbage on the plaintext qmux listener closes only that connection; the relay keeps serving",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const tcpPort = freePort();
  const relay = await startRelay({ toml: `[server.tcp]\nbind = "127.0.0.1:${tcpPort}"`, internal: true });
  try {
    const closedAfter = async (bytes: Uint8Array[], what: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
      try {
        for (const b of bytes) await conn.write(b);
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await within(
            5_000,
            `the relay closes the connection (${what})`,
            conn.read(buf).catch(() => null),
          );
          if (n === null) return;
        }
      } finally {
        try {
          conn.close();
        } catch {
          // closed
        }
      }
    };
    await closedAfter([new Uint8Array([0xbf, 0xff, 0xff, 0xff])], "a 1 GiB record size");
    await closedAfter([record(new Uint8Array([0x08, 0x01, 0x02]))], "not transport parameters first");
    await closedAfter([helloRecord(["moq-lite-99"])], "no common protocol");
    // A valid handshake, then an unknown frame type, or a truncated one.
    await closedAfter(
      [helloRecord(["moq-lite-04"]), record(new Uint8Array([0x2a, 1, 2, 3]))],
      "unknown frame",
    );
    await closedAfter(
      [helloRecord(["moq-lite-04"]), record(new Uint8Array([0xff, 0xff, 0xff]))],
      "truncated frame",
    );
    const health = await fetch(`${relay.httpUrl}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    // A well-behaved client still works.
    const ok = await dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
      kind: "tcp",
      protocols: ["moq-lite-04"],
      peer: "relay",
      logger: silentLogger(),
    });
    assert.equal(ok.protocol, "moq-lite-04");
    ok.close(0, "done");
    assert.equal(relay.child.pid > 0, true);
    const status = await Promise.race([
      relay.child.status,
      new Promise((r) => setTimeout(() => r("running"), 200)),
    ]);
    assert.equal(status, "running", "the relay process is still alive");
  } finally {
    await relay.stop("SIGKILL");
  }
});
