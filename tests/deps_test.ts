/**
 * Runtime versus test dependencies: `deno task start` and `deno task compile` install every npm
 * package named in deno.json "imports" and in deno.lock, so both may hold only what main.ts uses.
 * Test-only packages (`@moq/lite`, `playwright-core`, …) are imported with a full pinned `npm:`
 * specifier, each in one module (testing/moq_lite.ts, tests/browser/harness.ts), and locked in
 * deno.test.lock by `deno task test`.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface DenoJson {
  lock?: unknown;
  imports?: Record<string, string>;
}

interface DenoInfo {
  redirects?: Record<string, string>;
}

interface DenoLock {
  specifiers?: Record<string, string>;
}

async function readJson<T>(name: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(new URL(name, ROOT))) as T;
}

/** The `npm:name@version` specifiers main.ts's module graph imports directly. */
async function runtimeNpmSpecifiers(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `deno info main.ts failed: ${new TextDecoder().decode(out.stderr)}`);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as DenoInfo;
  return Object.keys(info.redirects ?? {}).filter((specifier) => specifier.startsWith("npm:")).sort();
}

Deno.test("deps: deno.json imports and deno.lock hold only the packages main.ts uses", async () => {
  const config = await readJson<DenoJson>("deno.json");
  const lock = await readJson<DenoLock>("deno.lock");
  const runtime = await runtimeNpmSpecifiers();
  assert.ok(runtime.length > 0, "main.ts imports no npm package; is deno info working?");

  const imported = Object.values(config.imports ?? {}).filter((target) => target.startsWith("npm:")).sort();
  for (const target of imported) {
    assert.ok(
      runtime.includes(target),
      `deno.json imports ${target} but main.ts never uses it; deno task start would download it. ` +
        `Import a test-only package with a full pinned "npm:name@x.y.z" specifier instead, in one module ` +
        `(see testing/moq_lite.ts)`,
    );
  }
  for (const specifier of runtime) {
    assert.ok(
      imported.includes(specifier),
      `main.ts uses ${specifier} without a deno.json "imports" entry; pin runtime packages there`,
    );
  }
  assert.deepEqual(
    Object.keys(lock.specifiers ?? {}).sort(),
    runtime,
    "deno.lock must lock exactly the runtime packages; regenerate it with " +
      "`rm deno.lock && deno task start --version`",
  );
  // Without this, any `deno test` run would write the test-only packages into deno.lock.
  assert.equal(config.lock, false, 'deno.json must keep "lock": false (the tasks pass --lock themselves)');
});
