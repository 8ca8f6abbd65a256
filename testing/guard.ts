/**
 * The witness of an attack test: while the attack runs, a legitimate `@moq/lite` 0.2.2
 * publisher/subscriber pair streams through the relay, `/health` on the internal listener is
 * polled, and the relay's resident memory is sampled from `/proc/<pid>/status`. {@link Guard.verify}
 * asserts that the relay stayed responsive (every `/health` within 1 s), alive, under its memory
 * bound, and that the pair's groups kept arriving byte-exact.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { RelayProcess } from "./harness.ts";
import { sleep, within } from "./timing.ts";
import { connect, payload, publish, readGroup, subscribe, writeGroup } from "./moq.ts";

/** Longest acceptable `/health` answer while under attack. */
export const HEALTH_DEADLINE_MS = 1_000;
/** How often the guard writes a group, polls `/health` and samples memory. */
const TICK_MS = 100;

/** The relay's resident set in MiB, or null once the process is gone. */
export async function rssMiB(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    if (/State:\s+Z/.test(status)) return null;
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function frames(g: number): Uint8Array[] {
  return [payload(700 + (g % 5) * 300, g), payload(40, g + 10_000)];
}

/** A running witness; call {@link verify} once the attack is over. */
export class Guard {
  readonly relay: RelayProcess;
  readonly rssLimitMiB: number;
  readonly failures: string[] = [];
  /** Witness groups that did not arrive (reset or timed out). */
  readonly lost: string[] = [];
  maxRssMiB = 0;
  maxHealthMs = 0;
  healthChecks = 0;
  sent = 0;
  received = 0;
  #stop = false;
  #loops: Promise<void>[] = [];
  #close: () => void = () => {};

  private constructor(relay: RelayProcess, rssLimitMiB: number) {
    this.relay = relay;
    this.rssLimitMiB = rssLimitMiB;
  }

  /** Start the pair and the probes. The relay must have an internal listener. */
  static async start(relay: RelayProcess, rssLimitMiB: number): Promise<Guard> {
    assert.ok(relay.internalPort, "the guard needs the relay's internal listener");
    const g = new Guard(relay, rssLimitMiB);
    const pubConn = await connect(relay.port, "anon");
    const subConn = await connect(relay.port, "anon");
    g.#close = () => {
      pubConn.close();
      subConn.close();
    };
    const pub = await publish(pubConn, "guard");
    const track = await subscribe(subConn, "guard", "witness");
    const upstream = await pub.request();
    g.#loops.push((async () => {
      while (!g.#stop) {
        writeGroup(upstream, frames(g.sent));
        g.sent++;
        await sleep(TICK_MS);
      }
    })());
    g.#loops.push((async () => {
      while (!g.#stop) {
        let got;
        try {
          got = await readGroup(track, 2_000);
        } catch (err) {
          // Every witness group must arrive: the pair is light and never falls behind.
          if (!g.#stop) {
            g.lost.push((err as Error).message);
            g.failures.push(`witness group lost: ${(err as Error).message}`);
          }
          await sleep(TICK_MS);
          continue;
        }
        if (!got) break;
        const want = frames(got.sequence);
        if (
          got.frames.length !== want.length ||
          got.frames.some((f, i) => f.length !== want[i].length || f.some((b, j) => b !== want[i][j]))
        ) {
          g.failures.push(`witness group ${got.sequence} arrived altered`);
        }
        g.received++;
      }
    })());
    g.#loops.push((async () => {
      while (!g.#stop) {
        const start = performance.now();
        try {
          const res = await fetch(`${relay.internalUrl}/health`, {
            signal: AbortSignal.timeout(HEALTH_DEADLINE_MS),
          });
          await res.body?.cancel();
          if (!res.ok) g.failures.push(`/health answered ${res.status}`);
        } catch (err) {
          g.failures.push(`/health did not answer within ${HEALTH_DEADLINE_MS} ms: ${(err as Error).name}`);
        }
        g.maxHealthMs = Math.max(g.maxHealthMs, performance.now() - start);
        g.healthChecks++;
        const rss = await rssMiB(relay.child.pid);
        if (rss === null) g.failures.push("relay process is gone");
        else g.maxRssMiB = Math.max(g.maxRssMiB, rss);
        await sleep(TICK_MS);
      }
    })());
    // The pair works before the attack starts.
    const deadline = Date.now() + 10_000;
    while (g.received < 2) {
      if (Date.now() > deadline) throw new Error("the witness pair did not start streaming");
      await sleep(20);
    }
    return g;
  }

  /**
   * Let the witness run `settleMs` more, then assert: the relay is alive, `/health` always answered
   * within 1 s, RSS stayed under the bound, and groups kept arriving byte-exact after the attack.
   */
  async verify(settleMs = 1_000): Promise<void> {
    const before = this.received;
    await sleep(settleMs);
    const deadline = Date.now() + 5_000;
    while (this.received < before + 3 && Date.now() < deadline) await sleep(50);
    this.#stop = true;
    await within(5_000, "guard loops to stop", Promise.allSettled(this.#loops));
    this.#close();
    const rss = await rssMiB(this.relay.child.pid);
    console.error(
      `guard: ${this.sent} groups sent, ${this.received} received (${this.lost.length} lost), /health max ${
        this.maxHealthMs.toFixed(0)
      } ms over ${this.healthChecks} checks, RSS max ${
        this.maxRssMiB.toFixed(0)
      } MiB (bound ${this.rssLimitMiB}) ${this.lost.slice(0, 3).join("; ")}`,
    );
    assert.ok(rss !== null, "the relay process is alive");
    assert.deepEqual(this.failures.slice(0, 5), [], "the relay stayed responsive and correct");
    assert.ok(this.received >= before + 3, `witness groups kept arriving (${before} → ${this.received})`);
    assert.ok(
      this.maxRssMiB < this.rssLimitMiB,
      `relay RSS ${this.maxRssMiB.toFixed(0)} MiB stays under ${this.rssLimitMiB} MiB`,
    );
  }
}
