import assert from "node:assert/strict";
import { exposeGarbageCollector, NativeMemoryReclaimer, StreamRegistry } from "./streams.ts";
import { sleep } from "../../util/mod.ts";

async function until(what: string, check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

Deno.test("reclaimer: one collection after a close, none while nothing closes", async () => {
  let runs = 0;
  const reclaimer = new NativeMemoryReclaimer({ collector: () => () => runs++, delayMs: 30 });
  await sleep(60);
  assert.equal(runs, 0);
  reclaimer.connectionClosed();
  assert.equal(runs, 0, "never synchronously");
  await until("one collection", () => runs === 1);
  await sleep(100);
  assert.equal(runs, 1, "no further collection without closes");
  assert.equal(reclaimer.collections, 1);
});

Deno.test("reclaimer: closes during the wait get one follow-up collection, rate-limited", async () => {
  let runs = 0;
  // When each collection ran, taken inside the collector (polling would see it late).
  const at: number[] = [];
  const reclaimer = new NativeMemoryReclaimer({
    collector: () => () => {
      at.push(performance.now());
      runs++;
    },
    delayMs: 40,
  });
  const start = performance.now();
  for (let i = 0; i < 20; i++) reclaimer.connectionClosed();
  await sleep(10);
  reclaimer.connectionClosed();
  await until("the first collection", () => runs === 1);
  assert.ok(at[0] - start >= 39, "not before the delay");
  await until("a follow-up for the sessions that closed while waiting", () => runs === 2);
  assert.ok(at[1] - at[0] >= 39, "collections are at least the delay apart");
  await sleep(150);
  assert.equal(runs, 2);
});

Deno.test("reclaimer: disabled when no collector is available; registries report to it", async () => {
  let asked = 0;
  const off = new NativeMemoryReclaimer({ collector: () => (asked++, null), delayMs: 10 });
  off.connectionClosed();
  off.connectionClosed();
  await sleep(50);
  assert.equal(off.collections, 0);
  assert.equal(asked, 1, "the collector is looked up once");

  let runs = 0;
  const on = new NativeMemoryReclaimer({ collector: () => () => runs++, delayMs: 10 });
  let terminated = 0;
  const registry = new StreamRegistry(on);
  registry.add({ terminate: () => terminated++ });
  registry.terminateAll();
  assert.equal(terminated, 1);
  assert.equal(registry.size, 0);
  await until("the registry's close to be reclaimed", () => runs === 1);
});

Deno.test("reclaimer: the runtime's garbage collector can be exposed and run", () => {
  const gc = exposeGarbageCollector();
  assert.ok(gc, "node:v8 --expose-gc works on this Deno");
  gc();
});
