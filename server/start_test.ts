import assert from "node:assert/strict";
import { loadConfig } from "../config/mod.ts";
import { LogFilter, Logger } from "../log/mod.ts";
import { startRelay, StartupError } from "./start.ts";

function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function config(toml: string) {
  const dir = await Deno.makeTempDir({ prefix: "moq-start-test-" });
  const path = `${dir}/relay.toml`;
  await Deno.writeTextFile(path, toml);
  const { config } = await loadConfig([path], {});
  return { config, dir };
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger("main", LogFilter.parse("info"), (l) => void lines.push(l)), lines };
}

Deno.test({
  name: "startRelay binds every listener before it resolves; /health and /nodes answer; shutdown stops them",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const http = freeTcpPort();
  const internal = freeTcpPort();
  const { config: cfg, dir } = await config([
    `[server]`,
    `bind = ""`,
    `[web.http]`,
    `listen = "127.0.0.1:${http}"`,
    `[internal]`,
    `listen = "127.0.0.1:${internal}"`,
    `[auth]`,
    `public = "anon"`,
  ].join("\n"));
  const { logger, lines } = capture();
  const relay = await startRelay(cfg, logger);
  try {
    assert.equal(relay.addresses.http, `127.0.0.1:${http}`);
    assert.equal(relay.addresses.internal, `127.0.0.1:${internal}`);
    const health = await fetch(`http://127.0.0.1:${http}/health`);
    assert.equal(await health.text(), "ok\n");
    const nodes = await (await fetch(`http://127.0.0.1:${internal}/nodes`)).json();
    assert.deepEqual(nodes, { nodes: [] });
    assert.ok(lines.some((l) => /INFO main: relay ready/.test(l)));
    const fatal = await Promise.race([relay.fatal, new Promise((r) => setTimeout(() => r("none"), 100))]);
    assert.equal(fatal, "none", "nothing is fatal while the listeners run");
  } finally {
    await relay.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(() => fetch(`http://127.0.0.1:${http}/health`));
  // A deliberate shutdown is not a dead listener.
  const fatal = await Promise.race([relay.fatal, new Promise((r) => setTimeout(() => r("none"), 100))]);
  assert.equal(fatal, "none");
});

Deno.test("startRelay: a taken port is a StartupError that names the address", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const { config: cfg, dir } = await config(
    `[server]\nbind = ""\n[web.http]\nlisten = "127.0.0.1:${port}"\n[auth]\npublic = "anon"`,
  );
  try {
    const err = await startRelay(cfg, capture().logger).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StartupError, `expected StartupError, got ${err}`);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*already in use`));
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});
