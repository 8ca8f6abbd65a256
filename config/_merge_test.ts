import assert from "node:assert/strict";
import { mergeLayers, onlyLogSettings } from "./_merge.ts";
import type { Layer, Source } from "./_settings.ts";

const FLAG: Source = { kind: "flag", name: "x" };
const ENV: Source = { kind: "env", name: "MOQ_X" };
const FILE: Source = { kind: "file", file: "relay.toml", key: "x" };

function layer(source: Source, entries: Record<string, unknown>): Layer {
  return new Map(Object.entries(entries).map(([path, value]) => [path, { value, source }]));
}

Deno.test("mergeLayers: per key, the first layer that sets it wins", () => {
  const merged = mergeLayers([
    layer(FLAG, { "server.bind": "flag:1" }),
    layer(ENV, { "server.bind": "env:1", "web.ws": false }),
    layer(FILE, { "server.bind": "file:1", "web.ws": true, "log.level": "debug" }),
  ]);
  assert.deepEqual(merged.get("server.bind"), { value: "flag:1", source: FLAG });
  assert.deepEqual(merged.get("web.ws"), { value: false, source: ENV });
  assert.deepEqual(merged.get("log.level"), { value: "debug", source: FILE });
  assert.equal(merged.has("auth.key"), false, "unset keys stay unset (defaults come later)");
});

Deno.test("mergeLayers: the auth.public family comes from one layer as a whole", () => {
  const merged = mergeLayers([
    layer(FLAG, {}),
    layer(ENV, { "auth.public.subscribe": ["s"] }),
    layer(FILE, { "auth.public": ["anon"], "auth.public.publish": ["p"] }),
  ]);
  assert.deepEqual(merged.get("auth.public.subscribe"), { value: ["s"], source: ENV });
  assert.equal(merged.has("auth.public"), false, "the file's auth.public does not leak in");
  assert.equal(merged.has("auth.public.publish"), false);
});

Deno.test("mergeLayers: keys outside the key table are dropped", () => {
  assert.equal(mergeLayers([layer(FILE, { "no.such.key": 1 })]).size, 0);
});

Deno.test("onlyLogSettings", () => {
  assert.equal(onlyLogSettings(new Map()), true);
  assert.equal(onlyLogSettings(layer(ENV, { "log.level": "debug" })), true);
  assert.equal(onlyLogSettings(layer(ENV, { "log.level": "debug", "web.ws": true })), false);
});
