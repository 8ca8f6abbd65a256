/**
 * Hostile or mistaken configuration, end to end against real relay processes.
 *
 * A duration longer than the longest timer (2^31−1 ms) used to make `setTimeout` fire at once:
 * `drain_timeout = "30d"` let the relay start, and the first SIGTERM then exited 1 instead of
 * draining. Every duration key now has a maximum, checked at start-up: the relay refuses to
 * start with one `Error:` line naming the key and the maximum, whichever layer (flag,
 * environment variable, TOML file) gave the value.
 *
 * Several `[web.https]` certificates used to be accepted while only the first was served, without
 * a word: the relay now says so in one warning at start-up.
 */

import assert from "node:assert/strict";
import { generateSelfSignedCertificate } from "../transport/mod.ts";
import { freePort, relayToml, sleep, startRelay } from "../testing/mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The parent environment without anything that configures the relay. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (!name.startsWith("MOQ_") && name !== "RUST_LOG") env[name] = value;
  }
  return env;
}

interface Outcome {
  code: number;
  stderr: string;
}

/**
 * Run the relay with a minimal config plus `toml`, `args` and `env`, and expect it to exit on its
 * own. If it starts serving instead (`/health` answers), it is sent SIGTERM and the test fails
 * with what happened then.
 */
async function runToExit(options: { toml?: string; args?: string[]; env?: Record<string, string> }) {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-config-attack-" });
  try {
    const config = `${dir}/relay.toml`;
    await Deno.writeTextFile(config, relayToml(port, { toml: options.toml }));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, config, ...(options.args ?? [])],
      cwd: ROOT,
      env: { ...cleanEnv(), NO_COLOR: "1", ...(options.env ?? {}) },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let exited = false;
    output.finally(() => exited = true).catch(() => {});
    const deadline = Date.now() + 60_000;
    while (!exited && Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        await res.body?.cancel();
        if (res.ok) {
          // It started: show what the first SIGTERM does with the accepted value.
          child.kill("SIGTERM");
          const after = await output;
          assert.fail(
            `the relay started instead of refusing the config; after SIGTERM it exited ${after.code}:\n` +
              new TextDecoder().decode(after.stderr),
          );
        }
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        // not listening (yet)
      }
      await sleep(100);
    }
    if (!exited) {
      child.kill("SIGKILL");
      await output;
      assert.fail("the relay neither started nor exited within 60 s");
    }
    const result = await output;
    return { code: result.code, stderr: new TextDecoder().decode(result.stderr) } satisfies Outcome;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Exit 1 with exactly one `Error:` line that names `key` (as given) and the maximum. */
function assertRefused(outcome: Outcome, key: string): void {
  assert.equal(outcome.code, 1, outcome.stderr);
  const lines = outcome.stderr.split("\n").filter((line) => line.startsWith("Error:"));
  assert.equal(lines.length, 1, outcome.stderr);
  assert.ok(lines[0].includes(key), `names ${key}: ${lines[0]}`);
  assert.match(lines[0], /limits\.drain_timeout/);
  assert.match(lines[0], /maximum/);
  assert.match(lines[0], /"30d"/);
}

Deno.test("drain_timeout = 30d from a flag: refused at start-up, not an exit 1 on the first SIGTERM", async () => {
  assertRefused(await runToExit({ args: ["--limits-drain-timeout", "30d"] }), "--limits-drain-timeout");
});

Deno.test("drain_timeout = 30d from the environment: refused at start-up", async () => {
  assertRefused(
    await runToExit({ env: { MOQ_LIMITS_DRAIN_TIMEOUT: "30d" } }),
    "MOQ_LIMITS_DRAIN_TIMEOUT",
  );
});

Deno.test("drain_timeout = 30d in relay.toml: refused at start-up", async () => {
  assertRefused(
    await runToExit({ toml: `[limits]\ndrain_timeout = "30d"` }),
    "relay.toml: limits.drain_timeout",
  );
});

Deno.test({
  name:
    "[web.https] with two certificates: one start-up warning, and the first certificate is the one served",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-https-certs-" });
  const first = await generateSelfSignedCertificate(["127.0.0.1"]);
  const second = await generateSelfSignedCertificate(["127.0.0.1"]);
  for (const [name, cert] of [["a", first], ["b", second]] as const) {
    await Deno.writeTextFile(`${dir}/${name}.pem`, cert.certPem);
    await Deno.writeTextFile(`${dir}/${name}.key`, cert.keyPem);
  }
  const httpsPort = freePort();
  const relay = await startRelay({
    toml: [
      `[web.https]`,
      `listen = "127.0.0.1:${httpsPort}"`,
      `cert = ["${dir}/a.pem", "${dir}/b.pem"]`,
      `key = ["${dir}/a.key", "${dir}/b.key"]`,
    ].join("\n"),
  });
  try {
    const warnings = relay.logs.filter((line) => /WARN/.test(line) && line.includes("web.https.cert"));
    assert.equal(warnings.length, 1, relay.logs.join("\n"));
    assert.match(warnings[0], /only the first/);
    assert.ok(warnings[0].includes(`${dir}/a.pem`), warnings[0]);
    assert.ok(!warnings[0].includes(".key"), "key file names stay out of the log");

    const trusting = async (cert: string): Promise<boolean> => {
      const client = Deno.createHttpClient({ caCerts: [cert] });
      try {
        const res = await fetch(`https://127.0.0.1:${httpsPort}/health`, { client });
        await res.body?.cancel();
        return res.ok;
      } catch {
        return false;
      } finally {
        client.close();
      }
    };
    assert.equal(await trusting(first.certPem), true, "the first certificate is served");
    assert.equal(await trusting(second.certPem), false, "the second is not");
  } finally {
    await relay.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});
