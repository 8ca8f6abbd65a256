/**
 * Attack: a raw WebSocket client on the `webtransport` framing sends RESET_STREAM frames for
 * never-opened peer stream ids, each one skipping 10 000 ids. Every skipped id is still openable,
 * so the relay must remember it; before the fix each one cost a Set entry and the per-jump limit
 * never tripped (1 200 frames took the relay from ~63 to ~630 MiB RSS). The relay must close that
 * session once the total of skipped ids passes its cap, while a legitimate `@moq/lite` pair keeps
 * streaming byte-exact and `/health` keeps answering.
 */

import assert from "node:assert/strict";
import {
  connect,
  e2e,
  payload,
  publish,
  RawWebSocket,
  readGroup,
  sleep,
  subscribe,
  within,
  writeGroup,
} from "../testing/mod.ts";
import { encodeVarint } from "../codec/mod.ts";

/** RESET_STREAM frames the attacker sends. */
const ATTACK_FRAMES = 1_200;
/** Stream ids each frame skips (the old per-jump limit allowed exactly this many). */
const IDS_SKIPPED_PER_FRAME = 10_000;
/** How much the relay's RSS may grow during the attack (the unfixed relay grew ~490 MiB). */
const MAX_RSS_GROWTH_MIB = 120;
/** `/health` must answer within this while under attack. */
const HEALTH_DEADLINE_MS = 1_000;
const GROUPS = 12;
/** RSS is sampled this many times, this far apart, after the attack; the peak counts. */
const RSS_SAMPLES = 8;
const RSS_SAMPLE_INTERVAL_MS = 250;

/** The relay process's resident set size in MiB, from /proc/<pid>/status. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  assert.ok(match, "VmRSS line in /proc/<pid>/status");
  return Number(match[1]) / 1024;
}

/** `webtransport`-framing RESET_STREAM (type 0x04, stream id, error code). */
function resetStream(id: number, code: number): Uint8Array {
  return Uint8Array.from([0x04, ...encodeVarint(id), ...encodeVarint(code)]);
}

e2e(
  "attack: RESET_STREAM id gaps are capped in total; the session closes, others are unharmed",
  async (relay) => {
    // A legitimate pair first, so the attack runs while real data flows.
    const pubConn = await connect(relay.port, "anon");
    const subConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "victim");
    const track = await subscribe(subConn, "victim", "video");
    const upstream = await pub.request();
    const rssBefore = await rssMiB(relay.child.pid);

    const attacker = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(attacker instanceof RawWebSocket, "attacker upgraded");
    const closed = attacker.untilClosed(15_000).then(
      (result) => ({ closed: true, close: result.close, binary: result.binary }),
      (error) => ({ closed: /reset|broken pipe|closed/i.test(String(error)), close: null, binary: [] }),
    );

    // Stream while attacking: groups go out between bursts of RESET_STREAM frames.
    const sent: Uint8Array[][] = [];
    let sentFrames = 0;
    for (let i = 0; i < ATTACK_FRAMES; i++) {
      // Client uni stream index (i+1)·10 001 − 1: each frame skips exactly 10 000 unused ids.
      const index = (i + 1) * (IDS_SKIPPED_PER_FRAME + 1) - 1;
      try {
        await attacker.send(resetStream(index * 4 + 2, 0));
        sentFrames++;
      } catch {
        break; // the relay closed the connection: the rest cannot be sent
      }
      if (i % 100 === 0 && sent.length < GROUPS) {
        const frames = [payload(3_000, sent.length), payload(20_000, 100 + sent.length)];
        sent.push(frames);
        writeGroup(upstream, frames);
      }
    }
    while (sent.length < GROUPS) {
      const frames = [payload(3_000, sent.length), payload(20_000, 100 + sent.length)];
      sent.push(frames);
      writeGroup(upstream, frames);
      await sleep(10);
    }

    // /health answers promptly while (or right after) the attack runs.
    const started = performance.now();
    const health = await fetch(`${relay.httpUrl}/health`, { signal: AbortSignal.timeout(5_000) }).catch(
      (error) => assert.fail(`/health did not answer within 5 s under attack: ${error}`),
    );
    await health.body?.cancel();
    const healthMs = performance.now() - started;
    assert.equal(health.status, 200);
    assert.ok(healthMs < HEALTH_DEADLINE_MS, `/health took ${healthMs.toFixed(0)} ms under attack`);

    // Peak RSS while the relay works through whatever it still has queued from the attacker.
    let rssAfter = 0;
    for (let i = 0; i < RSS_SAMPLES; i++) {
      rssAfter = Math.max(rssAfter, await rssMiB(relay.child.pid));
      await sleep(RSS_SAMPLE_INTERVAL_MS);
    }
    console.error(
      `attack: ${sentFrames} RESET_STREAM frames sent; relay RSS ${rssBefore.toFixed(0)} → ${
        rssAfter.toFixed(0)
      } MiB; /health ${healthMs.toFixed(0)} ms`,
    );
    assert.ok(
      rssAfter - rssBefore < MAX_RSS_GROWTH_MIB,
      `relay RSS grew ${(rssAfter - rssBefore).toFixed(0)} MiB (limit ${MAX_RSS_GROWTH_MIB})`,
    );

    // The attacker's session was closed for exceeding a resource limit (code 11).
    const outcome = await within(10_000, "attacker session closed", closed);
    assert.ok(outcome.closed, "the relay closed the attacker's connection");
    const line = await relay.waitForLog(/peer misbehaved.*stream ids unused/, 10_000);
    assert.match(line, /\bcode=11\b/, "closed with code 11 (bounds exceeded)");
    assert.equal(
      relay.logs.filter((l) => /peer misbehaved/.test(l)).length,
      1,
      "only the attacker's session was closed",
    );

    // The legitimate pair got every group byte-exact.
    for (let g = 0; g < GROUPS; g++) {
      const got = await readGroup(track, 15_000);
      assert.ok(got, `group ${g} arrived`);
      assert.equal(got.sequence, g);
      assert.equal(got.frames.length, 2);
      for (let f = 0; f < 2; f++) assert.deepEqual(got.frames[f], sent[g][f], `group ${g} frame ${f}`);
    }
    try {
      attacker.conn.close();
    } catch {
      // already closed by the relay
    }
    pubConn.close();
    subConn.close();
  },
);
