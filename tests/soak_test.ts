/**
 * A very short soak (bench/soak.ts `--seconds 45`): sessions, subscriptions and announces churn
 * against a relay whose cluster peer restarts every 10 s. Asserts that the relay stays alive, that
 * its open fds return to near the baseline once the churn stops, and that its RSS slope stays below
 * a generous bound. The event-loop and failure bounds are loosened: this runs on a loaded machine.
 */

import assert from "node:assert/strict";
import type { SoakSummary } from "../bench/soak.ts";

const SOAK = new URL("../bench/soak.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;

Deno.test({
  name: "soak: 45 s of churn with a flapping cluster peer leaves the relay alive, fds and RSS bounded",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-soak-test-" });
  try {
    const out = `${dir}/soak.json`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        SOAK,
        "--seconds",
        "45",
        "--flap-seconds",
        "10",
        "--loops",
        "3",
        "--out",
        out,
        // Loaded 2-core machine: keep only the leak bounds strict.
        "--max-health-p99-ms",
        "10000",
        "--max-health-max-ms",
        "60000",
        "--max-failure-ratio",
        "0.5",
        // ≈ 50 MiB over the 30 s after the warm-up: catches a leak of ~100 KiB per session.
        "--max-rss-slope",
        "6000",
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const result = await child.output();
    const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    const report = JSON.parse(await Deno.readTextFile(out)) as { summary: SoakSummary };
    const s = report.summary;
    assert.ok(s.relayAlive, `relay died during the soak:\n${text}`);
    assert.ok(s.cyclesOk > 20, `only ${s.cyclesOk} cycles completed:\n${text}`);
    assert.ok(s.peerRestarts >= 2, `the cluster peer restarted ${s.peerRestarts} times`);
    assert.ok(
      s.finalFds <= s.baselineFds + 16,
      `relay holds ${s.finalFds} fds after the churn, baseline ${s.baselineFds}:\n${text}`,
    );
    assert.ok(
      s.rssSlopeMiBPerHour <= s.rssSlopeBoundMiBPerHour,
      `RSS grows ${s.rssSlopeMiBPerHour} MiB/h (bound ${s.rssSlopeBoundMiBPerHour}):\n${text}`,
    );
    assert.equal(result.code, 0, `soak reported violations:\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
