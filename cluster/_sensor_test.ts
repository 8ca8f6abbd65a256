import assert from "node:assert/strict";
import { sleep } from "../util/mod.ts";
import { watchListener } from "./_sensor.ts";

function listen(): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0 });
}

Deno.test("sensor: a listener that goes away is reported dead at once", async () => {
  const listener = listen();
  const port = (listener.addr as Deno.NetAddr).port;
  const stop = new AbortController();
  let deadAt = 0;
  const armed = watchListener({ hostname: "127.0.0.1", port }, {
    signal: stop.signal,
    onDead: () => (deadAt = Date.now()),
  });
  const conn = await listener.accept();
  assert.equal(await armed, true, "armed on a listening port");
  await sleep(100);
  assert.equal(deadAt, 0, "alive while the listener is there");
  // The peer process dies: its connections and its listener close together.
  const diedAt = Date.now();
  listener.close();
  conn.close();
  await sleep(300);
  assert.ok(deadAt > 0 && deadAt - diedAt < 250, `reported dead ${deadAt - diedAt} ms after`);
  stop.abort();
});

Deno.test("sensor: a connection the peer's server closes on its own is replaced, not reported", async () => {
  const listener = listen();
  const port = (listener.addr as Deno.NetAddr).port;
  const stop = new AbortController();
  let dead = false;
  let accepted = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      // An idle-request timeout closing the connection (slower than a quick close).
      setTimeout(() => conn.close(), 1_100);
    }
  })().catch(() => {});
  assert.equal(
    await watchListener({ hostname: "127.0.0.1", port }, {
      signal: stop.signal,
      onDead: () => (dead = true),
    }),
    true,
  );
  await sleep(1_500);
  assert.equal(dead, false, "a live listener is not reported dead");
  assert.ok(accepted >= 2, `the sensor reconnected (${accepted} connections)`);
  stop.abort();
  listener.close();
  await serving;
});

Deno.test("sensor: not armed when nothing listens", async () => {
  const listener = listen();
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  let dead = false;
  const armed = await watchListener({ hostname: "127.0.0.1", port }, {
    signal: new AbortController().signal,
    onDead: () => (dead = true),
  });
  assert.equal(armed, false);
  assert.equal(dead, false, "an unarmed sensor reports nothing");
});
