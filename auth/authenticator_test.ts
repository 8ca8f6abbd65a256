import assert from "node:assert/strict";
import { JwtAuthenticator, tokenFromUrl } from "./authenticator.ts";
import { encodeKey, type Jwk } from "./jwk.ts";
import { generateKey, signToken } from "./token_cli.ts";
import { AuthError, type AuthFailureReason, type SessionGrant } from "./types.ts";
import { b64json, signRaw, withTempDir } from "../testing/mod.ts";
import type { AuthConfig } from "../config/mod.ts";
import { LogFilter, Logger, silentLogger } from "../log/mod.ts";

function config(partial: Partial<AuthConfig> = {}): AuthConfig {
  return { public: { publish: [], subscribe: [] }, domains: [], ...partial };
}

async function failure(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof AuthError, `expected AuthError, got ${e}`);
    return e;
  }
  assert.fail("expected the credential to be refused");
}

/** Run `fn` with an authenticator whose key file holds `key`. */
async function withKeyAuth(
  key: Jwk,
  partial: Partial<AuthConfig>,
  fn: (auth: JwtAuthenticator, lines: string[]) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/root.jwk`, encodeKey(key));
    const lines: string[] = [];
    const logger = new Logger("main", LogFilter.parse("debug"), (line) => void lines.push(line));
    const auth = await JwtAuthenticator.create(config({ key: `${dir}/root.jwk`, ...partial }), logger);
    try {
      await fn(auth, lines);
    } finally {
      await auth.close();
    }
  });
}

function url(path: string, token?: string): URL {
  const u = new URL(`https://relay.test${path}`);
  if (token !== undefined) u.searchParams.append("jwt", token);
  return u;
}

Deno.test("tokenFromUrl: empty counts as absent, the last non-empty wins", () => {
  assert.equal(tokenFromUrl(new URL("https://h/?jwt=")), undefined);
  assert.equal(tokenFromUrl(new URL("https://h/")), undefined);
  assert.equal(tokenFromUrl(new URL("https://h/?jwt=a&jwt=b&jwt=")), "b");
  assert.equal(tokenFromUrl(new URL("https://h/?token=a")), undefined);
});

Deno.test("a valid token is scoped to the connection path, with expiry and counters", async () => {
  const key = await generateKey("ES256", "k1");
  await withKeyAuth(key, {}, async (auth, lines) => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const token = await signToken(key, { root: "demo", put: ["my-stream"], get: [""], exp });
    const grant = await auth.authenticate(url("/demo", token), "webtransport");
    assert.deepEqual(
      grant,
      {
        root: "demo",
        publish: ["my-stream"],
        subscribe: [""],
        expiresAtMs: exp * 1000,
        internal: false,
        anonymous: false,
      } satisfies SessionGrant,
    );
    const wide = await auth.authenticate(url("/", token), "websocket");
    assert.deepEqual([wide.root, wide.publish, wide.subscribe], ["", ["demo/my-stream"], ["demo"]]);

    // Repeated parameters: the last non-empty one is used.
    const repeated = new URL(`https://relay.test/demo?jwt=garbage&jwt=${token}&jwt=`);
    assert.equal((await auth.authenticate(repeated, "quic")).root, "demo");

    const mismatch = await failure(auth.authenticate(url("/demox", token), "websocket"));
    assert.equal(mismatch.reason, "root_mismatch");
    assert.equal(mismatch.status, 401);
    assert.equal(mismatch.closeCode, 6);
    assert.equal(auth.authFailures.get("root_mismatch"), 1);

    // Failures are logged at warn with the reason and path, never the token.
    const warn = lines.find((l) => l.includes("WARN") && l.includes("root_mismatch"));
    assert.ok(warn, lines.join("\n"));
    assert.match(warn, /path=\/demox/);
    assert.ok(lines.every((l) => !l.includes(token) && !l.includes(token.split(".")[2])));
  });
});

Deno.test("refusals carry the reason for every bad credential", async () => {
  const key = await generateKey("HS256", "k");
  const other = await generateKey("HS256", "k");
  const now = Math.floor(Date.now() / 1000);
  await withKeyAuth(key, { public: { publish: [], subscribe: ["anon"] } }, async (auth) => {
    const cases: Array<[string, string | undefined, AuthFailureReason]> = [
      ["/demo", undefined, "missing"],
      ["/demo", "not-a-jwt", "malformed"],
      ["/demo", await signToken(other, { put: [""] }), "bad_signature"],
      ["/demo", await signToken(key, { put: [""], exp: now - 3600 }), "expired"],
      ["/demo", await signRaw(key, {}, { put: [""], nbf: now + 3600 }), "not_yet_valid"],
      ["/demo", await signRaw(key, {}, { root: "demo" }), "useless"],
      ["/demo", await signRaw(key, {}, { path: "demo", pub: "", sub: "" }), "useless"],
      ["/other", await signToken(key, { root: "", get: ["demo"] }), "no_access"],
      // Keys are configured: a bad token on a public path is still refused (no fallback).
      ["/anon", "not-a-jwt", "malformed"],
    ];
    for (const [path, token, want] of cases) {
      const error = await failure(auth.authenticate(url(path, token), "websocket"));
      assert.equal(error.reason, want, `${path} ${token?.slice(0, 20)}`);
      assert.equal(error.status, 401);
    }
    assert.equal(auth.authFailures.get("useless"), 2);
    // The public path works without a token.
    const anon = await auth.authenticate(url("/anon/x"), "websocket");
    assert.deepEqual(anon, {
      root: "anon/x",
      publish: [],
      subscribe: [""],
      internal: false,
      anonymous: true,
    });
    // An expired token inside the leeway is accepted and expires at exp + leeway.
    const late = await auth.authenticate(url("/", await signToken(key, { put: [""], exp: now - 2 })), "quic");
    assert.equal(late.expiresAtMs, (now + 3) * 1000);
  });
});

Deno.test("only the full cluster token is the cluster credential (internal)", async () => {
  const key = await generateKey("EdDSA", "k");
  await withKeyAuth(key, {}, async (auth) => {
    const all = await auth.authenticate(url("/", await signToken(key, { put: [""], get: [""] })), "quic");
    assert.equal(all.internal, true);
    const demo = await auth.authenticate(
      url("/", await signToken(key, { put: ["demo"], get: [""] })),
      "quic",
    );
    assert.equal(demo.internal, false);
    const putAll = await signToken(key, { put: [""], get: ["demo"] });
    assert.equal((await auth.authenticate(url("/", putAll), "quic")).internal, false);
    // The legacy `cluster` claim is ignored (docs/relay.md §2.4).
    const legacy = await signRaw(key, {}, { put: [""], get: ["demo"], cluster: true });
    assert.equal((await auth.authenticate(url("/", legacy), "quic")).internal, false);
    const explicit = await signToken(key, { put: [".internal/origins"], get: [".internal/origins"] });
    const explicitGrant = await auth.authenticate(url("/", explicit), "quic");
    assert.equal(explicitGrant.internal, false);
    assert.deepEqual(explicitGrant.internalSubscribe, [".internal/origins"], "subscribe unlocked per prefix");
    assert.equal(all.internalSubscribe, undefined);
  });
});

Deno.test("§8 item 25: a token sent to a public-only relay falls back to public access", async () => {
  const auth = await JwtAuthenticator.create(
    config({ public: { publish: ["anon"], subscribe: ["anon"] } }),
    silentLogger(),
  );
  try {
    assert.equal(auth.keysConfigured, false);
    const grant = await auth.authenticate(url("/anon", "whatever.token.here"), "websocket");
    assert.deepEqual(grant, {
      root: "anon",
      publish: [""],
      subscribe: [""],
      internal: false,
      anonymous: true,
    });
    assert.equal((await failure(auth.authenticate(url("/demo", "x.y.z"), "websocket"))).reason, "no_key");
    assert.equal((await failure(auth.authenticate(url("/demo"), "websocket"))).reason, "missing");
    // Example 14 of §2.9 (table form).
    const table = await JwtAuthenticator.create(
      config({ public: { subscribe: ["anon", "demo"], publish: ["anon", "demo/viewer"] } }),
      silentLogger(),
    );
    assert.deepEqual(
      await table.authenticate(url("/demo"), "http"),
      { root: "demo", publish: ["viewer"], subscribe: [""], internal: false, anonymous: true },
    );
    await table.close();
  } finally {
    await auth.close();
  }
  const none = await JwtAuthenticator.create(config(), silentLogger());
  assert.equal((await failure(none.authenticate(url("/", "x.y.z"), "quic"))).reason, "no_key");
  assert.equal((await failure(none.authenticate(url("/"), "quic"))).reason, "missing");
  await none.close();
});

Deno.test("auth.domains prefixes the root with the reversed subdomain labels", async () => {
  const auth = await JwtAuthenticator.create(
    config({ domains: ["cdn.example"], public: { publish: [], subscribe: ["customer"] } }),
    silentLogger(),
  );
  try {
    const grant = await auth.authenticate(new URL("https://team.customer.cdn.example/live"), "websocket");
    assert.equal(grant.root, "customer/team/live");
    assert.deepEqual(grant.subscribe, [""]);
    const bare = await failure(auth.authenticate(new URL("https://cdn.example/live"), "websocket"));
    assert.equal(bare.reason, "missing");
  } finally {
    await auth.close();
  }
});

Deno.test("create() fails fast on a bad key file, naming it", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.jwk`, '{"alg":"HS256","k":"dG9vLXNob3J0"}');
    await assert.rejects(
      JwtAuthenticator.create(config({ key: `${dir}/bad.jwk` }), silentLogger()),
      /bad\.jwk: the secret "k" is 9 bytes; at least 32 are required/,
    );
  });
});

Deno.test("key rotation: a rewritten key file is used without a restart", async () => {
  const first = await generateKey("HS256", "one");
  const second = await generateKey("RS256", "two");
  await withTempDir(async (dir) => {
    const path = `${dir}/root.jwk`;
    await Deno.writeTextFile(path, encodeKey(first));
    const reloaded = Promise.withResolvers<void>();
    const auth = await JwtAuthenticator.create(config({ key: path }), silentLogger(), undefined, {
      onReload: (_source, ok) => ok && reloaded.resolve(),
    });
    try {
      const oldToken = await signToken(first, { put: [""] });
      const newToken = await signToken(second, { put: [""] });
      assert.equal((await auth.authenticate(url("/", oldToken), "quic")).anonymous, false);
      await Deno.writeTextFile(path, encodeKey(second));
      await reloaded.promise;
      assert.equal((await auth.authenticate(url("/", newToken), "quic")).anonymous, false);
      assert.equal((await failure(auth.authenticate(url("/", oldToken), "quic"))).reason, "alg_mismatch");
    } finally {
      await auth.close();
    }
  });
});

Deno.test("bad tokens: neither log lines nor error messages carry the token or what it smuggles", async () => {
  const key = await generateKey("HS256", "k");
  const other = await generateKey("HS256", "k");
  const MARK = "SMUGGLEDSECRET";
  const good = await signToken(key, { put: ["demo"] });
  const [header, payload, signature] = good.split(".");
  const tokens = [
    `${header}.${payload}.${signature.slice(0, -4)}`, // truncated signature
    `${header}.${payload}.${signature}${MARK}`,
    `${header}.${b64json({ put: [""], note: MARK })}.${signature}`, // tampered payload
    `${b64json(`{"alg":"HS256","${MARK}"`)}.${payload}.${signature}`, // header not JSON
    `${header}.${b64json(`{"put":"${MARK}`)}.${signature}`,
    await signRaw(key, {}, `{"put":["${MARK}"`), // signed, payload not JSON
    `${b64json({ alg: "HS256", crit: [MARK], [MARK]: true })}.${payload}.${signature}`, // unknown crit
    `${b64json({ alg: "HS256", b64: false, crit: ["b64"] })}.${payload}.${signature}`,
    await signRaw(other, {}, { put: [""], note: MARK }), // wrong key
    `${b64json({ alg: `HS256${MARK}` })}.${payload}.${signature}`, // alg mismatch
    `${b64json({ alg: MARK })}.${payload}.${signature}`,
    `${MARK}.${MARK}.${MARK}`,
    `${MARK}${MARK}`,
  ];
  await withKeyAuth(key, {}, async (auth, lines) => {
    for (const token of tokens) {
      const error = await failure(auth.authenticate(url("/demo", token), "websocket"));
      const secretParts = [token, MARK, ...token.split(".").filter((s) => s.length >= 8)];
      for (const part of secretParts) {
        assert.ok(!error.message.includes(part), `error "${error.message}" carries ${part.slice(0, 20)}`);
      }
      for (const line of lines) {
        for (const part of secretParts) assert.ok(!line.includes(part), `log line carries it: ${line}`);
      }
    }
    assert.equal(lines.filter((l) => l.includes("authentication failed")).length, tokens.length);
  });
});
