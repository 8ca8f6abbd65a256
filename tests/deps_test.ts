/**
 * Runtime versus test dependencies: `deno task start` and `deno task compile` install every npm
 * package named in deno.json "imports" and in deno.lock, so both may hold only what main.ts uses.
 * Test-only packages (`@moq/lite`, `playwright-core`, …) are imported with a full pinned `npm:`
 * specifier, each version in one module under testing/ (testing/moq_lite.ts, testing/playwright.ts,
 * …), and locked in deno.test.lock by `deno task test`.
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

/** Folders that may name an `npm:` package: the test pins, and the console bundle's sources. */
const NPM_PIN_FOLDERS = ["testing/", "scripts/console/"];
/** Folders never scanned (generated bundles, dependencies). */
const SKIPPED_DIRS = new Set([".git", "node_modules", "dist", ".ci"]);
/** An `npm:name@version` import or export specifier (name scoped or not); captures `name@version`. */
const NPM_SPECIFIER = /(?:from|import)\s*\(?\s*["']npm:((?:@[^/"']+\/)?[^@"'/]+@[^/"']+)/g;

/** Every `.ts` file below the repository root, relative, except in {@link SKIPPED_DIRS}. */
async function sourceFiles(dir = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory && !SKIPPED_DIRS.has(entry.name)) out.push(...await sourceFiles(`${path}/`));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

Deno.test("deps: test-only npm packages are pinned in testing/, each package version in one module", async () => {
  const pinnedIn = new Map<string, string[]>();
  const outside: string[] = [];
  for (const file of await sourceFiles()) {
    if (file === "tests/deps_test.ts") continue;
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const match of text.matchAll(NPM_SPECIFIER)) {
      if (!NPM_PIN_FOLDERS.some((folder) => file.startsWith(folder))) outside.push(`${file}: ${match[1]}`);
      if (!file.startsWith("testing/")) continue;
      const files = pinnedIn.get(match[1]) ?? [];
      if (!files.includes(file)) pinnedIn.set(match[1], [...files, file]);
    }
  }
  assert.deepEqual(
    outside,
    [],
    "import test-only npm packages through the one testing/ module that pins them (e.g. testing/moq_lite.ts)",
  );
  assert.ok(pinnedIn.size > 0, "no npm pin found under testing/; is the scan working?");
  const twice = [...pinnedIn].filter(([, files]) => files.length > 1).map(([name, files]) =>
    `${name}: ${files}`
  );
  assert.deepEqual(twice, [], "each test-only npm package version is pinned in exactly one testing/ module");
});
