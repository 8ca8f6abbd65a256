import assert from "node:assert/strict";
import { RelayStats } from "../relay/mod.ts";
import { HISTORY_INTERVAL_MS, StatsHistory } from "./stats_json.ts";

Deno.test("stats history: keeps the newest `capacity` samples, oldest first", () => {
  const stats = new RelayStats();
  const history = new StatsHistory(stats, 3);
  assert.deepEqual(history.samples(), []);
  for (let t = 1; t <= 5; t++) {
    stats.bytesIn = t * 100;
    stats.framesOut = t;
    history.record(t * 1000);
  }
  const samples = history.samples();
  assert.deepEqual(samples.map((s) => s.time_ms), [3000, 4000, 5000]);
  assert.deepEqual(samples.map((s) => s.bytes_in), [300, 400, 500]);
  assert.deepEqual(samples.map((s) => s.frames_out), [3, 4, 5]);
});

Deno.test("stats history: records once a second while the signal lives, then stops", async () => {
  const stats = new RelayStats();
  const history = new StatsHistory(stats);
  const stop = new AbortController();
  history.start(stop.signal);
  assert.equal(history.samples().length, 1, "a first sample at once");
  await new Promise((r) => setTimeout(r, HISTORY_INTERVAL_MS * 2.5));
  stop.abort();
  const n = history.samples().length;
  assert.ok(n >= 2 && n <= 4, `about one sample a second (got ${n})`);
  await new Promise((r) => setTimeout(r, HISTORY_INTERVAL_MS * 1.5));
  assert.equal(history.samples().length, n, "nothing after abort");
  const aborted = new StatsHistory(stats);
  aborted.start(stop.signal);
  assert.equal(aborted.samples().length, 0, "an aborted signal starts nothing");
});
