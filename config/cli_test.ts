import assert from "node:assert/strict";
import { helpText, parseBool, parseCommand, parseFlags, readEnv } from "./cli.ts";
import { ConfigError } from "./_errors.ts";
import { KEY_BY_FLAG, KEYS, META_FLAGS } from "./keys.ts";
import { VERSION } from "./version.ts";

function configError(key: string | undefined, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    assert.equal(error.key, key);
    assert.ok(!error.message.includes("\n"), "one line");
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("parseCommand: token, help, version, run", () => {
  assert.deepEqual(parseCommand(["token", "sign", "--key", "k.jwk"]), {
    kind: "token",
    args: ["sign", "--key", "k.jwk"],
  });
  assert.deepEqual(parseCommand(["--version"]), { kind: "version", text: `moq-relay-deno ${VERSION}` });
  assert.equal(VERSION, "0.1.0");
  assert.equal(parseCommand(["-V"]).kind, "version");
  assert.equal(parseCommand(["relay.toml", "--help"]).kind, "help");
  assert.equal(parseCommand(["-h"]).kind, "help");
  assert.deepEqual(parseCommand(["relay.toml", "--", "--help"]), {
    kind: "run",
    args: ["relay.toml", "--", "--help"],
  });
  assert.deepEqual(parseCommand([]), { kind: "run", args: [] });
  // `token` only counts as the first argument.
  assert.equal(parseCommand(["relay.toml", "token"]).kind, "run");
});

Deno.test("parseFlags: values, lists, booleans, files", () => {
  const parsed = parseFlags([
    "relay.toml",
    "--server-bind=127.0.0.1:1",
    "--tls-cert",
    "a.pem",
    "--server-tls-cert",
    "b.pem",
    "--tls-generate",
    "localhost, 127.0.0.1",
    "--auth-public",
    "",
    "--web-ws=false",
    "--cluster-mesh",
    "--tls-key=a.key,b.key",
  ]);
  assert.equal(parsed.file, "relay.toml");
  const value = (path: string) => parsed.values.get(path)?.value;
  assert.equal(value("server.bind"), "127.0.0.1:1");
  assert.deepEqual(value("server.tls.cert"), ["a.pem", "b.pem"], "repeatable across aliases");
  assert.deepEqual(value("server.tls.generate"), ["localhost", "127.0.0.1"], "comma split");
  assert.deepEqual(value("server.tls.key"), ["a.key,b.key"], "--tls-key does not split on commas");
  assert.deepEqual(value("auth.public"), [""], "an empty value is kept");
  assert.equal(value("web.ws"), false);
  assert.equal(value("cluster.mesh"), true);
  assert.deepEqual(parsed.values.get("server.bind")?.source, { kind: "flag", name: "server-bind" });

  assert.equal(parseFlags(["--config", "x.toml"]).file, "x.toml");
  assert.equal(parseFlags(["--file=y.toml"]).file, "y.toml");
  assert.equal(parseFlags(["--", "--weird.toml"]).file, "--weird.toml");
  assert.equal(parseFlags([]).file, undefined);
});

Deno.test("parseFlags: usage errors are ConfigErrors", () => {
  assert.throws(
    () => parseFlags(["--server-bnd", "x"]),
    configError("server-bnd", /did you mean --server-bind\?/),
  );
  assert.throws(() => parseFlags(["--server-bind"]), configError("server-bind", /needs a value/));
  assert.throws(() => parseFlags(["--server-bind", "--web-ws"]), configError("server-bind", /needs a value/));
  assert.throws(() => parseFlags(["--web-ws=maybe"]), configError("web.ws", /true or false/));
  assert.throws(
    () => parseFlags(["--server-bind", "a:1", "--listen", "b:2"]),
    configError("server.bind", /already given by --server-bind/),
  );
  assert.throws(
    () => parseFlags(["a.toml", "--config", "b.toml"]),
    configError("file", /more than one config file/),
  );
  assert.throws(() => parseFlags(["-x"]), configError("-x", /only long flags/));
});

Deno.test("readEnv: MOQ_* variables, empty = unset, unknown names warn", () => {
  const warnings: string[] = [];
  const layer = readEnv({
    MOQ_SERVER_BIND: "127.0.0.1:9",
    MOQ_CLUSTER_CONNECT: "https://a/,https://b/",
    MOQ_SERVER_TLS_CERT: "x,y.pem",
    MOQ_WEB_WS: "false",
    MOQ_AUTH_KEY: "",
    MOQ_CLIENT_CONNECT_TIMEOUT: "9s",
    MOQ_SEVRER_BIND: "typo",
    HOME: "/root",
  }, warnings);
  assert.equal(layer.get("server.bind")?.value, "127.0.0.1:9");
  assert.deepEqual(layer.get("cluster.connect")?.value, ["https://a/", "https://b/"]);
  assert.deepEqual(layer.get("server.tls.cert")?.value, ["x,y.pem"]);
  assert.equal(layer.get("web.ws")?.value, false);
  assert.equal(layer.has("auth.key"), false);
  assert.equal(layer.get("client.timeout")?.value, "9s");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /MOQ_SEVRER_BIND.*did you mean MOQ_SERVER_BIND/);
  assert.throws(
    () => readEnv({ MOQ_CLUSTER_MESH: "perhaps" }, []),
    configError("cluster.mesh", /MOQ_CLUSTER_MESH/),
  );
});

Deno.test("parseBool", () => {
  assert.equal(parseBool("TRUE"), true);
  assert.equal(parseBool("off"), false);
  assert.equal(parseBool("2"), undefined);
});

Deno.test("--help lists every flag and env var the parser accepts, and nothing else", () => {
  const help = helpText();
  const mentioned = new Set([...help.matchAll(/--([a-z0-9][a-z0-9-]*)/g)].map((m) => m[1]));
  for (const def of KEYS) {
    for (const flag of def.flags) assert.ok(mentioned.has(flag), `--${flag} missing from --help`);
    for (const name of def.env) assert.ok(help.includes(name), `${name} missing from --help`);
    assert.ok(help.includes(def.path), `${def.path} missing from --help`);
  }
  const meta = new Set(META_FLAGS.flatMap((m) => m.flags));
  for (const flag of mentioned) {
    assert.ok(KEY_BY_FLAG.has(flag) || meta.has(flag), `--help mentions --${flag}, which the parser rejects`);
  }
  for (const flag of mentioned) {
    if (meta.has(flag)) continue;
    // Every flag named in the help parses (with a value when it takes one).
    const def = KEY_BY_FLAG.get(flag)!;
    const args = def.kind === "bool" || def.kind === "mesh" ? [`--${flag}`] : [`--${flag}`, "1"];
    assert.ok(parseFlags(args).values.has(def.path), `--${flag}`);
  }
  assert.match(help, /RUST_LOG/);
  assert.match(help, /\[limits\]/);
});
