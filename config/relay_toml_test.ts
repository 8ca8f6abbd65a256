import assert from "node:assert/strict";
import { KEY_BY_PATH, KEYS, TABLES } from "./keys.ts";
import { loadConfig } from "./load.ts";

const RELAY_TOML = new URL("../relay.toml", import.meta.url).pathname;

/**
 * Every `key = …` line of relay.toml, commented out or not, with the table it belongs to.
 * Table context comes from `[table]` / `# [table]` headers and `# In [table]:` notes.
 */
function scan(text: string): { keys: Map<string, number>; tables: Set<string> } {
  const keys = new Map<string, number>();
  const tables = new Set<string>();
  let table = "";
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    const content = line.startsWith("#") ? line.replace(/^#+\s?/, "") : line;
    const header = /^\[([a-z0-9_.]+)\]\s*$/.exec(content) ?? /^In \[([a-z0-9_.]+)\]/.exec(content);
    if (header !== null) {
      table = header[1];
      tables.add(table);
      return;
    }
    const key = /^([A-Za-z0-9_-]+)\s*=/.exec(content);
    if (key !== null) keys.set(table === "" ? key[1] : `${table}.${key[1]}`, index + 1);
  });
  return { keys, tables };
}

Deno.test("the shipped relay.toml loads without errors or warnings", async () => {
  const { config, warnings, development } = await loadConfig([RELAY_TOML], {});
  assert.deepEqual(warnings, []);
  assert.equal(development, false);
  assert.equal(config.file, RELAY_TOML);
  assert.equal(config.server.bind, "127.0.0.1:4443");
  assert.deepEqual(config.server.tls.generate, ["localhost", "127.0.0.1"]);
  assert.deepEqual(config.server.tls.cert, []);
  assert.equal(config.web.http?.listen, "127.0.0.1:4443");
  assert.deepEqual(config.auth.public, { subscribe: ["anon"], publish: ["anon"] });
});

Deno.test("every key written in relay.toml (also commented out) is a current-layout key the loader knows", async () => {
  const { keys, tables } = scan(await Deno.readTextFile(RELAY_TOML));
  assert.ok(keys.size > 50, `found ${keys.size} keys`);
  for (const [key, line] of keys) {
    assert.ok(KEY_BY_PATH.has(key), `relay.toml:${line}: ${key} is not a key the loader knows`);
    assert.notEqual(KEY_BY_PATH.get(key)!.kind, "table", `relay.toml:${line}: ${key} is an opaque table`);
  }
  for (const table of tables) {
    assert.ok(
      TABLES.has(table) || KEY_BY_PATH.get(table)?.kind === "table",
      `relay.toml: unknown table [${table}]`,
    );
  }
});

Deno.test("relay.toml documents every key the loader knows", async () => {
  const { keys, tables } = scan(await Deno.readTextFile(RELAY_TOML));
  for (const def of KEYS) {
    if (def.kind === "table") assert.ok(tables.has(def.path), `[${def.path}] missing from relay.toml`);
    else assert.ok(keys.has(def.path), `${def.path} missing from relay.toml`);
  }
});
