import assert from "node:assert/strict";
import { Track } from "../relay/mod.ts";
import {
  FetchLimiter,
  MAX_CONCURRENT_FETCHES_PER_IP,
  MAX_FETCH_UPSTREAM_TRACKS_PER_IP,
} from "./_fetch_route.ts";

function track(name: string): Track {
  return new Track("b", name, { groupTtlMs: 1000, onBytes: () => {} });
}

Deno.test("fetch limiter: concurrent requests are capped per client IP and released once", () => {
  const limiter = new FetchLimiter();
  const leaves = [];
  for (let i = 0; i < MAX_CONCURRENT_FETCHES_PER_IP; i++) leaves.push(limiter.enter("10.0.0.1")!);
  assert.equal(limiter.enter("10.0.0.1"), undefined, "one more from the same client is refused");
  assert.ok(limiter.enter("10.0.0.2"), "another client is not affected");
  leaves[0]();
  leaves[0](); // idempotent
  const again = limiter.enter("10.0.0.1");
  assert.ok(again, "a finished request frees its slot");
  assert.equal(limiter.enter("10.0.0.1"), undefined);
});

Deno.test("fetch limiter: tracks opened upstream are capped per client until they close", () => {
  const limiter = new FetchLimiter();
  const leave = limiter.enter("c")!;
  const tracks = [];
  for (let i = 0; i < MAX_FETCH_UPSTREAM_TRACKS_PER_IP; i++) {
    assert.ok(limiter.mayOpen("c"));
    const t = track(`t${i}`);
    limiter.opened("c", t);
    tracks.push(t);
  }
  assert.equal(limiter.mayOpen("c"), false);
  tracks[0].close(null);
  assert.equal(limiter.mayOpen("c"), true, "a closed track no longer counts");
  leave();
  for (const t of tracks) t.close(null);
  assert.equal(limiter.mayOpen("c"), true);
  assert.equal(limiter.size, 0, "an idle client with no open track is forgotten");
});
