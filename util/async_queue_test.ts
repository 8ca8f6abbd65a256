import assert from "node:assert/strict";
import { AsyncQueue } from "./async_queue.ts";

Deno.test("AsyncQueue hands items to waiters in order and null after close", async () => {
  const queue = new AsyncQueue<number>();
  const first = queue.next();
  queue.push(1);
  queue.push(2);
  assert.equal(await first, 1);
  assert.equal(queue.size, 1);
  const waiting = queue.next();
  assert.equal(await waiting, 2);
  const pending = queue.next();
  queue.push(3);
  queue.push(4);
  assert.equal(await pending, 3);
  assert.deepEqual(queue.close(), [4]);
  assert.equal(await queue.next(), null);
  assert.equal(queue.push(5), false);
});
