import assert from "node:assert/strict";
import { loadConfig, type LoadResult } from "./load.ts";

/** A minimal valid file: generated certificate + anonymous access. */
const MIN = `[server.tls]\ngenerate = "localhost"\n[auth]\npublic = "anon"\n`;

function load(extra: string, args: string[] = [], env: Record<string, string> = {}): Promise<LoadResult> {
  const toml = MIN + extra;
  return loadConfig(["relay.toml", ...args], env, {
    readFile: (path) =>
      path === "relay.toml" ? Promise.resolve(toml) : Promise.reject(new Deno.errors.NotFound(path)),
    stat: () => Promise.reject(new Deno.errors.NotFound("no files")),
  });
}

const ONLY_FIRST = /only the first/;

Deno.test("[web.https]: several certificates load, with one warning that only the first is served", async () => {
  const r = await load(
    `[web.https]\nlisten = "[::]:443"\ncert = ["a.pem", "b.pem"]\nkey = ["a.key", "b.key"]\n`,
  );
  assert.deepEqual(r.config.web.https?.cert, ["a.pem", "b.pem"]);
  const lines = r.warnings.filter((w) => ONLY_FIRST.test(w));
  assert.equal(lines.length, 1, r.warnings.join("\n"));
  assert.ok(lines[0].startsWith("relay.toml: web.https.cert: 2 certificates"), lines[0]);
  assert.ok(lines[0].includes(`"a.pem"`), lines[0]);
  assert.ok(!lines[0].includes("\n"));
  assert.ok(!lines[0].includes(".key"), "key file names stay out of the warning");
});

Deno.test("[web.https]: the warning names the flag or variable that gave the list", async () => {
  const flag = await load("", [
    "--web-https-listen",
    "127.0.0.1:8443",
    "--web-https-cert",
    "a.pem,b.pem,c.pem",
    "--web-https-key",
    "a.key,b.key,c.key",
  ]);
  assert.deepEqual(flag.warnings.filter((w) => ONLY_FIRST.test(w)).map((w) => w.split(":")[0]), [
    "--web-https-cert",
  ]);
  const env = await load("", [], {
    MOQ_WEB_HTTPS_LISTEN: "127.0.0.1:8443",
    MOQ_WEB_HTTPS_CERT: "a.pem,b.pem",
    MOQ_WEB_HTTPS_KEY: "a.key,b.key",
  });
  assert.ok(
    env.warnings.some((w) => w.startsWith("MOQ_WEB_HTTPS_CERT: 2 certificates")),
    env.warnings.join("\n"),
  );
});

Deno.test("[web.https]: one certificate, no warning", async () => {
  const r = await load(`[web.https]\nlisten = "[::]:443"\ncert = "a.pem"\nkey = "a.key"\n`);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.config.web.https, { listen: "[::]:443", cert: ["a.pem"], key: ["a.key"], root: [] });
});
