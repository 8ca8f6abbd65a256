import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { generateSelfSignedCertificate } from "./tls/mod.ts";
import { dialQuic } from "./quic/mod.ts";
import { startTestServer } from "../testing/mod.ts";

Deno.test("a renewed certificate is presented to new connections; old sessions keep theirs", async () => {
  const t = await startTestServer();
  try {
    const first = await dialQuic(new URL(`https://127.0.0.1:${t.port}/`), {
      logger: silentLogger(),
      certificateSha256: [t.cert.sha256Hex],
    });
    const firstServer = await t.sessions.next();
    assert.ok(firstServer);
    const renewed = await generateSelfSignedCertificate(["localhost", "127.0.0.1"]);
    t.server.updateCertificate({ certPem: renewed.certPem, keyPem: renewed.keyPem });
    // New connections see the new certificate, and are still accepted by the same listener.
    const second = await dialQuic(new URL(`https://127.0.0.1:${t.port}/`), {
      logger: silentLogger(),
      certificateSha256: [renewed.sha256Hex],
    });
    const secondServer = await t.sessions.next();
    assert.ok(secondServer, "the renewed listener still delivers sessions");
    await assert.rejects(
      dialQuic(new URL(`https://127.0.0.1:${t.port}/`), {
        logger: silentLogger(),
        certificateSha256: [t.cert.sha256Hex],
        timeoutMs: 5_000,
      }),
      "the old certificate is no longer presented",
    );
    // The first connection still works: open a stream on it.
    const s = await first.openUni();
    await s.write(new Uint8Array([1, 2, 3]));
    await s.close();
    const got = await firstServer.acceptUni();
    assert.ok(got);
    assert.deepEqual(await got.read(), new Uint8Array([1, 2, 3]));
    for (const session of [first, second, firstServer, secondServer]) session.close(0, "done");
  } finally {
    await t.close();
  }
});
