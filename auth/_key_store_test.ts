import assert from "node:assert/strict";
import { KeyStore } from "./_key_store.ts";
import { type KeyStoreOptions, MAX_CACHED_MISSES } from "./_key_source.ts";
import { encodeKey, KeyError } from "./jwk.ts";
import { generateKey } from "./token_cli.ts";
import { AuthError, type AuthFailureReason } from "./types.ts";
import { silentLogger } from "../log/mod.ts";
import { eventually, withTempDir } from "../testing/mod.ts";

async function reason(promise: Promise<unknown>): Promise<AuthFailureReason> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof AuthError, `expected AuthError, got ${e}`);
    return e.reason;
  }
  assert.fail("expected a rejection");
}

/** Replace a file the way editors and deploy tools do (write elsewhere, rename over). */
async function replaceFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, text);
  await Deno.rename(`${path}.tmp`, path);
}

Deno.test("a bad [auth] key file is fatal at create() with a message naming it", async () => {
  await withTempDir(async (dir) => {
    const short = JSON.stringify({ alg: "HS256", k: "c2hvcnQ" });
    const signOnly = JSON.stringify({
      ...JSON.parse(encodeKey(await generateKey("HS256"), "json")),
      key_ops: ["sign"],
    });
    const cases: Array<[string, string | undefined, RegExp]> = [
      [`${dir}/missing.jwk`, undefined, /missing\.jwk: file not found/],
      [`${dir}/garbage.jwk`, "{oops", /garbage\.jwk: not valid JSON/],
      [`${dir}/short.jwk`, short, /short\.jwk: the secret "k" is 5 bytes/],
      [`${dir}/signonly.jwk`, signOnly, /signonly\.jwk: key_ops \["sign"\] does not include "verify"/],
    ];
    for (const [path, text, pattern] of cases) {
      if (text !== undefined) await Deno.writeTextFile(path, text);
      await assert.rejects(KeyStore.create({ key: path }, silentLogger()), (e: unknown) => {
        assert.ok(e instanceof KeyError, String(e));
        assert.match(e.message, pattern);
        return true;
      });
    }
    await assert.rejects(
      KeyStore.create({ keyDir: `${dir}/nodir` }, silentLogger()),
      /nodir: key_dir does not exist/,
    );
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(
      KeyStore.create({ keyDir: `${dir}/file` }, silentLogger()),
      /key_dir is not a directory/,
    );
    await assert.rejects(KeyStore.create({ key: "a", keyDir: "b" }, silentLogger()), /either key or key_dir/);
  });
});

Deno.test("no key configured: resolve refuses with no_key", async () => {
  const store = await KeyStore.create({}, silentLogger());
  assert.equal(store.configured, false);
  assert.equal(await reason(store.resolve(undefined)), "no_key");
  await store.close();
});

for (const mode of ["watch", "poll"] as const) {
  Deno.test(`[auth] key reloads when the file changes (${mode}); a bad reload keeps the last good key`, async () => {
    await withTempDir(async (dir) => {
      const path = `${dir}/root.jwk`;
      const first = await generateKey("HS256", "first");
      const second = await generateKey("ES256", "second");
      const third = await generateKey("EdDSA", "third");
      await Deno.writeTextFile(path, encodeKey(first));
      const reloads: boolean[] = [];
      const options: KeyStoreOptions = {
        poll: mode === "poll",
        pollIntervalMs: 30,
        onReload: (_source, ok) => void reloads.push(ok),
      };
      const store = await KeyStore.create({ key: path }, silentLogger(), undefined, options);
      try {
        assert.equal((await store.resolve("ignored")).jwk.kid, "first");
        // Resolving does no I/O, and losing the file keeps the last good key.
        await Deno.remove(path);
        await eventually("a failed reload", () => reloads.includes(false), 5_000);
        assert.equal((await store.resolve(undefined)).jwk.kid, "first");
        await replaceFile(path, encodeKey(second));
        await eventually(
          "key second",
          async () => (await store.resolve(undefined)).jwk.kid === "second",
          5_000,
        );
        assert.equal((await store.resolve(undefined)).jwk.alg, "ES256");

        const before = reloads.length;
        await Deno.writeTextFile(path, "{ broken");
        await eventually(
          "a failed reload of the broken file",
          () => reloads.slice(before).includes(false),
          5_000,
        );
        assert.equal((await store.resolve(undefined)).jwk.kid, "second");

        await Deno.writeTextFile(path, encodeKey(third, "json"));
        await eventually(
          "key third",
          async () => (await store.resolve(undefined)).jwk.kid === "third",
          5_000,
        );
      } finally {
        await store.close();
      }
    });
  });
}

Deno.test("[auth] key in a Kubernetes-style secret mount reloads on the ..data symlink swap", async () => {
  await withTempDir(async (dir) => {
    const first = await generateKey("HS256", "first");
    const second = await generateKey("HS256", "second");
    await Deno.mkdir(`${dir}/..v1`);
    await Deno.writeTextFile(`${dir}/..v1/root.jwk`, encodeKey(first));
    await Deno.symlink("..v1", `${dir}/..data`);
    await Deno.symlink("..data/root.jwk", `${dir}/root.jwk`);
    const store = await KeyStore.create({ key: `${dir}/root.jwk` }, silentLogger());
    try {
      assert.equal((await store.resolve(undefined)).jwk.kid, "first");
      await Deno.mkdir(`${dir}/..v2`);
      await Deno.writeTextFile(`${dir}/..v2/root.jwk`, encodeKey(second));
      await Deno.symlink("..v2", `${dir}/..data_tmp`);
      await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
      await eventually(
        "key second",
        async () => (await store.resolve(undefined)).jwk.kid === "second",
        5_000,
      );
    } finally {
      await store.close();
    }
  });
});

Deno.test("key_dir: lazy per-kid files, unknown kids, invalid files, additions and removals", async () => {
  await withTempDir(async (dir) => {
    const a = await generateKey("HS256", "a");
    await Deno.writeTextFile(`${dir}/a.jwk`, encodeKey(a));
    await Deno.writeTextFile(`${dir}/broken.jwk`, "nope");
    const reloads: string[] = [];
    const store = await KeyStore.create({ keyDir: dir + "/" }, silentLogger(), undefined, {
      onReload: (source, ok) => void reloads.push(`${source}:${ok}`),
    });
    try {
      assert.equal((await store.resolve("a")).jwk.kid, "a");
      assert.equal(await reason(store.resolve(undefined)), "unknown_kid");
      assert.equal(await reason(store.resolve("../a")), "unknown_kid");
      assert.equal(await reason(store.resolve("b")), "unknown_kid");
      assert.equal(await reason(store.resolve("broken")), "no_key");

      // A key added later is found (the cached miss is dropped on the file event).
      const b = await generateKey("ES384", "b");
      await replaceFile(`${dir}/b.jwk`, encodeKey(b));
      await eventually("kid b", async () => (await store.resolve("b").then(() => true, () => false)), 5_000);
      assert.equal((await store.resolve("b")).jwk.alg, "ES384");

      // A changed key is reloaded; a removed key is revoked.
      const a2 = await generateKey("HS512", "a");
      await replaceFile(`${dir}/a.jwk`, encodeKey(a2));
      await eventually("kid a as HS512", async () => (await store.resolve("a")).jwk.alg === "HS512", 5_000);
      await Deno.remove(`${dir}/b.jwk`);
      await eventually(
        "kid b unknown",
        () =>
          store.resolve("b").then(() => false, (e) => e instanceof AuthError && e.reason === "unknown_kid"),
        5_000,
      );
      assert.ok(reloads.some((r) => r.endsWith("a.jwk:true")), reloads.join(" "));
    } finally {
      await store.close();
    }
  });
});

Deno.test("key_dir: misses are cached apart from keys and never evict them", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.jwk`, encodeKey(await generateKey("HS256", "a")));
    const store = await KeyStore.create({ keyDir: dir }, silentLogger(), undefined, { poll: true });
    try {
      const before = await store.resolve("a");
      for (let i = 0; i < MAX_CACHED_MISSES + 100; i++) {
        assert.equal(await reason(store.resolve(`random${i}`)), "unknown_kid");
      }
      assert.equal(await store.resolve("a"), before, "the same cached key, not a reload");
    } finally {
      await store.close();
    }
  });
});

Deno.test("aborting the signal closes watchers", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/k.jwk`, encodeKey(await generateKey("HS256")));
    const controller = new AbortController();
    const store = await KeyStore.create({ key: `${dir}/k.jwk` }, silentLogger(), controller.signal);
    controller.abort();
    await store.close(); // resolves once the watcher loop has ended
    assert.equal(await reason(store.resolve(undefined)), "key_unavailable");
  });
});
