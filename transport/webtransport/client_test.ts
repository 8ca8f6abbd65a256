import assert from "node:assert/strict";
import { silentLogger } from "../../log/mod.ts";
import { pattern, readAll, startTestServer, within } from "../../testing/mod.ts";
import { dialWebTransport, WebTransportRefusedError } from "./client.ts";

const logger = silentLogger();

Deno.test("webtransport client ↔ server: subprotocol, URL with jwt, streams, close with code", async () => {
  const t = await startTestServer({
    authorize: (url) =>
      Promise.resolve(
        url.pathname === "/denied" ? { status: 401, closeCode: 6, reason: "no" } : { ok: true },
      ),
  });
  try {
    const url = new URL(`https://127.0.0.1:${t.port}/room/a?jwt=abc.def`);
    const client = await dialWebTransport(url, { logger, certificateSha256: [t.cert.sha256Hex] });
    const server = (await within(5000, "no server session", t.sessions.next()))!;
    assert.equal(client.kind, "webtransport");
    assert.equal(client.protocol, "moq-lite-05");
    assert.equal(server.protocol, "moq-lite-05");
    assert.equal(server.url.href, url.href);
    assert.equal(t.authorized.at(-1)!.url.searchParams.get("jwt"), "abc.def");

    // client bidi: 1 MB byte-exact each way
    const payload = pattern(1_000_000, 11);
    const bidi = await client.openBidi();
    const sending = (async () => {
      for (let offset = 0; offset < payload.byteLength; offset += 50_000) {
        await bidi.send.write(payload.subarray(offset, offset + 50_000));
      }
      await bidi.send.close();
    })();
    const accepted = (await within(5000, "no bidi", server.acceptBidi()))!;
    assert.deepEqual(await readAll(accepted.recv), payload);
    await sending;
    await accepted.send.write(payload);
    await accepted.send.close();
    assert.deepEqual(await readAll(bidi.recv), payload);

    // server uni → client; client uni → server; server bidi → client
    const su = await server.openUni();
    await su.write(Uint8Array.of(1, 2));
    await su.close();
    assert.deepEqual(await readAll((await within(5000, "no uni", client.acceptUni()))!), Uint8Array.of(1, 2));
    const cu = await client.openUni();
    await cu.write(Uint8Array.of(3));
    await cu.close();
    assert.deepEqual(await readAll((await server.acceptUni())!), Uint8Array.of(3));
    const sb = await server.openBidi();
    await sb.send.write(Uint8Array.of(4));
    const cb = (await within(5000, "no server bidi", client.acceptBidi()))!;
    assert.deepEqual(await cb.recv.read(), Uint8Array.of(4));

    client.close(1234, "client done");
    assert.deepEqual(await within(5000, "server not closed", server.closed), {
      code: 1234,
      reason: "client done",
      remote: true,
      abrupt: false,
    });
    assert.deepEqual(await client.closed, {
      code: 1234,
      reason: "client done",
      remote: false,
      abrupt: false,
    });

    // No offered protocol → "" on both sides.
    const legacy = await dialWebTransport(url, {
      logger,
      certificateSha256: [t.cert.sha256Hex],
      protocols: [],
    });
    const legacyServer = (await t.sessions.next())!;
    assert.equal(legacy.protocol, "");
    assert.equal(legacyServer.protocol, "");
    legacyServer.close(7, "bye");
    assert.deepEqual(await within(5000, "client not closed", legacy.closed), {
      code: 7,
      reason: "bye",
      remote: true,
      abrupt: false,
    });

    // Refusal → a named error carrying the HTTP status.
    const refused = await dialWebTransport(new URL(`https://127.0.0.1:${t.port}/denied`), {
      logger,
      certificateSha256: [t.cert.sha256Hex],
    }).then(() => null, (e) => e);
    assert.ok(refused instanceof WebTransportRefusedError, String(refused));
    assert.equal(refused.status, 401);
  } finally {
    await t.close();
  }
});
