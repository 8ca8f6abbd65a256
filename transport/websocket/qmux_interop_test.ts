/**
 * Interop with the real client framing: `@moq/qmux` 0.0.6 (the WebSocket polyfill `@moq/lite`
 * 0.2.2 uses) talking to our relay-side session in both framings.
 */
import assert from "node:assert/strict";
import QmuxSession from "../../testing/qmux006.ts";
import type { TransportSession } from "../types.ts";
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
import { sleep } from "../../util/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Close the 0.0.6 client and let its 100 ms close timer run out. */
async function closeClient(client: QmuxSession, server: TransportSession): Promise<void> {
  client.close({ closeCode: 0, reason: "" });
  const info = await withTimeout(server.closed, 2000, "the relay to see the client close");
  assert.deepEqual(info, { code: 0, reason: "", remote: true, abrupt: false });
  await sleep(150);
}

for (const framing of ["webtransport", "qmux-00"] as Framing[]) {
  Deno.test(`@moq/qmux 0.0.6 client ↔ relay session (${framing}): bidi echo and relay-opened streams`, async () => {
    const relay = startWebSocketServer({ framings: [framing] });
    const client = new QmuxSession(relay.url);
    try {
      await withTimeout(client.ready, 5000, "client ready");
      const server = await relay.nextSession();
      assert.equal(server.protocol, "");

      // Client bidi, 300 KB echoed (more than one stream window and many 16 360-byte frames).
      const data = pattern(300_000, 31);
      const bidi = await client.createBidirectionalStream();
      const [, , echoed] = await withTimeout(
        Promise.all([writeAndClose(bidi.writable, data), echoBidi(server), readReadable(bidi.readable)]),
        10_000,
        "echo",
      );
      assert.deepEqual(echoed, data);

      // Relay-opened bidi: the client accepts it and answers.
      const relayBidi = await server.openBidi();
      await relayBidi.send.write(enc.encode("hello client"));
      await relayBidi.send.close();
      const incoming = client.incomingBidirectionalStreams.getReader();
      const { value: clientSide } = await withTimeout(incoming.read(), 2000, "incoming bidi");
      incoming.releaseLock();
      assert.equal(dec.decode(await readReadable(clientSide!.readable)), "hello client");
      await writeAndClose(clientSide!.writable, enc.encode("hello relay"));
      assert.equal(dec.decode(await withTimeout(readAll(relayBidi.recv), 2000, "answer")), "hello relay");

      // Relay-opened uni.
      const uni = await server.openUni();
      await uni.write(enc.encode("uni to client"));
      await uni.close();
      const unis = client.incomingUnidirectionalStreams.getReader();
      const { value: uniStream } = await withTimeout(unis.read(), 2000, "incoming uni");
      unis.releaseLock();
      assert.equal(dec.decode(await readReadable(uniStream!)), "uni to client");

      await closeClient(client, server);
    } finally {
      client.close();
      await sleep(150);
      await relay.close();
    }
  });
}

Deno.test("@moq/qmux 0.0.6 client ↔ relay (qmux-00): 1.5 MiB down, 150 streams each way under stream limits", async () => {
  const relay = startWebSocketServer({ framings: ["qmux-00"], maxStreamsUni: 50 });
  const client = new QmuxSession(relay.url);
  try {
    await withTimeout(client.ready, 5000, "client ready");
    const server = await relay.nextSession();
    const unis = client.incomingUnidirectionalStreams.getReader();

    // 1.5 MiB on one relay-opened uni stream: needs the client's MAX_DATA / MAX_STREAM_DATA.
    const big = pattern(1_572_864, 41);
    const bigStream = await server.openUni();
    const sending = bigStream.write(big).then(() => bigStream.close());
    const { value: bigIncoming } = await withTimeout(unis.read(), 2000, "big stream");
    const [received] = await withTimeout(
      Promise.all([readReadable(bigIncoming!), sending]),
      10_000,
      "1.5 MiB",
    );
    assert.deepEqual(received, big);

    // 150 relay-opened uni streams: the client allows 100 and raises MAX_STREAMS as they finish.
    const COUNT = 150;
    const relaySends = (async () => {
      for (let i = 0; i < COUNT; i++) {
        const s = await server.openUni();
        await s.write(enc.encode(`r${i}`));
        await s.close();
      }
    })();
    const clientGot: string[] = [];
    const clientReads = (async () => {
      for (let i = 0; i < COUNT; i++) {
        const { value } = await unis.read();
        clientGot.push(dec.decode(await readReadable(value!)));
      }
    })();

    // 150 client-opened uni streams: the relay allows 50 and raises MAX_STREAMS as they finish.
    const clientSends = (async () => {
      for (let i = 0; i < COUNT; i++) {
        await writeAndClose(await client.createUnidirectionalStream(), enc.encode(`c${i}`));
      }
    })();
    const relayGot: string[] = [];
    const relayReads = (async () => {
      for (let i = 0; i < COUNT; i++) relayGot.push(dec.decode(await readAll((await server.acceptUni())!)));
    })();

    await withTimeout(Promise.all([relaySends, clientReads, clientSends, relayReads]), 20_000, "150 streams");
    unis.releaseLock();
    assert.deepEqual(clientGot, Array.from({ length: COUNT }, (_, i) => `r${i}`));
    assert.deepEqual(relayGot.sort(), Array.from({ length: COUNT }, (_, i) => `c${i}`).sort());

    await closeClient(client, server);
  } finally {
    client.close();
    await sleep(150);
    await relay.close();
  }
});

Deno.test("@moq/qmux 0.0.6 client sees the relay's close", async () => {
  const relay = startWebSocketServer();
  const client = new QmuxSession(relay.url);
  try {
    await withTimeout(client.ready, 5000, "client ready");
    const server = await relay.nextSession();
    server.close(7, "bye");
    const info = await withTimeout(client.closed, 2000, "client closed");
    // 0.2.2 applications only see the WebSocket close code (docs/protocol.md §14 item 18).
    assert.equal(info.closeCode, 1000);
  } finally {
    await sleep(10);
    await relay.close();
  }
});
