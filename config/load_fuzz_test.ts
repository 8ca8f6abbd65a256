/**
 * Fuzz tests for the configuration loader on a relay.toml (parse + layer + validation) and on
 * `MOQ_*` variables. Declared error: {@link ConfigError}.
 */

import assert from "node:assert/strict";
import { fc } from "../testing/mod.ts";
import { decodeOrRejectAsync, fuzzParams } from "../testing/mod.ts";
import { ConfigError, type FileInfo, loadConfig } from "./load.ts";

const SAMPLE = await Deno.readTextFile(new URL("../relay.toml", import.meta.url));
const LINES = SAMPLE.split("\n");

const options = {
  readFile: (path: string) => Promise.reject(new Deno.errors.NotFound(path)),
  stat: (_path: string): Promise<FileInfo> => Promise.reject(new Deno.errors.NotFound("no such file")),
  memoryBytes: 8 * 2 ** 30,
};

/** relay.toml with lines dropped, duplicated, or with characters changed. */
const mutatedToml = fc.array(
  fc.tuple(
    fc.constantFrom("drop", "dup", "set", "uncomment"),
    fc.nat(),
    fc.nat(),
    fc.constantFrom(...'="[]#.,0a -{}\n'),
  ),
  { maxLength: 4 },
).map((edits) => {
  const lines = [...LINES];
  for (const [kind, at, col, c] of edits) {
    const i = at % lines.length;
    if (kind === "drop") lines.splice(i, 1);
    else if (kind === "dup") lines.splice(i, 0, lines[i]);
    else if (kind === "uncomment") lines[i] = lines[i].replace(/^# /, "");
    else {
      const chars = [...lines[i]];
      chars[chars.length === 0 ? 0 : col % chars.length] = c;
      lines[i] = chars.join("");
    }
  }
  return lines.join("\n");
});

async function load(text: string, env: Record<string, string> = {}) {
  return await loadConfig(["fuzz.toml"], env, { ...options, readFile: () => Promise.resolve(text) });
}

Deno.test("fuzz: the shipped relay.toml loads, and mutated or arbitrary TOML raises only ConfigError", async () => {
  assert.ok((await load(SAMPLE)).config);
  await fc.assert(
    fc.asyncProperty(fc.oneof(mutatedToml, fc.string({ maxLength: 64 })), async (text) => {
      await decodeOrRejectAsync("loadConfig", [ConfigError], () => load(text));
    }),
    { ...fuzzParams(), numRuns: Math.min(fuzzParams().numRuns ?? 100, 20000) },
  );
});

Deno.test("fuzz: arbitrary MOQ_* values raise only ConfigError", async () => {
  const names = [
    "MOQ_SERVER_BIND",
    "MOQ_WEB_HTTP_LISTEN",
    "MOQ_LOG_LEVEL",
    "MOQ_AUTH_PUBLIC",
    "MOQ_CLUSTER_CONNECT",
    "MOQ_SERVER_VERSION",
    "RUST_LOG",
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(fc.constantFrom(...names), fc.string({ maxLength: 24 }), { maxKeys: 3 }),
      async (env) => {
        await decodeOrRejectAsync(
          "loadConfig(env)",
          [ConfigError],
          () => loadConfig([], { ...env }, options),
        );
      },
    ),
    { ...fuzzParams(), numRuns: Math.min(fuzzParams().numRuns ?? 100, 20000) },
  );
});
