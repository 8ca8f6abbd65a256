import assert from "node:assert/strict";
import { parseFlags } from "./cli.ts";
import { ConfigError } from "./_errors.ts";

/** The error message of `parseFlags(args)`, or undefined when it parses. */
function errorOf(args: string[]): string | undefined {
  try {
    parseFlags(args);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
}

Deno.test("parseFlags tokenizing: values that look like flags, dashes and terminators", () => {
  const value = (args: string[], path: string) => parseFlags(args).values.get(path)?.value;
  // An inline value may start with dashes; a separate one may start with a single dash.
  assert.equal(value(["--server-bind=--web-ws"], "server.bind"), "--web-ws");
  assert.equal(value(["--server-bind", "-x"], "server.bind"), "-x");
  // A lone "--" right after a flag is its value, not the terminator (as before parseArgs).
  assert.equal(value(["--server-bind", "--"], "server.bind"), "--");
  assert.equal(value(["--server-bind="], "server.bind"), "");
  // "-" is a positional FILE (stdin-style name), a boolean does not take the next argument.
  assert.equal(parseFlags(["-"]).file, "-");
  assert.equal(parseFlags(["--web-ws", "false"]).file, "false");
  assert.equal(value(["--web-ws", "false"], "web.ws"), true);
  // After "--" everything is positional.
  assert.equal(parseFlags(["--", "-x"]).file, "-x");
  assert.equal(
    errorOf(["--", "a", "b"]),
    `more than one config file given (positional FILE "a", positional FILE "b"); give one`,
  );
  // Repeats keep order across aliases and inline / separate values.
  assert.deepEqual(value(["--tls-cert=a", "--server-tls-cert", "b", "--tls-cert", "c"], "server.tls.cert"), [
    "a",
    "b",
    "c",
  ]);
  assert.deepEqual(parseFlags(["--tls-cert=a"]).values.get("server.tls.cert")?.source, {
    kind: "flag",
    name: "tls-cert",
  });
});

Deno.test("parseFlags tokenizing: error wording", () => {
  // Short option groups are named as written, not letter by letter.
  assert.equal(
    errorOf(["-abc"]),
    "unknown option -abc: only long flags (--name) are accepted; run with --help",
  );
  assert.equal(errorOf(["-5"]), "unknown option -5: only long flags (--name) are accepted; run with --help");
  assert.equal(errorOf(["--config"]), "--config needs a value: write --config VALUE or --config=VALUE");
  assert.equal(errorOf(["--file", "--web-ws"]), "--file needs a value: write --file VALUE or --file=VALUE");
  assert.equal(
    errorOf(["--no-web-ws"]),
    "unknown flag --no-web-ws (did you mean --web-ws?); run with --help for the list",
  );
  assert.equal(
    errorOf(["--cluster-mesh=perhaps"]),
    `--cluster-mesh: expected true or false (--cluster-mesh or --cluster-mesh=false), got "perhaps"`,
  );
  // A flag whose name is empty is shown as written.
  assert.equal(errorOf(["--=x"]), "unknown flag --=x; run with --help for the list");
  // The first problem in argument order is the one reported.
  assert.match(errorOf(["--server-bnd", "x", "--web-ws=maybe"])!, /unknown flag --server-bnd/);
});
