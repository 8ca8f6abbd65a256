import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { SessionClosedError, StreamStoppedError, type TransportSession } from "./types.ts";
import { DialError, dialQuic, parseFingerprint } from "./quic/mod.ts";
import { parseBindAddress, QuicListenError, QuicServer, serverAlpns } from "./server.ts";
import { DEFAULT_VERSION_OFFER, versionOffer } from "./versions.ts";
import { pattern, readAll, sleep, startTestServer, within } from "../testing/mod.ts";

const logger = silentLogger();

async function dialTest(port: number, sha256Hex: string, alpns?: string[]): Promise<TransportSession> {
  return await dialQuic(new URL(`moql://127.0.0.1:${port}/`), {
    logger,
    alpns,
    certificateSha256: [sha256Hex],
    timeoutMs: 5000,
  });
}

Deno.test("raw QUIC: ALPN selects the protocol; streams both ways; byte-exact 1 MB; FIN; close codes", async () => {
  const t = await startTestServer();
  try {
    const client = await dialTest(t.port, t.cert.sha256Hex);
    const server = (await within(5000, "no server session", t.sessions.next()))!;
    assert.equal(client.kind, "quic");
    assert.equal(server.kind, "quic");
    assert.equal(client.protocol, "moq-lite-04");
    assert.equal(server.protocol, "moq-lite-04");
    assert.equal(server.url.href, "moql://127.0.0.1/");
    assert.match(server.peer, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(t.authorized.map((a) => [a.url.href, a.kind]), [["moql://127.0.0.1/", "quic"]]);

    // client → server bidi, 1 MB byte-exact, FIN both ways
    const payload = pattern(1_000_000, 7);
    const bidi = await client.openBidi();
    const sending = (async () => {
      for (let offset = 0; offset < payload.byteLength; offset += 64 * 1024) {
        await bidi.send.write(payload.subarray(offset, offset + 64 * 1024));
      }
      await bidi.send.close();
    })();
    const accepted = (await server.acceptBidi())!;
    const received = await readAll(accepted.recv);
    await sending;
    assert.equal(received.byteLength, payload.byteLength);
    assert.deepEqual(received, payload);
    assert.equal(await bidi.send.stopped, -1);
    assert.equal(bidi.send.bufferedBytes, 0);
    await accepted.send.write(new TextEncoder().encode("reply"));
    await accepted.send.close();
    assert.equal(new TextDecoder().decode(await readAll(bidi.recv)), "reply");

    // server → client uni
    const uni = await server.openUni();
    await uni.write(Uint8Array.of(1, 2, 3));
    await uni.close();
    const clientUni = (await client.acceptUni())!;
    assert.deepEqual(await readAll(clientUni), Uint8Array.of(1, 2, 3));

    // client → server uni
    const uni2 = await client.openUni();
    await uni2.write(Uint8Array.of(9));
    await uni2.close();
    assert.deepEqual(await readAll((await server.acceptUni())!), Uint8Array.of(9));

    // server → client bidi
    const sb = await server.openBidi();
    await sb.send.write(Uint8Array.of(4, 5));
    const cb = (await client.acceptBidi())!;
    assert.deepEqual(await cb.recv.read(), Uint8Array.of(4, 5));
    await cb.send.write(Uint8Array.of(6));
    await cb.send.close();
    assert.deepEqual(await readAll(sb.recv), Uint8Array.of(6));

    // STOP_SENDING: the reader stops, the writer learns (code 0: Deno sends no code)
    const stoppedBidi = await client.openBidi();
    await stoppedBidi.send.write(Uint8Array.of(1));
    const serverSide = (await server.acceptBidi())!;
    assert.deepEqual(await serverSide.recv.read(), Uint8Array.of(1));
    serverSide.recv.stop(5);
    const writeError = await (async () => {
      for (let i = 0; i < 50; i++) {
        try {
          await stoppedBidi.send.write(new Uint8Array(1000));
        } catch (error) {
          return error;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return null;
    })();
    assert.ok(writeError instanceof StreamStoppedError, `expected StreamStoppedError, got ${writeError}`);
    assert.equal(await stoppedBidi.send.stopped, 0);

    // reset() = FIN in Deno: the reader sees a clean end after the bytes sent
    const resetBidi = await client.openBidi();
    await resetBidi.send.write(Uint8Array.of(7, 7));
    const resetSide = (await server.acceptBidi())!;
    assert.deepEqual(await resetSide.recv.read(), Uint8Array.of(7, 7));
    resetBidi.send.reset(3);
    assert.equal(await resetSide.recv.read(), null);
    await assert.rejects(resetBidi.send.write(Uint8Array.of(1)));

    // a pending accept and a pending read end when the peer closes the session with a code
    const pendingRead = await client.openBidi();
    await pendingRead.send.write(Uint8Array.of(0));
    const serverPending = (await server.acceptBidi())!;
    await serverPending.recv.read();
    const readPromise = serverPending.recv.read();
    const acceptPromise = server.acceptUni();
    client.close(42, "client bye");
    const serverClosed = await within(5000, "server session not closed", server.closed);
    assert.deepEqual(serverClosed, { code: 42, reason: "client bye", remote: true, abrupt: false });
    assert.deepEqual(await client.closed, { code: 42, reason: "client bye", remote: false, abrupt: false });
    await assert.rejects(readPromise, SessionClosedError);
    assert.equal(await acceptPromise, null);
    await assert.rejects(server.openBidi(), SessionClosedError);
    await assert.rejects(serverPending.send.write(Uint8Array.of(1)), SessionClosedError);
    assert.equal(await server.acceptBidi(), null);
  } finally {
    await t.close();
  }
});

Deno.test("raw QUIC: moql ALPN negotiates no protocol; moq-lite-03; refusal closes with the code", async () => {
  const t = await startTestServer({
    authorize: (url) =>
      Promise.resolve(
        url.hostname === "refused.test"
          ? { status: 401, closeCode: 6, reason: "unauthorized" }
          : { ok: true },
      ),
  });
  try {
    const moql = await dialTest(t.port, t.cert.sha256Hex, ["moql"]);
    const serverMoql = (await t.sessions.next())!;
    assert.equal(moql.protocol, "");
    assert.equal(serverMoql.protocol, "");
    moql.close(0, "");
    assert.equal((await serverMoql.closed).code, 0);

    const v3 = await dialTest(t.port, t.cert.sha256Hex, ["moq-lite-03", "moq-lite-04"]);
    const serverV3 = (await t.sessions.next())!;
    // The server's preference order wins in TLS ALPN selection.
    assert.equal(serverV3.protocol, v3.protocol);
    v3.close(0, "");
    await serverV3.closed;

    const refused = await dialQuic(new URL(`moql://127.0.0.1:${t.port}/`), {
      logger,
      certificateSha256: [t.cert.sha256Hex],
      serverName: "refused.test",
    });
    const info = await within(5000, "refused session not closed", refused.closed);
    assert.deepEqual(info, { code: 6, reason: "unauthorized", remote: true, abrupt: false });
    assert.equal(t.authorized.at(-1)!.url.href, "moql://refused.test/");
  } finally {
    await t.close();
  }
});

Deno.test("raw QUIC: server shutdown closes sessions with code 0 'server shutdown'", async () => {
  const t = await startTestServer();
  const client = await dialTest(t.port, t.cert.sha256Hex);
  const server = (await t.sessions.next())!;
  await t.close();
  assert.deepEqual(await within(5000, "client not closed", client.closed), {
    code: 0,
    reason: "server shutdown",
    remote: true,
    abrupt: false,
  });
  assert.equal((await server.closed).remote, false);
});

Deno.test("raw QUIC: idle timeout is an abrupt close", async () => {
  const t = await startTestServer({ idleTimeoutMs: 400, keepAliveMs: 0 });
  try {
    // The client must not keep the connection alive either.
    const client = await dialQuic(new URL(`moql://127.0.0.1:${t.port}/`), {
      logger,
      certificateSha256: [t.cert.sha256Hex],
      keepAliveMs: 0,
      idleTimeoutMs: 400,
    });
    const server = (await t.sessions.next())!;
    const info = await within(5000, "no idle timeout", server.closed);
    assert.equal(info.abrupt, true);
    assert.equal(info.remote, true);
    assert.match(info.reason, /timed out/);
    assert.equal((await within(5000, "client no idle timeout", client.closed)).abrupt, true);
  } finally {
    await t.close();
  }
});

Deno.test("dial: verification options and errors", async () => {
  const t = await startTestServer();
  try {
    // Not trusted: named error with a hint.
    const untrusted = await dialQuic(new URL(`moql://127.0.0.1:${t.port}/`), { logger, timeoutMs: 5000 })
      .then(
        () => null,
        (e) => e,
      );
    assert.ok(untrusted instanceof DialError);
    assert.match(untrusted.message, /not trusted/);
    // CA roots: the self-signed leaf is its own root.
    const viaCa = await dialQuic(new URL(`https://localhost:${t.port}/`), {
      logger,
      caCerts: [t.cert.certPem],
    }).catch(async () =>
      // localhost may resolve to ::1 first on some hosts; the name check is what matters here
      await dialQuic(new URL(`https://127.0.0.1:${t.port}/`), {
        logger,
        caCerts: [t.cert.certPem],
        serverName: "localhost",
      })
    );
    assert.equal(viaCa.protocol, "moq-lite-04");
    viaCa.close(0, "");
    // disableVerify needs the peer's web listener: none here → a DialError that says so.
    const noWeb = await dialQuic(new URL(`https://127.0.0.1:${t.port}/`), { logger, disableVerify: true })
      .then(
        () => null,
        (e) => e,
      );
    assert.ok(noWeb instanceof DialError);
    assert.match(noWeb.message, /certificate\.sha256/);
    // Wrong ALPN.
    const alpn = await dialTest(t.port, t.cert.sha256Hex, ["nope"]).then(() => null, (e) => e);
    assert.ok(alpn instanceof DialError);
    // Timeout: nobody listens on this port.
    const idle = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const started = Date.now();
      const timedOut = await dialQuic(new URL(`moql://127.0.0.1:${(idle.addr as Deno.NetAddr).port}/`), {
        logger,
        certificateSha256: [t.cert.sha256Hex],
        timeoutMs: 300,
      }).then(() => null, (e) => e);
      assert.ok(timedOut instanceof DialError);
      assert.match(timedOut.message, /timed out after 300 ms/);
      assert.ok(Date.now() - started < 3000);
    } finally {
      idle.close();
    }
    await viaCa.closed;
  } finally {
    await t.close();
  }
});

Deno.test("dial: disableVerify pins the fingerprint served over HTTP on the same port", async () => {
  const t = await startTestServer();
  const ac = new AbortController();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: t.port, signal: ac.signal, onListen: () => {} },
    (req) => {
      return new URL(req.url).pathname === "/certificate.sha256"
        ? new Response(t.cert.sha256Hex)
        : new Response("no", { status: 404 });
    },
  );
  try {
    const client = await dialQuic(new URL(`https://127.0.0.1:${t.port}/`), { logger, disableVerify: true });
    assert.equal(client.protocol, "moq-lite-04");
    const server = (await t.sessions.next())!;
    client.close(0, "");
    await server.closed;
  } finally {
    ac.abort();
    await http.finished;
    await t.close();
  }
});

Deno.test("quic server: bind errors name the address; helpers", async () => {
  const t = await startTestServer();
  try {
    const error = (() => {
      try {
        new QuicServer({
          bind: `127.0.0.1:${t.port}`,
          certificates: [{ certPem: t.cert.certPem, keyPem: t.cert.keyPem }],
          logger,
          authorize: () => Promise.resolve({ ok: true }),
          onSession: () => {},
        });
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof QuicListenError);
    assert.equal(error.address, `127.0.0.1:${t.port}`);
    assert.ok(error.message.includes(`127.0.0.1:${t.port}`));
    assert.match(error.message, /already in use/);
    assert.throws(() => parseBindAddress("localhost"), QuicListenError);
    assert.deepEqual(parseBindAddress("[::]:443"), { hostname: "::", port: 443 });
    assert.deepEqual(parseBindAddress("relay.example:4443"), { hostname: "relay.example", port: 4443 });
    assert.deepEqual(serverAlpns(versionOffer(["moq-lite-03", "moq-lite-01"])), [
      "moq-lite-03",
      "moql",
      "h3",
    ]);
    assert.deepEqual(serverAlpns(versionOffer(["moq-lite-04", "moq-lite-03"])), [
      "moq-lite-04",
      "moq-lite-03",
      "h3",
    ]);
    // Upstream's order: moq-lite by ALPN, `moql`, IETF moq-transport, then `h3`.
    const lite = DEFAULT_VERSION_OFFER.protocols.filter((p) => p.startsWith("moq-lite-"));
    const ietf = DEFAULT_VERSION_OFFER.protocols.filter((p) => !p.startsWith("moq-lite-"));
    assert.deepEqual(serverAlpns(), [...lite, "moql", ...ietf, "h3"]);
    assert.deepEqual(serverAlpns().slice(0, 4), ["moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"]);
    assert.equal(parseFingerprint("0x" + "AB:".repeat(31) + "AB")?.byteLength, 32);
    assert.equal(parseFingerprint("abc"), null);
    const badCert = (() => {
      try {
        new QuicServer({
          bind: "127.0.0.1:0",
          certificates: [{ certPem: "junk", keyPem: "junk" }],
          logger,
          authorize: () => Promise.resolve({ ok: true }),
          onSession: () => {},
        });
        return null;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(badCert instanceof QuicListenError);
    assert.match(badCert.message, /\[server\.tls\]/);
  } finally {
    await t.close();
  }
});

Deno.test("quic server: an AbortSignal stops it", async () => {
  const ac = new AbortController();
  const t = await startTestServer();
  await t.close();
  // A second server driven by a signal.
  const server = new QuicServer({
    bind: "127.0.0.1:0",
    certificates: [{ certPem: t.cert.certPem, keyPem: t.cert.keyPem }],
    logger,
    authorize: () => Promise.resolve({ ok: true }),
    onSession: () => {},
    signal: ac.signal,
  });
  const client = await dialTest(server.addr.port, t.cert.sha256Hex);
  ac.abort();
  await within(5000, "server did not stop", server.closed);
  assert.equal((await client.closed).reason, "server shutdown");
});

Deno.test("raw QUIC: write() promises are the backpressure; bufferedBytes counts what Deno has not taken", async () => {
  const t = await startTestServer();
  try {
    const client = await dialTest(t.port, t.cert.sha256Hex);
    const server = (await t.sessions.next())!;
    const uni = await server.openUni();
    const chunk = new Uint8Array(64 * 1024);
    const total = 64; // 4 MiB queued without awaiting, while nobody reads
    let settled = 0;
    const writes = Array.from({ length: total }, () => uni.write(chunk).then(() => void settled++));
    for (const w of writes) w.catch(() => {}); // a failed assertion below closes the session
    await sleep(300);
    // The send half queues writes and settles them while less than its high-water mark is queued;
    // quinn takes about the flow-control window (~1.2 MB here), the rest stays queued.
    assert.ok(settled < total, `all ${total} writes settled without a reader`);
    assert.ok(uni.bufferedBytes >= 2 * 1024 * 1024, `${uni.bufferedBytes} bytes queued while nobody reads`);
    assert.ok(uni.bufferedBytes <= total * chunk.byteLength);
    const reader = (await client.acceptUni())!;
    const received = readAll(reader);
    await Promise.all(writes);
    await uni.close();
    assert.equal((await received).byteLength, total * chunk.byteLength);
    assert.equal(uni.bufferedBytes, 0);
    client.close(0, "");
    await server.closed;
  } finally {
    await t.close();
  }
});
