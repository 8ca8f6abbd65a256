/**
 * Interop with the JS reference implementation `@moq/token` (npm): keys it generates verify tokens
 * our CLI signs, and the other way round.
 */

import assert from "node:assert/strict";
import * as moqToken from "../testing/moq_token.ts";
import { runTokenCommand } from "./token_cli.ts";
import { JwtAuthenticator } from "./authenticator.ts";
import { captureIo, withTempDir } from "../testing/mod.ts";
import { silentLogger } from "../log/mod.ts";

const ALGS = ["HS256", "ES256", "EdDSA", "PS256"] as const;

Deno.test("@moq/token keys verify tokens signed by our CLI, and vice versa", async () => {
  await withTempDir(async (dir) => {
    for (const alg of ALGS) {
      // 1. @moq/token generates a key (pretty JSON, as its CLI writes); our CLI signs with it.
      const jsKey = await moqToken.generate(alg, `js-${alg}`);
      const jsKeyPath = `${dir}/js-${alg}.jwk`;
      await Deno.writeTextFile(jsKeyPath, JSON.stringify(jsKey, null, 2));
      const sign = captureIo();
      const code = await runTokenCommand(
        ["sign", "--key", jsKeyPath, "--root", "demo", "--publish", "alice", "--subscribe", "bob"],
        sign.io,
      );
      assert.equal(code, 0, sign.err());
      const ourToken = sign.out().trim();
      const verifyKey = alg.startsWith("HS") ? jsKey : moqToken.toPublicKey(jsKey);
      const jsClaims = await moqToken.verify(verifyKey, ourToken, "demo");
      assert.equal(jsClaims.root, "demo");
      assert.deepEqual(jsClaims.put, ["alice"]);
      assert.deepEqual(jsClaims.get, ["bob"]);

      // 2. Our CLI generates a key (base64url file); @moq/token loads it and signs; the relay verifies.
      const ourKeyPath = `${dir}/ours-${alg}.jwk`;
      const ourPublicPath = `${dir}/ours-${alg}.pub.jwk`;
      const args = ["generate", "--algorithm", alg, "--id", `ours-${alg}`, "--out", ourKeyPath];
      if (!alg.startsWith("HS")) args.push("--public", ourPublicPath);
      const gen = captureIo();
      assert.equal(await runTokenCommand(args, gen.io), 0, gen.err());
      const loaded = moqToken.load(await Deno.readTextFile(ourKeyPath));
      const jsToken = await moqToken.sign(loaded, { root: "demo", put: ["alice"], get: [""] });
      const auth = await JwtAuthenticator.create(
        {
          key: alg.startsWith("HS") ? ourKeyPath : ourPublicPath,
          public: { publish: [], subscribe: [] },
          domains: [],
        },
        silentLogger(),
      );
      try {
        const grant = await auth.authenticate(new URL(`https://relay.test/demo?jwt=${jsToken}`), "websocket");
        assert.deepEqual([grant.root, grant.publish, grant.subscribe], ["demo", ["alice"], [""]], alg);
      } finally {
        await auth.close();
      }
      if (!alg.startsWith("HS")) {
        // @moq/token also reads our public file.
        const pub = moqToken.loadPublic(await Deno.readTextFile(ourPublicPath));
        assert.equal((await moqToken.verify(pub, jsToken, "demo")).root, "demo");
      }
    }
  });
});
