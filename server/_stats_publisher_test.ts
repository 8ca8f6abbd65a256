import assert from "node:assert/strict";
import { statsBroadcastPath, statsGroupKey } from "./_stats_publisher.ts";

Deno.test("stats groups are the leading path segments; group broadcasts nest under the prefix", () => {
  assert.equal(statsGroupKey("acme/room/cam", 0), "");
  assert.equal(statsGroupKey("acme/room/cam", 1), "acme");
  assert.equal(statsGroupKey("acme/room/cam", 2), "acme/room");
  assert.equal(statsGroupKey("acme/room", 3), "acme/room");
  const config = { enabled: true, prefix: ".stats", intervalMs: 1_000, node: "sjc/1" };
  assert.equal(statsBroadcastPath(config), ".stats/node/sjc/1");
  assert.equal(statsBroadcastPath(config, "acme"), ".stats/acme/node/sjc/1");
  assert.equal(statsBroadcastPath({ ...config, node: "" }), ".stats/node");
});
