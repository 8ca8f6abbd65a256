/**
 * The send side of the TCP / UNIX record socket: records framed into pooled chunks (`send` copies
 * once, `beginBinary` frames in place), written in order, byte-exact; a peer that stops reading is
 * dropped at the queue cap; and whole qmux sessions over TCP move data byte-exact both ways.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../../log/mod.ts";
import { pattern, readAll, tcpPair, withTimeout } from "../../testing/mod.ts";
import { MAX_IN_PLACE_BYTES } from "../chunk_writer.ts";
import { MAX_RECORD_WRITE_QUEUE_BYTES, RecordReader, RecordSocket } from "./_record_socket.ts";
import { acceptQmuxStream, dialQmuxStream, type QmuxStreamOptions } from "./stream_session.ts";

Deno.test("RecordSocket: send() and beginBinary() records arrive in order, byte-exact, across chunk boundaries", async () => {
  const pair = await tcpPair();
  try {
    const socket = new RecordSocket(pair.a);
    const expected: Uint8Array[] = [];
    // Sizes around the varint widths and the 64 KiB chunk: records straddle chunks.
    const sizes = [0, 1, 63, 64, 200, 16_383, 16_384, 70_000, 5, MAX_IN_PLACE_BYTES, 1024, 100_000, 3];
    for (let round = 0; round < 20; round++) {
      for (const [i, size] of sizes.entries()) {
        const data = pattern(size, round * 31 + i);
        expected.push(data);
        if (size <= MAX_IN_PLACE_BYTES && (i + round) % 2 === 0) {
          const at = socket.beginBinary(size);
          assert.ok(at >= 0);
          socket.sendBuffer.set(data, at);
        } else {
          socket.send(data);
        }
      }
      if (round % 5 === 0) await new Promise((r) => setTimeout(r, 0)); // let some writes start
    }
    assert.ok(socket.bufferedAmount > 0);
    const reader = new RecordReader(pair.b);
    for (const [i, want] of expected.entries()) {
      const got = await withTimeout(reader.next(200_000), 10_000, `record ${i}`);
      assert.ok(got !== null, `record ${i} missing`);
      assert.deepEqual(got, want, `record ${i} (${want.length} bytes)`);
    }
    await withTimeout(
      (async () => {
        while (socket.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      5_000,
      "the writer to drain",
    );
    const closed = new Promise((r) => socket.addEventListener("close", r, { once: true }));
    socket.close();
    await withTimeout(closed, 5_000, "close");
    assert.equal(await reader.next(), null); // the queued records went out, then a clean end
    assert.throws(() => socket.beginBinary(MAX_IN_PLACE_BYTES + 1), RangeError);
    assert.equal(socket.beginBinary(10), -1);
  } finally {
    pair.close();
  }
});

Deno.test("RecordSocket: the drain callback fires once the backlog is below the threshold", async () => {
  const pair = await tcpPair();
  try {
    const socket = new RecordSocket(pair.a);
    for (let i = 0; i < 64; i++) socket.send(pattern(16_000, i));
    const low = Promise.withResolvers<number>();
    socket.notifyBelow(100_000, () => low.resolve(socket.bufferedAmount));
    const reader = new RecordReader(pair.b);
    const reading = (async () => {
      for (let i = 0; i < 64; i++) assert.deepEqual(await reader.next(), pattern(16_000, i));
    })();
    const left = await withTimeout(low.promise, 10_000, "the drain callback");
    assert.ok(left <= 100_000 + 64 * 1024, `left ${left}`); // at most the threshold plus the chunk in flight
    await withTimeout(reading, 10_000, "reading");
    socket.close();
  } finally {
    pair.close();
  }
});

Deno.test("RecordSocket: a peer that stops reading is dropped at the write queue cap", async () => {
  const pair = await tcpPair();
  try {
    const socket = new RecordSocket(pair.a);
    const errors: string[] = [];
    socket.addEventListener("error", (e) => errors.push((e as ErrorEvent).message));
    const closed = new Promise<CloseEvent>((r) =>
      socket.addEventListener("close", (e) => r(e as CloseEvent))
    );
    let accepted = 0;
    while (socket.beginBinary(16_000) >= 0) {
      accepted++;
      assert.ok(accepted * 16_000 <= MAX_RECORD_WRITE_QUEUE_BYTES + 16_000, "the cap was not enforced");
    }
    const event = await withTimeout(closed, 5_000, "close");
    assert.equal(event.code, 1006);
    assert.ok(errors.some((m) => m.includes("stopped reading")), errors.join("; "));
    assert.equal(socket.bufferedAmount, 0);
    socket.send(new Uint8Array(10)); // ignored once closed
    assert.equal(socket.bufferedAmount, 0);
  } finally {
    pair.close();
  }
});

Deno.test("qmux over TCP: 4 MiB on one stream and 100 small streams each way, byte-exact", async () => {
  const pair = await tcpPair();
  const options: QmuxStreamOptions = {
    kind: "tcp",
    protocols: ["moq-lite-04"],
    peer: "test",
    logger: silentLogger(),
  };
  const [server, client] = await Promise.all([
    acceptQmuxStream(pair.a, options),
    dialQmuxStream(pair.b, options),
  ]);
  try {
    const big = pattern(4 * 1024 * 1024, 7);
    const send = async (from: typeof server) => {
      const uni = await from.openUni();
      uni.write(big).catch(() => {});
      await uni.close();
      for (let i = 0; i < 100; i++) {
        const small = await from.openUni();
        small.write(pattern(100 + i, i)).catch(() => {});
        await small.close();
      }
    };
    const receive = async (at: typeof server) => {
      const first = await at.acceptUni();
      assert.ok(first);
      assert.deepEqual(await readAll(first), big);
      for (let i = 0; i < 100; i++) {
        const small = await at.acceptUni();
        assert.ok(small);
        assert.deepEqual(await readAll(small), pattern(100 + i, i));
      }
    };
    await withTimeout(
      Promise.all([send(server), send(client), receive(server), receive(client)]),
      20_000,
      "both directions",
    );
  } finally {
    client.close(0, "done");
    server.close(0, "done");
    await Promise.all([server.closed, client.closed]);
    pair.close();
  }
});
