import assert from "node:assert/strict";
import { ConfigError } from "./_errors.ts";
import { SettingsReader } from "./_reader.ts";
import type { Source } from "./_settings.ts";

const FLAG: Source = { kind: "flag", name: "limits-warm" };
const ENV: Source = { kind: "env", name: "MOQ_LIMITS_WARM" };
const FILE: Source = { kind: "file", file: "relay.toml", key: "limits.warm" };

function reader(path: string, value: unknown, source: Source = FILE): SettingsReader {
  return new SettingsReader(new Map([[path, { value, source }]]), "relay.toml", 1000);
}

/** The ConfigError `fn` throws: one line, naming `key`. */
function failure(fn: () => unknown, key: string): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.key, key);
    assert.ok(!error.message.includes("\n"), error.message);
    return error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("SettingsReader: typed values and defaults", () => {
  assert.equal(reader("server.bind", "a:1").string("server.bind"), "a:1");
  assert.equal(reader("server.bind", "a:1").string("web.http.listen"), undefined);
  assert.deepEqual(reader("server.tls.cert", "a.pem").list("server.tls.cert"), ["a.pem"]);
  assert.deepEqual(reader("server.tls.cert", ["a", "b"]).list("server.tls.cert"), ["a", "b"]);
  assert.deepEqual(reader("x", 1).list("server.tls.cert"), []);
  assert.equal(reader("web.ws", false).bool("web.ws", true), false);
  assert.equal(reader("x", 1).bool("web.ws", true), true);
  assert.equal(reader("cluster.id", 7n).integer("cluster.id"), 7n);
  assert.equal(reader("cluster.id", " 7 ", ENV).integer("cluster.id"), 7n, "text from env/flags");
  assert.equal(reader("limits.warm", "1m 30s").duration("limits.warm"), 90_000);
  assert.equal(reader("limits.warm", 0).duration("limits.warm"), 0);
  assert.equal(reader("stats.interval", 5).duration("stats.interval", { bareUnit: "s" }), 5_000);
  assert.equal(reader("cache.capacity", "50%").size("cache.capacity", true), 500);
  assert.equal(reader("limits.max_streams_per_session", 3).count("limits.max_streams_per_session", 9), 3);
});

Deno.test("SettingsReader: errors name the key and where its value came from", () => {
  const file = failure(() => reader("limits.warm", "soon").duration("limits.warm"), "limits.warm");
  assert.match(file.message, /^relay\.toml: limits\.warm: invalid duration "soon"/);
  assert.equal(file.file, "relay.toml");
  const flag = failure(() => reader("limits.warm", "soon", FLAG).duration("limits.warm"), "limits.warm");
  assert.match(flag.message, /^--limits-warm: invalid duration/);
  assert.equal(flag.file, undefined);
  const env = failure(() => reader("limits.warm", true, ENV).duration("limits.warm"), "limits.warm");
  assert.match(env.message, /^MOQ_LIMITS_WARM: expected a duration string/);
  assert.match(
    failure(() => reader("cluster.id", "7", FILE).integer("cluster.id"), "cluster.id").message,
    /expected a whole number, got "7"/,
    "TOML strings are not numbers",
  );
  assert.match(
    failure(() => reader("web.ws", "yes").bool("web.ws", true), "web.ws").message,
    /true or false/,
  );
  assert.match(
    failure(() => reader("server.tls.cert", [1]).list("server.tls.cert"), "server.tls.cert").message,
    /a string or an array of strings/,
  );
  assert.match(
    failure(
      () => reader("limits.subscriber_queue", "5%").size("limits.subscriber_queue", false),
      "limits.subscriber_queue",
    )
      .message,
    /percentage/,
  );
});

Deno.test("SettingsReader: durations above the key's maximum are refused", () => {
  const error = failure(
    () => reader("limits.warm", "25d", FLAG).duration("limits.warm"),
    "limits.warm",
  );
  assert.equal(
    error.message,
    `--limits-warm: "25d" is too long for limits.warm: the maximum is 24d 20h 31m 23s 647ms (2147483647 ms)`,
  );
  assert.equal(reader("limits.warm", "24d").duration("limits.warm"), 24 * 86_400_000);
  // Bare seconds are checked after conversion.
  failure(
    () => reader("stats.interval", 2_147_484).duration("stats.interval", { bareUnit: "s" }),
    "stats.interval",
  );
  assert.equal(
    reader("stats.interval", 2_147_483).duration("stats.interval", { bareUnit: "s" }),
    2_147_483_000,
  );
});

Deno.test("SettingsReader.conflict names the file when it gave one of the values", () => {
  const r = new SettingsReader(
    new Map([
      ["auth.key", { value: "a", source: { kind: "flag", name: "auth-key" } as Source }],
      ["auth.key_dir", {
        value: "b",
        source: { kind: "file", file: "relay.toml", key: "auth.key_dir" } as Source,
      }],
    ]),
    "relay.toml",
    undefined,
  );
  const error = failure(
    () => r.conflict(["auth.key", "auth.key_dir"], (a, b) => `${a} and ${b} clash`),
    "auth.key",
  );
  assert.equal(error.message, "relay.toml: --auth-key and auth.key_dir clash");
  assert.equal(error.file, "relay.toml");
});
