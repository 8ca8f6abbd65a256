/**
 * Cluster settings that cannot work are named at start-up (docs/relay.md §6.1, §6.3), and a
 * dead peer is reported as unreachable rather than as a TLS or listener problem.
 */

import assert from "node:assert/strict";
import {
  clusterPort,
  clusterTest,
  eventually,
  freePort,
  nodes,
  peerUrl,
  relayToml,
  startNode,
  startRelay,
} from "../testing/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Run the relay with `toml` until it exits (it must refuse to start). */
async function refusedStart(toml: string): Promise<{ code: number; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "moq-cluster-config-" });
  try {
    const path = `${dir}/relay.toml`;
    await Deno.writeTextFile(path, toml);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, path],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const out = await child.output();
    clearTimeout(timer);
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function base(port: number): string {
  return relayToml(port, { auth: `public = ""` });
}

Deno.test("mesh that dials without a cluster credential: Error at start-up naming cluster.mesh and cluster.token", async () => {
  const port = freePort();
  const out = await refusedStart(
    base(port) +
      `\n[cluster]\nnode = "http://127.0.0.1:${port}/"\nmesh = true\nconnect = ["http://127.0.0.1:${freePort()}/"]\n`,
  );
  assert.equal(out.code, 1, out.stderr);
  assert.match(out.stderr, /^Error: cluster\.mesh .*\[cluster\] token/m);
});

Deno.test({
  name: "a connect peer without a credential is warned about, naming cluster.connect",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const peer = freePort();
  const relay = await startRelay({ toml: `[cluster]\nconnect = ["http://127.0.0.1:${peer}/"]` });
  try {
    const line = await relay.waitForLog(/cluster\.connect: .* without a cluster credential/, 10_000);
    assert.match(line, /\[cluster\] token/);
  } finally {
    await relay.stop("SIGKILL");
  }
});

clusterTest(
  "a dead peer is reported as unreachable, not as a certificate or listener problem",
  async (kit) => {
    const dead = clusterPort(); // nothing listens here
    const relay = await startNode(kit, { connect: [dead] });
    await eventually(
      "the first failed dial",
      async () => (await nodes(relay)).some((n) => n.node === peerUrl(dead) && n.last_error !== null),
    );
    const [info] = (await nodes(relay)).filter((n) => n.node === peerUrl(dead));
    assert.match(info.last_error ?? "", /^unreachable: nothing accepts connections at 127\.0\.0\.1:\d+/);
    assert.doesNotMatch(info.last_error ?? "", /certificate|listener/);
    await relay.waitForLog(/cluster peer unreachable/, 5_000);
    assert.ok(!relay.logs.some((l) => /certificate\.sha256/.test(l)), "no certificate advice in the log");
  },
);
