/**
 * Attack tests for cluster links against real relay processes (project issue 13):
 *
 * - gossip cannot redirect the cluster credential: a node advertised under `.internal/origins/`
 *   over `ws://` (clear text) or on a host that is not allow-listed is never dialed, so the
 *   attacker's listener never sees the token;
 * - dial errors never leak the credential: a link to a refusing peer fails with errors that carry
 *   the dialed URL, yet no token appears on stderr, in `/nodes`, `/metrics` or any endpoint.
 */

import assert from "node:assert/strict";
import { connect, freePort, makeKit, publish, type RelayProcess, sleep, startRelay } from "../testing/mod.ts";

/** A TCP listener that records every byte sent to it (answers nothing useful). */
function trap(): { port: number; received: () => string; connections: () => number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let text = "";
  let count = 0;
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      count++;
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(4096);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            text += new TextDecoder().decode(buf.subarray(0, n));
          }
        } catch {
          // reset
        }
        conns.delete(conn);
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    received: () => text,
    connections: () => count,
    close: () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
    },
  };
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  return await res.text();
}

async function allEndpoints(relay: RelayProcess): Promise<string> {
  const bodies = await Promise.all([
    fetchText(`${relay.internalUrl}/nodes`),
    fetchText(`${relay.internalUrl}/metrics`),
    fetchText(`${relay.internalUrl}/health`),
    fetchText(`${relay.httpUrl}/health`),
    fetchText(`${relay.httpUrl}/announced/`),
    fetchText(`${relay.httpUrl}/certificate.sha256`),
    fetchText(`${relay.httpUrl}/`),
  ]);
  return bodies.join("\n");
}

function signatureOf(token: string): string {
  return token.split(".")[2];
}

Deno.test({
  name: "gossip cannot redirect the cluster credential to a ws:// or non-allow-listed node",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const kit = await makeKit();
  const ws = trap();
  const other = trap();
  const port = freePort();
  const relay = await startRelay({
    port,
    internal: true,
    auth: kit.auth,
    toml: [
      `[cluster]`,
      `node = "http://127.0.0.1:${port}/"`,
      `mesh = true`,
      `token = "${kit.tokenFile}"`,
    ].join("\n"),
  });
  try {
    // Anyone able to write .internal/origins/ (here: a holder of the cluster credential, the
    // strongest case) advertises nodes that point at listeners the attacker controls.
    const attacker = await connect(port, "", `?jwt=${kit.token}`);
    await publish(attacker, `.internal/origins/ws://127.0.0.1:${ws.port}`);
    await publish(attacker, `.internal/origins/http://localhost:${other.port}`);
    await relay.waitForLog(/not dialing gossip node|dialing cluster peer/, 10_000).catch(() => "");
    await sleep(3_000);
    const got = ws.received() + other.received();
    assert.ok(
      !got.includes(signatureOf(kit.token)),
      `the cluster token reached the attacker:\n${got.slice(0, 400)}`,
    );
    assert.equal(ws.connections(), 0, "the ws:// gossip target was dialed");
    assert.equal(other.connections(), 0, "the non-allow-listed gossip target was dialed");
    const nodes = JSON.parse(await fetchText(`${relay.internalUrl}/nodes`)).nodes as {
      node: string;
      state: string;
      last_error: string | null;
    }[];
    for (const target of [`ws://127.0.0.1:${ws.port}/`, `http://localhost:${other.port}/`]) {
      const entry = nodes.find((n) => n.node === target);
      assert.ok(entry, `${target} listed: ${JSON.stringify(nodes)}`);
      assert.equal(entry.state, "advertised");
      assert.match(entry.last_error ?? "", /not dialed/);
    }
    attacker.close();
  } finally {
    ws.close();
    other.close();
    await relay.stop("SIGKILL");
    await Deno.remove(kit.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "a failing cluster link never leaks the token to stderr, /nodes, /metrics or any endpoint",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const kit = await makeKit();
  const refused = freePort(); // nothing listens: connection refused
  const hangup = trap(); // accepts and reads, never answers the upgrade
  const relay = await startRelay({
    internal: true,
    auth: kit.auth,
    toml: [
      `[cluster]`,
      `connect = ["ws://127.0.0.1:${refused}/", "wss://127.0.0.1:${refused}/x", "ws://127.0.0.1:${hangup.port}/?jwt=${kit.token}"]`,
      `token = "${kit.tokenFile}"`,
      `[client]`,
      `timeout = "1s"`,
    ].join("\n"),
  });
  try {
    await relay.waitForLog(/cluster dial failed/, 15_000);
    // Let every link fail at least once more (backoff 1 s → 2 s).
    await sleep(3_500);
    const secret = signatureOf(kit.token);
    const endpoints = await allEndpoints(relay);
    const nodes = JSON.parse(await fetchText(`${relay.internalUrl}/nodes`)).nodes as {
      last_error: string | null;
    }[];
    assert.ok(nodes.some((n) => n.last_error !== null), `some dial failed: ${JSON.stringify(nodes)}`);
    assert.ok(!endpoints.includes(secret), `an endpoint served the token:\n${endpoints.slice(0, 2000)}`);
    assert.ok(!endpoints.includes(kit.token));
    const logs = relay.logs.join("\n");
    assert.ok(!logs.includes(secret), `the log carries the token:\n${logs.slice(0, 3000)}`);
  } finally {
    hangup.close();
    const status = await relay.stop("SIGTERM");
    const logs = relay.logs.join("\n");
    assert.ok(!logs.includes(signatureOf(kit.token)), "the shutdown log carries the token");
    assert.ok(status.code === 0 || status.signal !== null);
    await Deno.remove(kit.dir, { recursive: true }).catch(() => {});
  }
});
