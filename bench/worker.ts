/**
 * A benchmark client process: `deno run -A bench/worker.ts`. The first stdin line is a JSON
 * {@link WorkerSpec}; later lines are commands (`{"id":1,"cmd":"mark"}`); replies and events are
 * JSON lines on stdout (`{"id":1,...}` / `{"event":"ready"}`).
 *
 * Roles: `publisher` (one media-like track), `subscribers` (many sessions, counting bytes and
 * latencies), `idle` (many sessions that do nothing, optionally subscribed), `churn` (loops of
 * connect → subscribe → receive → disconnect).
 *
 * @module
 */

import type { TransportSession } from "../transport/mod.ts";
import { BenchPublisher, BenchSubscriber, connect, type Target } from "./client.ts";
import { FRAMES_PER_GROUP, FRAMES_PER_SECOND, frameSize } from "./media.ts";
import { sleep } from "../util/mod.ts";
import { readLines } from "../testing/bytes.ts";

/** What a worker process does. */
export type WorkerSpec =
  | { role: "publisher"; target: Target; path: string }
  | {
    role: "subscribers";
    target: Target;
    path: string;
    track: string;
    count: number;
    /** Report `{"event":"seq","min":n}` as the lowest ended group sequence across sessions grows. */
    progress?: boolean;
    /** How many of the sessions read slowly, and at what rate (bytes/s). */
    slowCount?: number;
    slowBytesPerSecond?: number;
  }
  | { role: "idle"; target: Target; path: string; track: string; count: number; subscribe: boolean }
  | { role: "churn"; target: Target; path: string; track: string; concurrency: number };

/** A command sent to a worker. */
export interface WorkerCommand {
  id?: number;
  cmd: string;
  [key: string]: unknown;
}

const encoder = new TextEncoder();

function emit(message: Record<string, unknown>): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));
}

/** The non-blank lines of `stream` (the parent's spec, then its commands). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  for await (const line of readLines(stream)) if (line.trim()) yield line;
}

/** Run `task` over `items` with at most `limit` in flight; returns the failures. */
/**
 * Sessions a worker connects at once. Over TCP every client comes from 127.0.0.1 (no local address
 * to pick), and the relay lets only 8 qmux handshakes wait per peer address (the 9th evicts the
 * oldest); two workers × 4 stay within that.
 */
function connectConcurrency(target: Target): number {
  return target.transport === "tcp" ? 4 : 16;
}

async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  let failures = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch {
        failures++;
      }
    }
  });
  await Promise.all(runners);
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Publisher

/** What the publisher sends besides its rate. */
export interface PublishLoad {
  /** Every frame this size (payload bytes); 0 or absent: the media-like sizes of media.ts. */
  frameBytes?: number;
  /** Publish as fast as the transport accepts, ignoring the closed-loop credit (overload). */
  openLoop?: boolean;
}

class PublisherRole {
  readonly #pub: BenchPublisher;
  #credit = -1;
  #creditWaiters: Array<() => void> = [];

  constructor(pub: BenchPublisher) {
    this.#pub = pub;
  }

  credit(upTo: number): void {
    if (upTo <= this.#credit) return;
    this.#credit = upTo;
    for (const w of this.#creditWaiters.splice(0)) w();
  }

  async #waitCredit(sequence: number, deadline: number): Promise<boolean> {
    while (this.#credit < sequence) {
      if (performance.now() > deadline) return false;
      await new Promise<void>((resolve) => {
        this.#creditWaiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return true;
  }

  /**
   * Publish for `durationMs`: paced at `rate` × the nominal frame rate, or (rate 0) closed-loop,
   * starting group `g` only once credit reached `g`.
   */
  async run(
    rate: number,
    durationMs: number,
    startSequence: number,
    load: PublishLoad = {},
  ): Promise<Record<string, number>> {
    const pub = this.#pub;
    const start = performance.now();
    const deadline = start + durationMs;
    const frameIntervalMs = rate > 0 ? 1000 / (FRAMES_PER_SECOND * rate) : 0;
    const fixedBytes = load.frameBytes ?? 0;
    let bytes = 0, frames = 0, groups = 0, skipped = 0;
    let n = 0;
    for (;;) {
      const sequence = startSequence + Math.floor(n / FRAMES_PER_GROUP);
      if (rate > 0) {
        const due = start + n * frameIntervalMs;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
      } else if (load.openLoop) {
        // Overload: no pacing and no credit, only the transport's own backpressure.
        if (n % (FRAMES_PER_GROUP * 8) === 0) await sleep(0);
      } else if (!(await this.#waitCredit(sequence, deadline))) {
        break;
      }
      if (performance.now() >= deadline) break;
      const send = await pub.openGroup(sequence).catch(() => null);
      if (!send) {
        // Nobody subscribed (relay mode): keep the schedule.
        skipped++;
        n += FRAMES_PER_GROUP;
        if (rate === 0) await sleep(10);
        continue;
      }
      groups++;
      try {
        for (let i = 0; i < FRAMES_PER_GROUP; i++) {
          if (i > 0 && rate > 0) {
            const due = start + n * frameIntervalMs;
            const wait = due - performance.now();
            if (wait > 1) await sleep(wait);
          }
          const size = fixedBytes > 0 ? fixedBytes : frameSize(sequence, i);
          await pub.writeFrame(send, size);
          bytes += size;
          frames++;
          n++;
        }
        await send.close();
      } catch {
        // The relay or a raw server stopped this group: skip to the next one.
        n = (Math.floor(n / FRAMES_PER_GROUP) + 1) * FRAMES_PER_GROUP;
        send.reset(0);
      }
    }
    return {
      bytes,
      frames,
      groups,
      skipped,
      nextSequence: startSequence + Math.ceil(n / FRAMES_PER_GROUP),
      elapsedMs: performance.now() - start,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Roles

async function runPublisher(
  spec: Extract<WorkerSpec, { role: "publisher" }>,
  commands: AsyncGenerator<string>,
) {
  const session = await connect(spec.target);
  const pub = new BenchPublisher(session, spec.target.mode, spec.path);
  await pub.announced;
  emit({ event: "ready" });
  const role = new PublisherRole(pub);
  let sequence = 0;
  for await (const line of commands) {
    const c = JSON.parse(line) as WorkerCommand;
    if (c.cmd === "credit") role.credit(c.upTo as number);
    else if (c.cmd === "waitSubscribed") {
      pub.subscribed().then(() => emit({ id: c.id, subscriptions: pub.subscriptions }));
    } else if (c.cmd === "run") {
      const load = { frameBytes: c.frameBytes as number | undefined, openLoop: c.openLoop === true };
      role.run(c.rate as number, c.durationMs as number, sequence, load).then((result) => {
        sequence = result.nextSequence;
        emit({ id: c.id, ...result });
      });
    } else if (c.cmd === "stop") break;
  }
  pub.close();
}

async function runSubscribers(
  spec: Extract<WorkerSpec, { role: "subscribers" }>,
  commands: AsyncGenerator<string>,
) {
  const subs: BenchSubscriber[] = [];
  const slow: boolean[] = [];
  const slowCount = spec.slowCount ?? 0;
  let reportedMin = -1;
  const reportProgress = () => {
    if (!spec.progress || subs.length < spec.count) return;
    let min = Infinity;
    for (const s of subs) min = Math.min(min, s.lastEndedSequence);
    if (min > reportedMin) {
      reportedMin = min;
      emit({ event: "seq", min });
    }
  };
  const failures = await pool([...Array(spec.count).keys()], connectConcurrency(spec.target), async (i) => {
    const session = await connect(spec.target);
    const sub = new BenchSubscriber(session, {
      mode: spec.target.mode,
      path: spec.path,
      track: spec.track,
      readBytesPerSecond: i < slowCount ? spec.slowBytesPerSecond : 0,
    });
    sub.onGroupEnd = reportProgress;
    subs.push(sub);
    slow.push(i < slowCount);
    await sub.subscribe();
  });
  emit({ event: "ready", sessions: subs.length, failures });
  for await (const line of commands) {
    const c = JSON.parse(line) as WorkerCommand;
    if (c.cmd === "mark") {
      const latencies: number[] = [];
      for (const s of subs) {
        if (s.latencies) { for (const l of s.latencies) latencies.push(Math.round(l * 100) / 100); }
        s.latencies = c.record ? [] : null;
      }
      emit({
        id: c.id,
        t: performance.timeOrigin + performance.now(),
        bytes: subs.map((s) => s.bytes),
        slow,
        frames: subs.map((s) => s.frames),
        groupsEnded: subs.map((s) => s.groupsEnded),
        groupsComplete: subs.map((s) => s.groupsComplete),
        groupsWhole: subs.map((s) => s.groupsWhole),
        errors: subs.reduce((n, s) => n + s.errors, 0),
        latencies,
      });
    } else if (c.cmd === "stop") break;
  }
  for (const s of subs) s.close();
}

async function runIdle(spec: Extract<WorkerSpec, { role: "idle" }>, commands: AsyncGenerator<string>) {
  const sessions: TransportSession[] = [];
  const failures = await pool([...Array(spec.count).keys()], connectConcurrency(spec.target), async () => {
    const session = await connect(spec.target);
    sessions.push(session);
    if (spec.subscribe) {
      const sub = new BenchSubscriber(session, {
        mode: spec.target.mode,
        path: spec.path,
        track: spec.track,
      });
      await sub.subscribe();
    } else if (spec.target.mode === "relay") {
      // Hold (and drain) whatever the relay opens, like a client that publishes nothing.
      new BenchSubscriber(session, { mode: spec.target.mode, path: spec.path, track: spec.track });
    }
  });
  emit({ event: "ready", sessions: sessions.length, failures });
  for await (const line of commands) {
    const c = JSON.parse(line) as WorkerCommand;
    if (c.cmd === "stop") break;
  }
  for (const s of sessions) s.close(0, "bench over");
}

async function churnOnce(spec: Extract<WorkerSpec, { role: "churn" }>): Promise<number> {
  const session = await connect(spec.target);
  try {
    const sub = new BenchSubscriber(session, { mode: spec.target.mode, path: spec.path, track: spec.track });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        (async () => {
          await sub.subscribe();
          for (let i = 0; i < 3; i++) await sub.nextFrame();
        })(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no frames within 5 s")), 5_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return sub.bytes;
  } finally {
    session.close(0, "churn");
    await session.closed;
  }
}

async function runChurn(spec: Extract<WorkerSpec, { role: "churn" }>, commands: AsyncGenerator<string>) {
  emit({ event: "ready" });
  for await (const line of commands) {
    const c = JSON.parse(line) as WorkerCommand;
    if (c.cmd === "run") {
      const deadline = performance.now() + (c.durationMs as number);
      let cycles = 0, failures = 0, bytes = 0;
      await Promise.all(Array.from({ length: spec.concurrency }, async () => {
        while (performance.now() < deadline) {
          try {
            bytes += await churnOnce(spec);
            cycles++;
          } catch {
            failures++;
            await sleep(100);
          }
        }
      }));
      emit({ id: c.id, cycles, failures, bytes });
    } else if (c.cmd === "stop") break;
  }
}

async function main(): Promise<void> {
  const input = lines(Deno.stdin.readable);
  const first = await input.next();
  if (first.done) return;
  const spec = JSON.parse(first.value) as WorkerSpec;
  try {
    switch (spec.role) {
      case "publisher":
        await runPublisher(spec, input);
        break;
      case "subscribers":
        await runSubscribers(spec, input);
        break;
      case "idle":
        await runIdle(spec, input);
        break;
      case "churn":
        await runChurn(spec, input);
        break;
    }
  } catch (error) {
    emit({ event: "error", message: error instanceof Error ? error.message : String(error) });
  }
  await sleep(100);
  Deno.exit(0);
}

if (import.meta.main) await main();
