import assert from "node:assert/strict";
import { helpText } from "./cli.ts";
import { formatDuration } from "./_duration.ts";
import { KEYS, MAX_DRAIN_TIMEOUT_MS, MAX_TIMER_MS } from "./keys.ts";
import { ConfigError, loadConfig, type LoadResult } from "./load.ts";
import type { RelayConfig } from "./types.ts";

/** A minimal valid file: generated certificate + anonymous access. */
const MIN = `[server.tls]\ngenerate = "localhost"\n[auth]\npublic = "anon"\n`;

/** Where each supported duration key lands in the config. */
const FIELD: Record<string, (config: RelayConfig) => number | undefined> = {
  "server.quic.idle_timeout": (c) => c.server.quic.idleTimeoutMs,
  "server.quic.keep_alive": (c) => c.server.quic.keepAliveMs,
  "cluster.linger": (c) => c.cluster.lingerMs,
  "client.timeout": (c) => c.client.timeoutMs,
  "cache.duration": (c) => c.cache.durationMs,
  "limits.subscribe_wait": (c) => c.limits.subscribeWaitMs,
  "limits.warm": (c) => c.limits.warmMs,
  "limits.drain_timeout": (c) => c.limits.drainTimeoutMs,
  "stats.interval": (c) => c.stats?.intervalMs,
};

const DURATION_KEYS = KEYS.filter((def) => def.kind === "duration" || def.kind === "seconds");

/** `[table]\nname = value` for a dotted key. */
function tomlFor(path: string, value: string): string {
  const dot = path.lastIndexOf(".");
  return `[${path.slice(0, dot)}]\n${path.slice(dot + 1)} = ${value}\n`;
}

/** Load `relay.toml` = MIN + `extra` from memory, plus flags and env. */
function load(extra: string, args: string[] = [], env: Record<string, string> = {}): Promise<LoadResult> {
  const toml = MIN + extra;
  return loadConfig(["relay.toml", ...args], env, {
    readFile: (path) =>
      path === "relay.toml" ? Promise.resolve(toml) : Promise.reject(new Deno.errors.NotFound(path)),
    stat: () => Promise.reject(new Deno.errors.NotFound("no files")),
    memoryBytes: 1000,
  });
}

async function refused(promise: Promise<unknown>, path: string, source: string, max: number): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `${source}: expected a ConfigError, got ${caught}`);
  assert.equal(caught.key, path);
  assert.ok(!caught.message.includes("\n"), caught.message);
  assert.ok(caught.message.startsWith(source), `names ${source}: ${caught.message}`);
  assert.ok(caught.message.includes(`too long for ${path}`), caught.message);
  assert.ok(caught.message.includes(`the maximum is ${formatDuration(max)} (${max} ms)`), caught.message);
}

Deno.test("the timer limit is 2^31-1 ms and drain_timeout has a smaller one", () => {
  assert.equal(MAX_TIMER_MS, 2_147_483_647);
  const drain = KEYS.find((def) => def.path === "limits.drain_timeout");
  assert.equal(drain?.maxMs, MAX_DRAIN_TIMEOUT_MS);
  // The shutdown watchdog waits drain_timeout plus a few seconds: that sum must fit a timer too.
  assert.ok(MAX_DRAIN_TIMEOUT_MS + 60_000 < MAX_TIMER_MS);
  for (const def of DURATION_KEYS) {
    assert.ok(def.maxMs !== undefined && def.maxMs <= MAX_TIMER_MS, `${def.path} has a maximum`);
  }
  for (const def of KEYS.filter((d) => d.supported && d.kind === "duration")) {
    assert.ok(def.path in FIELD, `${def.path}: add it to FIELD`);
  }
});

for (const def of DURATION_KEYS) {
  Deno.test(`${def.path}: the maximum is accepted, 1 ms more and "30d" are refused (file, flag, env)`, async () => {
    const max = def.maxMs!;
    // Exactly the maximum loads.
    const ok = await load(tomlFor(def.path, `"${formatDuration(max)}"`));
    if (def.supported) assert.equal(FIELD[def.path](ok.config), max);
    else assert.ok(ok.warnings.some((w) => w.includes(def.path)), "ignored with a warning");

    const over = `${max + 1}ms`;
    await refused(load(tomlFor(def.path, `"${over}"`)), def.path, `relay.toml: ${def.path}`, max);
    await refused(load(tomlFor(def.path, `"30d"`)), def.path, `relay.toml: ${def.path}`, max);
    for (const flag of def.flags) {
      await refused(load("", [`--${flag}`, over]), def.path, `--${flag}`, max);
      await refused(load("", [`--${flag}=30d`]), def.path, `--${flag}`, max);
    }
    for (const name of def.env) {
      await refused(load("", [], { [name]: "30d" }), def.path, name, max);
    }
    if (def.kind === "seconds") {
      // Bare integers are seconds: 2^31 s is far over the limit.
      await refused(load(tomlFor(def.path, `${2 ** 31}`)), def.path, `relay.toml: ${def.path}`, max);
    }
  });
}

Deno.test("the error line for drain_timeout names the key, the value and the maximum", async () => {
  let caught: unknown;
  try {
    await load("", ["--limits-drain-timeout", "30d"]);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError);
  assert.equal(
    caught.message,
    `--limits-drain-timeout: "30d" is too long for limits.drain_timeout: the maximum is 1d (86400000 ms)`,
  );
});

Deno.test("--help states the duration limits", () => {
  const help = helpText();
  assert.match(help, /toml limits\.drain_timeout;[^\]]*max 1d\]/);
  assert.ok(help.includes(`at most ${formatDuration(MAX_TIMER_MS)}`));
});
