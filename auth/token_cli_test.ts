import assert from "node:assert/strict";
import { generateKey, runTokenCommand, signToken } from "./token_cli.ts";
import { ALGORITHMS, decodeBase64Flexible, parseKeyText } from "./jwk.ts";
import { loadKeyText } from "./_key_source.ts";
import { verifyToken } from "./_verify.ts";
import { captureIo, withTempDir } from "../testing/mod.ts";

const VECTOR_KEY =
  '{"alg":"HS256","key_ops":["verify","sign"],"kty":"oct","k":"jvS2B_SKkvhtObaiKg9n2vq_Iqdus-nVCVVYBWf0BQA","kid":"d55b1f13e6bda281"}';
const VECTOR_TOKEN =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImQ1NWIxZjEzZTZiZGEyODEifQ.eyJyb290IjoiZGVtbyIsInB1dCI6WyJhbGljZSJdLCJnZXQiOlsiYm9iIl19.eyOkZtTtj_MDkLF4Eu11cygb7B_6DyP-6e0TtwVE4UE";

async function run(args: string[], stdin = "") {
  const cap = captureIo(stdin);
  const code = await runTokenCommand(args, cap.io);
  return { code, out: cap.out(), err: cap.err() };
}

Deno.test("upstream interop vector verifies to {root: demo, put: [alice], get: [bob]}", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/key.jwk`, VECTOR_KEY);
    const result = await run(["verify", "--key", `${dir}/key.jwk`], VECTOR_TOKEN + "\n");
    assert.equal(result.code, 0, result.err);
    assert.deepEqual(JSON.parse(result.out), { root: "demo", put: ["alice"], get: ["bob"] });
  });
});

Deno.test("sign reproduces the upstream vector byte for byte (header and member order)", async () => {
  const key = parseKeyText(VECTOR_KEY, "vector");
  const token = await signToken(key, { root: "demo", put: ["alice"], get: ["bob"] });
  assert.equal(token, VECTOR_TOKEN);
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/key.jwk`, VECTOR_KEY);
    const cli = await run([
      "sign",
      "--key",
      `${dir}/key.jwk`,
      "--root",
      "demo",
      "--publish",
      "alice",
      "--subscribe",
      "bob",
    ]);
    assert.equal(cli.code, 0, cli.err);
    assert.equal(cli.out, VECTOR_TOKEN + "\n");
  });
});

Deno.test("every algorithm: generate, sign, verify round trip through the CLI", async () => {
  await withTempDir(async (dir) => {
    for (const alg of ALGORITHMS) {
      const priv = `${dir}/${alg}.jwk`;
      const pub = `${dir}/${alg}.pub.jwk`;
      const args = ["generate", "--algorithm", alg, "--id", `k-${alg}`, "--out", priv];
      if (!alg.startsWith("HS")) args.push("--public", pub);
      const gen = await run(args);
      assert.equal(gen.code, 0, `${alg}: ${gen.err}`);
      // Private files are base64url (no '{'), mode 0600.
      const text = await Deno.readTextFile(priv);
      assert.ok(!text.includes("{") && /^[A-Za-z0-9_-]+$/.test(text), `${alg} file is base64url`);
      assert.equal((await Deno.stat(priv)).mode! & 0o777, 0o600, `${alg} private mode`);
      const key = parseKeyText(text, priv);
      assert.equal(key.alg, alg);
      assert.equal(key.kid, `k-${alg}`);

      const signed = await run([
        "sign",
        "--key",
        priv,
        "--root",
        "demo",
        "--publish",
        "alice",
        "--subscribe",
        "",
        "--expires",
        String(Math.floor(Date.now() / 1000) + 600),
        "--issued",
        "1700000000",
      ]);
      assert.equal(signed.code, 0, `${alg}: ${signed.err}`);
      const token = signed.out.trim();
      const [header, payload] = token.split(".").slice(0, 2).map((s) =>
        new TextDecoder().decode(decodeBase64Flexible(s)!)
      );
      assert.equal(header, `{"typ":"JWT","alg":"${alg}","kid":"k-${alg}"}`);
      assert.match(payload, /^\{"root":"demo","put":\["alice"\],"get":\[""\],"exp":\d+,"iat":1700000000\}$/);

      const verifyWith = alg.startsWith("HS") ? priv : pub;
      if (!alg.startsWith("HS")) {
        const pubKey = parseKeyText(await Deno.readTextFile(pub), pub);
        assert.deepEqual(pubKey.keyOps, ["verify"]);
        assert.equal(pubKey.material.d, undefined);
        assert.equal(pubKey.kid, `k-${alg}`);
      }
      const verified = await run(["verify", "--key", verifyWith, "--in", "-"], token);
      assert.equal(verified.code, 0, `${alg}: ${verified.err}`);
      const claims = JSON.parse(verified.out);
      assert.equal(claims.root, "demo");
      assert.deepEqual(claims.put, ["alice"]);
      assert.deepEqual(claims.get, [""]);
      assert.equal(claims.iat, 1700000000);

      // A token signed by another key of the same algorithm fails.
      const other = await generateKey(alg);
      const forged = await signToken(other, { put: ["x"] });
      const bad = await run(["verify", "--key", verifyWith], forged);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /bad_signature|alg_mismatch/);
    }
  });
});

Deno.test("generate: key sizes, stdout default, --json, --out-dir/--public-dir, --key alias, scope", async () => {
  for (const [alg, bytes] of [["HS256", 32], ["HS384", 48], ["HS512", 64]] as const) {
    const key = await generateKey(alg);
    assert.equal(decodeBase64Flexible(key.material.k)!.length, bytes);
    assert.match(key.kid!, /^[0-9a-f]{16}$/);
  }
  const rsa = await generateKey("RS256");
  assert.equal(decodeBase64Flexible(rsa.material.n)!.length, 256);
  assert.equal(rsa.material.e, "AQAB");

  const stdout = await run(["generate"]);
  assert.equal(stdout.code, 0);
  assert.equal(parseKeyText(stdout.out, "stdout").alg, "HS256");

  await withTempDir(async (dir) => {
    const json = await run([
      "generate",
      "--algorithm",
      "ES256",
      "--json",
      "--key",
      `${dir}/k.json`,
      "--id",
      "abc",
    ]);
    assert.equal(json.code, 0, json.err);
    const parsed = JSON.parse(await Deno.readTextFile(`${dir}/k.json`));
    assert.equal(parsed.kty, "EC");
    assert.equal(parsed.kid, "abc");
    assert.deepEqual(Object.keys(parsed), ["alg", "key_ops", "kty", "crv", "x", "y", "d", "kid"]);

    const dirs = await run([
      "generate",
      "--algorithm",
      "EdDSA",
      "--id",
      "edkey",
      "--out-dir",
      `${dir}/priv`,
      "--public-dir",
      `${dir}/pub`,
      "--publish",
      "rooms",
      "--subscribe",
      "",
      "--root",
      "app",
    ]);
    assert.equal(dirs.code, 0, dirs.err);
    const priv = parseKeyText(await Deno.readTextFile(`${dir}/priv/edkey.jwk`), "priv");
    const pub = parseKeyText(await Deno.readTextFile(`${dir}/pub/edkey.jwk`), "pub");
    assert.deepEqual(priv.scope, { root: "app", put: ["rooms"], get: [""] });
    assert.deepEqual(pub.scope, priv.scope);

    // The scope is enforced when signing …
    const ok = await run(["sign", "--key", `${dir}/priv/edkey.jwk`, "--root", "app/rooms", "--publish", "a"]);
    assert.equal(ok.code, 0, ok.err);
    const denied = await run([
      "sign",
      "--key",
      `${dir}/priv/edkey.jwk`,
      "--root",
      "app",
      "--publish",
      "other",
    ]);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /scope/);
    // … and signing with the public half is refused.
    const pubSign = await run([
      "sign",
      "--key",
      `${dir}/pub/edkey.jwk`,
      "--root",
      "app",
      "--publish",
      "rooms",
    ]);
    assert.equal(pubSign.code, 1);
    assert.match(pubSign.err, /sign/);
  });
});

Deno.test("usage errors exit 2 and name the problem", async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing command/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["generate", "--algorithm", "HS999"], /unknown --algorithm "HS999"/],
    [["generate", "--id", "bad/kid"], /--id "bad\/kid"/],
    [["generate", "--algorithm", "ES256", "--public", "-"], /both keys to stdout/],
    [["generate", "--public", "/tmp/x"], /symmetric/],
    [["generate", "--out", "a", "--out-dir", "b"], /--out or --out-dir/],
    [["generate", "--bogus"], /unknown option --bogus/],
    [["sign", "--publish", "a"], /--key PATH is required/],
    [["sign", "--key", "k"], /--publish and\/or --subscribe/],
    [["sign", "--key", "k", "--publish", "a", "--expires", "soon"], /--expires must be a unix timestamp/],
    [["sign", "--key"], /--key needs a value/],
    [["verify", "--key", "-"], /both read from stdin/],
    [["verify"], /--key PATH is required/],
  ];
  for (const [args, pattern] of cases) {
    const result = await run(args);
    assert.equal(result.code, 2, args.join(" "));
    assert.match(result.err, pattern, args.join(" "));
  }
  // A token pasted where no argument belongs is not echoed back.
  const token = "eyJhbGciOiJIUzI1NiJ9.eyJwdXQiOlsiIl19.c2VjcmV0c2lnbmF0dXJlc2VjcmV0c2lnbmF0dXJl";
  const stray = await run(["verify", token]);
  assert.equal(stray.code, 2);
  assert.match(stray.err, /unexpected argument/);
  assert.ok(!stray.err.includes(token.split(".")[1]) && !stray.err.includes(token.split(".")[2]), stray.err);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /generate/);
});

Deno.test("sign/verify read keys from stdin; failures exit 1 with the reason", async () => {
  const signed = await run(["sign", "--key", "-", "--publish", "", "--expires", "1000"], VECTOR_KEY);
  assert.equal(signed.code, 0, signed.err);
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/key.jwk`, VECTOR_KEY);
    await Deno.writeTextFile(`${dir}/token`, signed.out);
    const expired = await run(["verify", "--key", `${dir}/key.jwk`, "--in", `${dir}/token`]);
    assert.equal(expired.code, 1);
    assert.match(expired.err, /expired/);
    const missing = await run(["verify", "--key", `${dir}/nope.jwk`], VECTOR_TOKEN);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /nope\.jwk/);
  });
});

Deno.test("a key from our generator verifies through the relay path (loadKeyText)", async () => {
  const key = await generateKey("PS256", "ps");
  const token = await signToken(key, { root: "r", get: ["x"] });
  const verifying = await loadKeyText(JSON.stringify({ ...JSON.parse(VECTOR_KEY), kid: "v" }), "vector");
  await assert.rejects(verifyToken(token, verifying), /alg/);
  const { encodeKey } = await import("./jwk.ts");
  const mine = await loadKeyText(encodeKey(key), "ps");
  assert.deepEqual((await verifyToken(token, mine)).get, ["x"]);
});
