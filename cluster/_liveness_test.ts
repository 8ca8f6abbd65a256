import assert from "node:assert/strict";
import { memoryTransportPair } from "../testing/mod.ts";
import { watchLiveness } from "./_liveness.ts";

/** Answer PROBE streams like a relay: read to the FIN, then FIN back. */
async function answerProbes(server: ReturnType<typeof memoryTransportPair>[1], answer: () => boolean) {
  for (let s = await server.acceptBidi(); s !== null; s = await server.acceptBidi()) {
    const stream = s;
    (async () => {
      while ((await stream.recv.read()) !== null) continue;
      if (answer()) await stream.send.close();
    })().catch(() => {});
  }
}

Deno.test("liveness: an answering peer stays alive; a silent one is declared dead within the timeout", async () => {
  const [client, server] = memoryTransportPair();
  let answering = true;
  answerProbes(server, () => answering).catch(() => {});
  const stop = new AbortController();
  let deadAfter = -1;
  let silencedAt = 0;
  watchLiveness(client, {
    intervalMs: 20,
    timeoutMs: 150,
    signal: stop.signal,
    onDead: () => (deadAfter = Date.now() - silencedAt),
  });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(deadAfter, -1, "an answering peer is alive");
  answering = false;
  silencedAt = Date.now();
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(deadAfter >= 100 && deadAfter < 500, `declared dead ${deadAfter} ms after it went silent`);
  stop.abort();
  client.close(0, "");
  server.close(0, "");
});

Deno.test("liveness: stops quietly when the session ends", async () => {
  const [client, server] = memoryTransportPair();
  let dead = false;
  watchLiveness(client, {
    intervalMs: 10,
    timeoutMs: 50,
    signal: new AbortController().signal,
    onDead: () => (dead = true),
  });
  client.close(0, "");
  server.close(0, "");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(dead, false, "a closed session is not reported as an unresponsive peer");
});

Deno.test("liveness: a silent peer whose process is vouched for lives until the hard timeout", async () => {
  const [client, server] = memoryTransportPair();
  answerProbes(server, () => false).catch(() => {});
  const stop = new AbortController();
  const started = Date.now();
  let deadAfter = -1;
  let asked = 0;
  watchLiveness(client, {
    intervalMs: 20,
    timeoutMs: 100,
    hardTimeoutMs: 500,
    signal: stop.signal,
    stillThere: () => Promise.resolve(++asked > 0),
    onDead: () => (deadAfter = Date.now() - started),
  });
  await new Promise((r) => setTimeout(r, 800));
  assert.ok(asked >= 2, `asked ${asked} times`);
  assert.ok(deadAfter >= 450 && deadAfter < 750, `dead after the hard timeout (${deadAfter} ms)`);
  stop.abort();
  client.close(0, "");
  server.close(0, "");
});
