import assert from "node:assert/strict";
import { SessionClosedError, StreamStoppedError, type TransportSession } from "../types.ts";
import { preferredLiteProtocol } from "../versions.ts";
import { hexBytes, pattern, readAll, sleep, spacedHex, startTestServer, within } from "../../testing/mod.ts";
import { chromiumConnect, RawH3Client, readFrame, streamHeader } from "./raw_h3_client.ts";
import { encodeCapsule, encodeCloseSessionData } from "./_capsule.ts";
import { encodeH3Frame, FRAME, H3_ERROR } from "./h3.ts";
import { encodeVarint } from "../../codec/mod.ts";
import type { BufferedReader } from "./_buffered_reader.ts";

const ascii = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Read a BufferedReader to its end. */
async function drain(reader: BufferedReader): Promise<Uint8Array> {
  const chunks: number[] = [];
  while (true) {
    const chunk = await reader.readSome(1 << 20);
    if (!chunk) break;
    chunks.push(...chunk);
  }
  return Uint8Array.from(chunks);
}

/** Connect a raw client, check the server's control stream, send SETTINGS and a Chromium CONNECT. */
async function handshake(port: number, sha256Hex: string, path: string, protocols?: string) {
  const client = await RawH3Client.connect(port, hexBytes(sha256Hex));
  const control = (await within(5000, "no server control stream", client.uni.next()))!;
  assert.equal(control.id, 3n);
  assert.equal(
    spacedHex(await control.reader.readBytes(17)),
    "00 04 0e 08 01 33 01 80 ff d2 77 01 ab 60 37 42 01",
  );
  await client.sendSettings();
  const connect = await client.openConnect(chromiumConnect(`127.0.0.1:${port}`, path, protocols));
  const response = (await within(5000, "no CONNECT response", readFrame(connect.reader)))!;
  return { client, control, connect, response };
}

Deno.test("webtransport: Chromium-shaped handshake and streams, byte for byte", async () => {
  const t = await startTestServer();
  try {
    const { client, control, connect, response } = await handshake(
      t.port,
      t.cert.sha256Hex,
      "/basic?jwt=abc",
      '"moq-lite-04", "moq-lite-03"',
    );
    assert.equal(connect.id, 0n);
    assert.equal(response.type, FRAME.HEADERS);
    assert.equal(
      spacedHex(encodeH3Frame(response.type, response.payload)),
      "01 1e 00 00 d9 27 04 " + spacedHex(ascii("wt-protocol")) + " 0d " + spacedHex(ascii('"moq-lite-04"')),
    );
    const session = (await within(5000, "no session", t.sessions.next()))!;
    assert.equal(session.kind, "webtransport");
    assert.equal(session.protocol, "moq-lite-04");
    assert.equal(session.url.href, `https://127.0.0.1:${t.port}/basic?jwt=abc`);
    assert.match(session.peer, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(t.authorized.map((a) => [a.url.href, a.kind]), [[session.url.href, "webtransport"]]);

    // Chromium sends a GREASE capsule in a DATA frame right after the 200.
    const greaseCapsule = encodeCapsule(0x29 * 3 + 0x17, pattern(17));
    await connect.writer.write(encodeH3Frame(FRAME.DATA, greaseCapsule));

    // Browser uni stream: header and payload in one write, FIN.
    const uniWriter = await client.openUni(Uint8Array.from([...streamHeader("uni", 0), ...ascii("hello")]));
    await uniWriter.close();
    assert.equal(text(await readAll((await within(5000, "no uni", session.acceptUni()))!)), "hello");

    // Browser uni stream with the header split over several writes.
    const split = await client.openUni(Uint8Array.of(0x40));
    await sleep(20);
    await split.write(Uint8Array.of(0x54));
    await sleep(20);
    await split.write(Uint8Array.from([0x00, ...ascii("split")]));
    await split.close();
    assert.equal(text(await readAll((await session.acceptUni())!)), "split");

    // Browser bidi: echo with FIN both ways.
    const bidi = await client.openBidi(Uint8Array.from([...streamHeader("bidi", 0), ...ascii("ping")]));
    const serverBidi = (await within(5000, "no bidi", session.acceptBidi()))!;
    assert.equal(text((await serverBidi.recv.read())!), "ping");
    await bidi.writer.close();
    assert.equal(await serverBidi.recv.read(), null);
    await serverBidi.send.write(ascii("pong"));
    await serverBidi.send.close();
    assert.equal(text(await drain(bidi.reader)), "pong");

    // Server uni: 100 000 bytes behind the `40 54 00` header.
    const big = pattern(100_000, 3);
    const serverUni = await session.openUni();
    await serverUni.write(big);
    await serverUni.close();
    const clientUni = (await within(5000, "no server uni", client.uni.next()))!;
    assert.equal(clientUni.id % 4n, 3n);
    const uniBytes = await drain(clientUni.reader);
    assert.equal(spacedHex(uniBytes.subarray(0, 3)), "40 54 00");
    assert.deepEqual(uniBytes.subarray(3), big);

    // Server bidi: `40 41 00` + payload; the browser replies and FINs.
    const serverOpened = await session.openBidi();
    await serverOpened.send.write(ascii("srv"));
    const clientBidi = (await within(5000, "no server bidi", client.bidi.next()))!;
    assert.equal(clientBidi.id % 4n, 1n);
    assert.equal(spacedHex(await clientBidi.reader.readBytes(6)), "40 41 00 " + spacedHex(ascii("srv")));
    await clientBidi.writer.write(ascii("cli"));
    await clientBidi.writer.close();
    assert.equal(text(await readAll(serverOpened.recv)), "cli");

    // STOP_SENDING from the browser reaches the server's writer.
    const stopped = await session.openUni();
    await stopped.write(ascii("x"));
    const clientStopped = (await client.uni.next())!;
    await clientStopped.reader.readBytes(4);
    await clientStopped.reader.reader.cancel();
    let stopError: unknown = null;
    for (let i = 0; i < 50 && !stopError; i++) {
      await stopped.write(new Uint8Array(1000)).catch((e) => (stopError = e));
      await sleep(10);
    }
    assert.ok(stopError instanceof StreamStoppedError, String(stopError));

    // Browser closes: CLOSE capsule (as Chromium writes it) + FIN.
    const pendingAccept = session.acceptUni();
    await connect.writer.write(encodeCloseSessionData(1234, "browser done"));
    await connect.writer.close();
    assert.deepEqual(await within(5000, "session not closed", session.closed), {
      code: 1234,
      reason: "browser done",
      remote: true,
      abrupt: false,
    });
    assert.equal(await pendingAccept, null);
    await assert.rejects(session.openUni(), SessionClosedError);
    // The server FINs its CONNECT side and closes the QUIC connection with H3_NO_ERROR.
    assert.equal(await within(5000, "no CONNECT FIN", readFrame(connect.reader)), null);
    const closed = await within(5000, "connection not closed", client.conn.closed);
    assert.equal(closed.closeCode, H3_ERROR.NO_ERROR);
    assert.equal(control.reader.buffered, 0);
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: server close sends the CLOSE capsule in DATA, FIN, then closes QUIC", async () => {
  const t = await startTestServer();
  try {
    const { client, connect } = await handshake(t.port, t.cert.sha256Hex, "/close");
    const session = (await t.sessions.next())!;
    // A server stream that is open when the session closes gets terminated.
    const serverBidi = await session.openBidi();
    await serverBidi.send.write(ascii("open"));
    const pendingRead = serverBidi.recv.read();
    session.close(4242, "server says bye");
    assert.deepEqual(await session.closed, {
      code: 4242,
      reason: "server says bye",
      remote: false,
      abrupt: false,
    });
    await assert.rejects(pendingRead, SessionClosedError);
    const frame = (await within(5000, "no capsule", readFrame(connect.reader)))!;
    assert.equal(
      spacedHex(encodeH3Frame(frame.type, frame.payload)),
      spacedHex(encodeCloseSessionData(4242, "server says bye")),
    );
    assert.equal(
      spacedHex(encodeH3Frame(frame.type, frame.payload).subarray(0, 9)),
      "00 16 68 43 13 00 00 10 92",
    );
    assert.equal(await readFrame(connect.reader), null); // FIN
    const started = Date.now();
    await connect.writer.close(); // the browser FINs 1–4 ms later
    const closed = await within(5000, "connection not closed", client.conn.closed);
    assert.equal(closed.closeCode, H3_ERROR.NO_ERROR);
    assert.ok(Date.now() - started < 1500, "the server should close soon after the peer's FIN");
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: refusals are HTTP statuses, decided before the answer", async () => {
  const statuses: Record<string, number> = { "/unauth": 401, "/forbidden": 403, "/missing": 404 };
  const t = await startTestServer({
    authorize: (url) => {
      if (url.pathname === "/throws") return Promise.reject(new Error("boom"));
      const status = statuses[url.pathname];
      return Promise.resolve(status ? { status, closeCode: 6, reason: "no" } : { ok: true });
    },
  });
  try {
    const expected: Record<string, string> = {
      "/unauth": "01 08 00 00 5f 09 03 34 30 31",
      "/forbidden": "01 04 00 00 ff 05",
      "/missing": "01 03 00 00 db",
      "/throws": "01 04 00 00 ff 08",
    };
    for (const [path, bytes] of Object.entries(expected)) {
      const { client, connect, response } = await handshake(t.port, t.cert.sha256Hex, path);
      assert.equal(spacedHex(encodeH3Frame(response.type, response.payload)), bytes, path);
      assert.equal(await readFrame(connect.reader), null, `${path}: FIN after the refusal`);
      // A connection with nothing else to serve is closed shortly after.
      assert.equal(
        (await within(5000, `${path}: not closed`, client.conn.closed)).closeCode,
        H3_ERROR.NO_ERROR,
      );
      await client.close();
    }
    assert.equal(t.sessions.size, 0);
    // A malformed CONNECT (plain GET) is a 405 without asking authorize.
    const before = t.authorized.length;
    const client = await RawH3Client.connect(t.port, hexBytes(t.cert.sha256Hex));
    await client.sendSettings();
    const get = await client.openConnect(Uint8Array.from([0x00, 0x00, 0xd1, 0xd7, 0xc1, 0x50, 0x01, 0x61]));
    const response = (await readFrame(get.reader))!;
    assert.equal(spacedHex(encodeH3Frame(response.type, response.payload)), "01 08 00 00 5f 09 03 34 30 35");
    assert.equal(t.authorized.length, before);
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: subprotocol selection follows the client's order among enabled versions", async () => {
  const moqNet = '"moq-lite-05", "moq-lite-04", "moq-lite-03", "moql", "moqt-20", "moqt-19", "moqt-18"';
  const cases: Array<{ offer?: string; enabled?: string[]; expect: string }> = [
    // @moq/net 0.3.4: its first version the relay serves ([server] version restricts it).
    { offer: moqNet, expect: preferredLiteProtocol() },
    { offer: moqNet, enabled: ["moq-lite-03", "moq-lite-02"], expect: "moq-lite-03" },
    { offer: moqNet, enabled: ["moq-lite-01"], expect: "" },
    { offer: '"moq-lite-03"', expect: "moq-lite-03" },
    { offer: '"moq-lite-03", "moq-lite-04"', expect: "moq-lite-03" },
    { offer: '"moq-lite-04", "moq-lite-03", "moql", "moqt-17", "moqt-16", "moqt-15"', expect: "moq-lite-04" },
    { offer: '"moq-lite-04", "moq-lite-03"', enabled: ["moq-lite-03"], expect: "moq-lite-03" },
    { offer: '"moql", "moqt-17"', expect: "moqt-17" }, // `moql` is not a wt-protocol value
    { offer: '"moql", "moqt-17"', enabled: ["moq-lite-04"], expect: "" },
    { offer: "moq-lite-04", expect: "" }, // a bare token is not an sf-string
    { expect: "" },
  ];
  for (const c of cases) {
    const t = await startTestServer({ versions: c.enabled });
    try {
      const { client, connect, response } = await handshake(t.port, t.cert.sha256Hex, "/p", c.offer);
      const session = (await t.sessions.next())!;
      assert.equal(session.protocol, c.expect, JSON.stringify(c));
      const expectedBytes = c.expect
        ? "00 00 d9 27 04 " + spacedHex(ascii("wt-protocol")) + " " +
          spacedHex(new Uint8Array([c.expect.length + 2])) +
          " " +
          spacedHex(ascii(`"${c.expect}"`))
        : "00 00 d9";
      assert.equal(spacedHex(response.payload), expectedBytes, JSON.stringify(c));
      session.close(0, "");
      assert.equal((await readFrame(connect.reader))?.type, FRAME.DATA);
      assert.equal(await readFrame(connect.reader), null);
      await connect.writer.close();
      await client.conn.closed.catch(() => {});
      await client.close();
    } finally {
      await t.close();
    }
  }
});

Deno.test("webtransport: Deno's WebTransport client works against the server", async () => {
  // Deno 2.9.6's client quirks (observed): it offers no protocols, its writer.close()/abort() never
  // deliver a FIN, and wt.close({closeCode}) arrives as a QUIC CONNECTION_CLOSE with that code.
  const t = await startTestServer();
  try {
    const wt = new WebTransport(`https://127.0.0.1:${t.port}/deno?jwt=1`, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: hexBytes(t.cert.sha256Hex) }],
    });
    await within(5000, "WebTransport not ready", wt.ready);
    const session = (await t.sessions.next())!;
    assert.equal(session.url.pathname, "/deno");
    assert.equal(session.url.search, "?jwt=1");
    assert.equal(session.protocol, "");

    // client bidi: request, then the server answers and FINs
    const bidi = await wt.createBidirectionalStream();
    const writer = bidi.writable.getWriter();
    await writer.write(ascii("deno ping"));
    const serverBidi = (await within(5000, "no bidi", session.acceptBidi()))!;
    assert.equal(text((await serverBidi.recv.read())!), "deno ping");
    await serverBidi.send.write(ascii("deno pong"));
    await serverBidi.send.close();
    const replies: Uint8Array[] = [];
    for await (const chunk of bidi.readable) replies.push(chunk);
    assert.equal(replies.map(text).join(""), "deno pong");

    // server uni → client, read to its end
    const serverUni = await session.openUni();
    await serverUni.write(ascii("to deno"));
    await serverUni.close();
    const uniReader = wt.incomingUnidirectionalStreams.getReader();
    const incoming = (await uniReader.read()).value!;
    const parts: Uint8Array[] = [];
    for await (const chunk of incoming) parts.push(chunk);
    assert.equal(parts.map(text).join(""), "to deno");
    uniReader.releaseLock();

    // client uni → server
    const clientUni = await wt.createUnidirectionalStream();
    const uniWriter = clientUni.getWriter();
    await uniWriter.write(ascii("from deno"));
    const serverRecv = (await within(5000, "no uni", session.acceptUni()))!;
    assert.equal(text((await serverRecv.read())!), "from deno");
    const pendingRead = serverRecv.read();

    wt.close({ closeCode: 77, reason: "deno done" });
    assert.deepEqual(await within(5000, "not closed", session.closed), {
      code: 77,
      reason: "deno done",
      remote: true,
      abrupt: false,
    });
    await assert.rejects(pendingRead, SessionClosedError);
    await wt.closed.catch(() => {});
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: Deno's client sees the server's close code and reason", async () => {
  const t = await startTestServer();
  try {
    const wt = new WebTransport(`https://127.0.0.1:${t.port}/close`, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: hexBytes(t.cert.sha256Hex) }],
    });
    await wt.ready;
    const session = (await t.sessions.next())!;
    session.close(4242, "server says bye");
    // Deno's client ignores the CLOSE capsule and never FINs, so after the 2 s FIN wait it sees the
    // QUIC close: H3_NO_ERROR (256) carrying the session's reason.
    const info = await within(5000, "client not closed", wt.closed);
    assert.equal(info.closeCode, H3_ERROR.NO_ERROR);
    assert.equal(info.reason, "server says bye");
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: protocol errors close only the offending connection", async () => {
  const t = await startTestServer();
  try {
    // Control stream that does not start with SETTINGS → H3_MISSING_SETTINGS.
    const noSettings = await RawH3Client.connect(t.port, hexBytes(t.cert.sha256Hex));
    const writer = await noSettings.openUni(
      Uint8Array.from([0x00, ...encodeH3Frame(FRAME.GOAWAY, Uint8Array.of(0))]),
    );
    assert.equal(
      (await within(5000, "not closed", noSettings.conn.closed)).closeCode,
      H3_ERROR.MISSING_SETTINGS,
    );
    await writer.close().catch(() => {});
    await noSettings.close();

    // DATA before HEADERS on a request stream → H3_FRAME_UNEXPECTED.
    const dataFirst = await RawH3Client.connect(t.port, hexBytes(t.cert.sha256Hex));
    await dataFirst.sendSettings();
    await dataFirst.openBidi(encodeH3Frame(FRAME.DATA, Uint8Array.of(1, 2, 3)));
    assert.equal(
      (await within(5000, "not closed", dataFirst.conn.closed)).closeCode,
      H3_ERROR.FRAME_UNEXPECTED,
    );
    await dataFirst.close();

    // A Huffman string with bad padding → QPACK_DECOMPRESSION_FAILED.
    const badQpack = await RawH3Client.connect(t.port, hexBytes(t.cert.sha256Hex));
    await badQpack.sendSettings();
    await badQpack.openConnect(Uint8Array.of(0x00, 0x00, 0x50, 0x81, 0x00));
    assert.equal(
      (await within(5000, "not closed", badQpack.conn.closed)).closeCode,
      H3_ERROR.QPACK_DECOMPRESSION_FAILED,
    );
    await badQpack.close();

    // A stream for an unknown session is dropped; the connection and its real session live on.
    const { client, connect } = await handshake(t.port, t.cert.sha256Hex, "/ok");
    const session = (await t.sessions.next())!;
    const stray = await client.openUni(Uint8Array.from([...streamHeader("uni", 4), 1, 2, 3]));
    await stray.close().catch(() => {});
    const good = await client.openUni(Uint8Array.from([...streamHeader("uni", 0), 9]));
    await good.close();
    assert.deepEqual(await readAll((await session.acceptUni())!), Uint8Array.of(9));
    await connect.writer.write(encodeCloseSessionData(0, ""));
    await connect.writer.close();
    assert.equal((await session.closed).abrupt, false);
    await client.conn.closed.catch(() => {});
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("garbage: random bytes, stalled streams and 200 dropped connections leave the server serving", async () => {
  const t = await startTestServer({ connectTimeoutMs: 500, idleTimeoutMs: 2000 });
  try {
    const sha = hexBytes(t.cert.sha256Hex);
    // Random bytes on bidi and uni streams of h3 connections.
    for (let seed = 1; seed <= 8; seed++) {
      const client = await RawH3Client.connect(t.port, sha);
      if (seed % 2 === 0) await client.sendSettings();
      const bidi = await client.openBidi(pattern(3000, seed));
      await bidi.writer.close().catch(() => {});
      const uni = await client.openUni(pattern(500, seed + 100));
      await uni.close().catch(() => {});
      await within(5000, `h3 garbage connection ${seed} never closed`, client.conn.closed).catch(() => {});
      await client.close();
    }
    // Random bytes on a bidi stream of a moql connection: the session gets the bytes, nothing breaks.
    const moql = await RawH3Client.connect(t.port, sha, "moql");
    const garbage = pattern(5000, 42);
    const moqlStream = await moql.openBidi(garbage);
    await moqlStream.writer.close();
    const moqlSession = (await within(5000, "no moql session", t.sessions.next()))!;
    assert.equal(moqlSession.protocol, "");
    assert.deepEqual(await readAll((await moqlSession.acceptBidi())!.recv), garbage);
    moqlSession.close(0, "");
    await moql.close();

    // A request stream that never ends: the connection is closed by the CONNECT deadline.
    const stalled = await RawH3Client.connect(t.port, sha);
    await stalled.sendSettings();
    await stalled.openBidi(Uint8Array.of(0x01));
    // UDP garbage at the port.
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    for (let i = 0; i < 20; i++) {
      await udp.send(pattern(1200, i + 7), { transport: "udp", hostname: "127.0.0.1", port: t.port });
    }
    udp.close();

    // 200 connections opened and dropped, 20 at a time, h3 and moq ALPNs, some mid-stream.
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const alpn = i % 2 === 0 ? "h3" : "moq-lite-04";
        const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
        try {
          const conn = await Deno.connectQuic({
            endpoint,
            hostname: "127.0.0.1",
            port: t.port,
            alpnProtocols: [alpn],
            serverCertificateHashes: [{ algorithm: "sha-256", value: sha }],
          } as Deno.ConnectQuicOptions<false>);
          if (i % 3 === 0) {
            const stream = await conn.createBidirectionalStream();
            const w = stream.writable.getWriter();
            await w.write(pattern(100, i)).catch(() => {});
          }
          if (i % 4 === 0) conn.close({ closeCode: 1, reason: "bye" });
        } finally {
          endpoint.close(); // drops whatever is left
        }
      }));
    }
    assert.equal(
      (await within(5000, "stalled connection not closed", stalled.conn.closed)).closeCode,
      H3_ERROR.NO_ERROR,
    );
    await stalled.close();
    // A new good WebTransport connection is served.
    const { client, connect, response } = await handshake(
      t.port,
      t.cert.sha256Hex,
      "/after",
      '"moq-lite-04"',
    );
    assert.equal(response.type, FRAME.HEADERS);
    // The dropped raw QUIC connections produced sessions too (some may still be queued): skip them.
    const drained: TransportSession[] = [];
    let session: TransportSession;
    while (true) {
      session = (await within(5000, "no session after garbage", t.sessions.next()))!;
      if (session.kind === "webtransport") break;
      drained.push(session);
    }
    assert.ok(drained.length > 0 && drained.every((s) => s.kind === "quic"));
    await Promise.all(drained.map((s) => within(5000, "dropped session never closed", s.closed)));
    assert.equal(session.protocol, "moq-lite-04");
    assert.equal(session.url.pathname, "/after");
    const uni = await client.openUni(Uint8Array.from([...streamHeader("uni", 0), ...encodeVarint(5)]));
    await uni.close();
    assert.deepEqual(await readAll((await session.acceptUni())!), Uint8Array.of(5));
    session.close(0, "done");
    await readFrame(connect.reader);
    await connect.writer.close();
    await client.conn.closed.catch(() => {});
    await client.close();
    // Every dropped connection is eventually reaped.
    for (let i = 0; i < 100 && t.server.connectionCount > 0; i++) await sleep(50);
    assert.equal(t.server.connectionCount, 0);
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: streams sent before the CONNECT is answered reach the session", async () => {
  const t = await startTestServer({
    authorize: async () => {
      await sleep(200);
      return { ok: true };
    },
  });
  try {
    const client = await RawH3Client.connect(t.port, hexBytes(t.cert.sha256Hex));
    await client.sendSettings();
    const connect = await client.openConnect(
      chromiumConnect(`127.0.0.1:${t.port}`, "/early", '"moq-lite-04"'),
    );
    // Optimistic streams, before the 200 arrives.
    const early = await client.openUni(Uint8Array.from([...streamHeader("uni", 0), ...ascii("early")]));
    await early.close();
    const response = (await within(5000, "no response", readFrame(connect.reader)))!;
    assert.equal(response.type, FRAME.HEADERS);
    const session = (await t.sessions.next())!;
    assert.equal(
      text(await readAll((await within(5000, "early stream lost", session.acceptUni()))!)),
      "early",
    );
    session.close(0, "");
    await readFrame(connect.reader);
    await connect.writer.close();
    await client.conn.closed.catch(() => {});
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("webtransport: server shutdown sends CLOSE(0, 'server shutdown') and closes the connection", async () => {
  const t = await startTestServer({ shutdownGraceMs: 500 });
  const { client, connect } = await handshake(t.port, t.cert.sha256Hex, "/shutdown", '"moq-lite-04"');
  const session = (await t.sessions.next())!;
  const closing = t.close();
  const frame = (await within(5000, "no capsule", readFrame(connect.reader)))!;
  assert.equal(
    spacedHex(encodeH3Frame(frame.type, frame.payload)),
    spacedHex(encodeCloseSessionData(0, "server shutdown")),
  );
  assert.equal(await readFrame(connect.reader), null);
  await connect.writer.close();
  await within(5000, "shutdown hung", closing);
  assert.deepEqual(await session.closed, {
    code: 0,
    reason: "server shutdown",
    remote: false,
    abrupt: false,
  });
  const closed = await client.conn.closed;
  assert.equal(closed.closeCode, H3_ERROR.NO_ERROR);
  await client.close();
});
