import assert from "node:assert/strict";
import { sleep } from "./sleep.ts";

Deno.test("sleep waits at least the given time", async () => {
  const start = performance.now();
  await sleep(30);
  assert.ok(performance.now() - start >= 25);
});

Deno.test("sleep ends at once when its signal aborts, and never rejects", async () => {
  const controller = new AbortController();
  const start = performance.now();
  const pending = sleep(60_000, controller.signal);
  controller.abort();
  await pending;
  assert.ok(performance.now() - start < 5_000);
  await sleep(60_000, controller.signal); // already aborted: resolves at once
});
