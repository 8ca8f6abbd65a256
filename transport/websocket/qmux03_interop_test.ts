/**
 * Interop with `@moq/qmux` 0.3.3 (what `@moq/net` 0.3.4 / 0.2.8 use over WebSocket) in all three
 * QMux drafts: its client session against our relay side, and our dialing side against its
 * server session (`Session.accept`).
 */
import assert from "node:assert/strict";
import Session, { selectSubprotocol as theirSelect, StreamError } from "../../testing/qmux03.ts";
import { silentLogger } from "../../log/mod.ts";
import { sleep } from "../../util/mod.ts";
import { StreamResetError, StreamStoppedError, type TransportSession } from "../types.ts";
import type { Framing } from "./framing.ts";
import {
  echoBidi,
  pattern,
  readAll,
  readReadable,
  startWebSocketServer,
  withTimeout,
  writeAndClose,
} from "../../testing/mod.ts";
import { dialWebSocket } from "./upgrade.ts";
import type { WebSocketSession } from "./_websocket_session.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const DRAFTS = ["qmux-00", "qmux-01", "qmux-02"] as const;
type Draft = typeof DRAFTS[number];

type QmuxSession = InstanceType<typeof Session>;

/**
 * The same exchange whoever dialed: `theirs` opens a bidi that `ours` echoes (300 KB: windows and
 * many frames), `ours` opens 20 uni streams with many small writes each (records of several
 * frames on qmux-01/02) and a bidi that `theirs` answers.
 */
async function exchange(theirs: QmuxSession, ours: TransportSession): Promise<void> {
  const data = pattern(300_000, 7);
  const bidi = await theirs.createBidirectionalStream();
  const [, , echoed] = await withTimeout(
    Promise.all([writeAndClose(bidi.writable, data), echoBidi(ours), readReadable(bidi.readable)]),
    15_000,
    "300 KB echo",
  );
  assert.deepEqual(echoed, data);

  const STREAMS = 20;
  const unis = theirs.incomingUnidirectionalStreams.getReader();
  const sending = Promise.all(Array.from({ length: STREAMS }, async (_, i) => {
    const uni = await ours.openUni();
    const writes: Promise<void>[] = [];
    for (let k = 0; k < 50; k++) writes.push(uni.write(enc.encode(`s${i}.${k};`)));
    await Promise.all(writes);
    await uni.close();
  }));
  const received: string[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const { value } = await withTimeout(unis.read(), 5000, `incoming uni ${i}`);
    received.push(dec.decode(await withTimeout(readReadable(value!), 5000, `uni ${i} data`)));
  }
  unis.releaseLock();
  await sending;
  const expected = Array.from(
    { length: STREAMS },
    (_, i) => Array.from({ length: 50 }, (_, k) => `s${i}.${k};`).join(""),
  );
  assert.deepEqual(received.sort(), expected.sort());

  const ourBidi = await ours.openBidi();
  await ourBidi.send.write(enc.encode("hello qmux"));
  await ourBidi.send.close();
  const incoming = theirs.incomingBidirectionalStreams.getReader();
  const { value: theirSide } = await withTimeout(incoming.read(), 5000, "incoming bidi");
  incoming.releaseLock();
  assert.equal(dec.decode(await readReadable(theirSide!.readable)), "hello qmux");
  await writeAndClose(theirSide!.writable, enc.encode("hello back"));
  assert.equal(dec.decode(await withTimeout(readAll(ourBidi.recv), 5000, "answer")), "hello back");
}

for (const draft of DRAFTS) {
  Deno.test(`@moq/qmux 0.3.3 client ↔ relay session (${draft}.moq-lite-04): streams, windows, close`, async () => {
    const relay = startWebSocketServer({ framings: [draft] });
    const client = new Session(relay.url, { protocols: ["moq-lite-04"], versions: { "moq-lite-04": draft } });
    try {
      await withTimeout(client.ready, 5000, "client ready");
      assert.equal(client.protocol, "moq-lite-04");
      const server = await relay.nextSession();
      assert.equal(server.protocol, "moq-lite-04");
      assert.equal((server as WebSocketSession).framing, draft);
      await exchange(client, server);

      client.close({ closeCode: 0, reason: "done" });
      const info = await withTimeout(server.closed, 2000, "the relay to see the client close");
      assert.deepEqual(info, { code: 0, reason: "done", remote: true, abrupt: false });
    } finally {
      client.close();
      await sleep(150);
      await relay.close();
    }
  });

  Deno.test(`@moq/qmux 0.3.3 client sees the relay's close code (${draft})`, async () => {
    const relay = startWebSocketServer({ framings: [draft] });
    const client = new Session(relay.url, { protocols: ["moq-lite-04"], versions: { "moq-lite-04": draft } });
    try {
      await withTimeout(client.ready, 5000, "client ready");
      const server = await relay.nextSession();
      server.close(7, "bye");
      const info = await withTimeout(client.closed, 2000, "client closed");
      assert.equal(info.closeCode, 7);
      // qmux-00 keeps the 0.0.6 close layout, whose frame-type field 0.3.3 reads as an empty reason.
      if (draft !== "qmux-00") assert.equal(info.reason, "bye");
    } finally {
      await sleep(150);
      await relay.close();
    }
  });

  Deno.test(`our dialing side ↔ @moq/qmux 0.3.3 server session (${draft}.moq-lite-04)`, async () => {
    const theirSessions: QmuxSession[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const protocol = theirSelect(request.headers.get("sec-websocket-protocol"), {
        protocols: ["moq-lite-04"],
        versions: { "moq-lite-04": draft },
        requireProtocol: true,
      });
      if (!protocol) return new Response("no supported protocol", { status: 400 });
      const { socket, response } = Deno.upgradeWebSocket(request, { protocol });
      // Their typings want an untyped `onopen`; Deno's WebSocket is the real thing. A server-side
      // Deno socket reports no `protocol`, so hand the chosen one over (their documented override).
      theirSessions.push(
        Session.accept(socket as unknown as Parameters<typeof Session.accept>[0], { protocol }),
      );
      return response;
    });
    let ours: TransportSession | undefined;
    try {
      ours = await dialWebSocket(new URL(`http://127.0.0.1:${server.addr.port}/room`), {
        logger: silentLogger(),
      });
      assert.equal(ours.protocol, "moq-lite-04");
      assert.equal((ours as WebSocketSession).framing, draft);
      const theirs = theirSessions[0];
      await withTimeout(theirs.ready, 5000, "their session ready");
      assert.equal(theirs.protocol, "moq-lite-04");
      await exchange(theirs, ours);
      ours.close(0, "done");
      const info = await withTimeout(theirs.closed, 2000, "their session closed");
      assert.equal(info.closeCode, 0);
    } finally {
      ours?.close(0, "");
      for (const session of theirSessions) session.close();
      await sleep(150);
      await server.shutdown();
    }
  });
}

Deno.test("@moq/qmux 0.3.3 with @moq/net's offer gets qmux-02.moq-lite-05 from the relay", async () => {
  const relay = startWebSocketServer();
  // What @moq/net 0.3.4 passes (`null` = every draft the polyfill knows, newest first).
  const client = new Session(relay.url, {
    protocols: ["moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"],
    versions: { "moq-lite-05": null, "moq-lite-04": null, "moq-lite-03": null, "moql": null },
  });
  try {
    await withTimeout(client.ready, 5000, "client ready");
    assert.equal(client.protocol, "moq-lite-05");
    const server = await relay.nextSession();
    assert.equal(server.protocol, "moq-lite-05");
    assert.equal((server as WebSocketSession).framing, "qmux-02" satisfies Framing);
  } finally {
    client.close();
    await sleep(150);
    await relay.close();
  }
});

Deno.test("qmux-01/02 keep-alive: idle @moq/qmux 0.3.3 sessions stay up whichever side has the 600 ms timeout", async () => {
  const setups = [
    { relayMs: 60_000, clientMs: 600n },
    { relayMs: 600, clientMs: 60_000n },
  ];
  for (const draft of ["qmux-01", "qmux-02"] as Draft[]) {
    for (const { relayMs, clientMs } of setups) {
      const what = `${draft}, relay ${relayMs} ms, client ${clientMs} ms`;
      const relay = startWebSocketServer({ framings: [draft], idleTimeoutMs: relayMs });
      const client = new Session(relay.url, {
        protocols: ["moq-lite-04"],
        versions: { "moq-lite-04": draft },
        config: { maxIdleTimeout: clientMs },
      });
      try {
        await withTimeout(client.ready, 5000, "client ready");
        const server = await relay.nextSession();
        let closed = false;
        server.closed.then(() => closed = true);
        client.closed.then(() => closed = true, () => closed = true);
        await sleep(2_500); // four idle timeouts without application traffic
        assert.equal(closed, false, `${what}: both ends answered each other's QX_PING`);
        // Still usable.
        const uni = await server.openUni();
        await uni.write(enc.encode("still here"));
        await uni.close();
        const unis = client.incomingUnidirectionalStreams.getReader();
        const { value } = await withTimeout(unis.read(), 2000, "uni after idle");
        unis.releaseLock();
        assert.equal(dec.decode(await readReadable(value!)), "still here", what);
      } finally {
        client.close();
        await sleep(150);
        await relay.close();
      }
    }
  }
});

Deno.test("@moq/qmux 0.3.3 ↔ relay (qmux-01/02): resets and stops carry their codes both ways", async () => {
  for (const draft of ["qmux-01", "qmux-02"] as Draft[]) {
    const relay = startWebSocketServer({ framings: [draft] });
    const client = new Session(relay.url, { protocols: ["moq-lite-04"], versions: { "moq-lite-04": draft } });
    try {
      await withTimeout(client.ready, 5000, "client ready");
      const server = await relay.nextSession();

      // Client writes, then aborts with code 42: the relay reads the bytes, then the reset.
      const uni = await client.createUnidirectionalStream();
      const writer = uni.getWriter();
      await writer.write(enc.encode("partial"));
      const accepted = (await withTimeout(server.acceptUni(), 2000, "client uni"))!;
      assert.equal(dec.decode((await accepted.read())!), "partial");
      await writer.abort(new StreamError(42));
      await assert.rejects(
        withTimeout(accepted.read(), 2000, "the reset"),
        (error: unknown) => error instanceof StreamResetError && error.code === 42,
      );

      // The relay stops reading a client stream with code 9: the client's writer fails with 9.
      const bidi = await client.createBidirectionalStream();
      const bidiWriter = bidi.writable.getWriter();
      await bidiWriter.write(enc.encode("first"));
      const relayBidi = (await withTimeout(server.acceptBidi(), 2000, "client bidi"))!;
      assert.equal(dec.decode((await relayBidi.recv.read())!), "first");
      relayBidi.recv.stop(9);
      await assert.rejects(
        withTimeout(bidiWriter.closed, 2000, "the client writer to fail"),
        (error: unknown) => error instanceof StreamError && error.streamErrorCode === 9,
      );

      // The client cancels a relay stream with code 11: the relay's writer sees the stop.
      const relayUni = await server.openUni();
      await relayUni.write(enc.encode("x"));
      const unis = client.incomingUnidirectionalStreams.getReader();
      const { value: incoming } = await withTimeout(unis.read(), 2000, "relay uni");
      unis.releaseLock();
      await incoming!.cancel(new StreamError(11));
      assert.equal(await withTimeout(relayUni.stopped, 2000, "the stop"), 11);
      await assert.rejects(relayUni.write(enc.encode("late")), StreamStoppedError);
    } finally {
      client.close();
      await sleep(150);
      await relay.close();
    }
  }
});
