import assert from "node:assert/strict";
import {
  Backoff,
  BACKOFF_INITIAL_MS,
  BACKOFF_MAX_MS,
  BACKOFF_RESET_AFTER_MS,
  REJECTED_BACKOFF_MAX_MS,
} from "./_backoff.ts";

const failed = { lastedMs: 0, rejected: false };
const refused = { lastedMs: 0, rejected: true };

Deno.test("backoff doubles from 1 s to the 10 s ceiling, with 50–100 % jitter", () => {
  const full = new Backoff(() => 0.999_999);
  const delays = Array.from({ length: 7 }, () => Math.round(full.next(failed)));
  assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  const half = new Backoff(() => 0);
  assert.deepEqual([half.next(failed), half.next(failed), half.next(failed)], [500, 1_000, 2_000]);
});

Deno.test("backoff restarts only after a session lasted 10 s", () => {
  const b = new Backoff(() => 0.999_999);
  for (let i = 0; i < 6; i++) b.next(failed);
  assert.equal(b.currentMs, BACKOFF_MAX_MS);
  assert.equal(Math.round(b.next({ lastedMs: BACKOFF_RESET_AFTER_MS - 1, rejected: false })), BACKOFF_MAX_MS);
  assert.equal(Math.round(b.next({ lastedMs: BACKOFF_RESET_AFTER_MS, rejected: false })), BACKOFF_INITIAL_MS);
});

Deno.test("a peer that refuses us is backed off up to one minute, then normal again", () => {
  const b = new Backoff(() => 0.999_999);
  const delays = Array.from({ length: 9 }, () => Math.round(b.next(refused)));
  assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  assert.equal(b.currentMs, REJECTED_BACKOFF_MAX_MS);
  // The credential was fixed but the peer is merely down now: back under the normal ceiling.
  assert.equal(Math.round(b.next(failed)), BACKOFF_MAX_MS);
});
