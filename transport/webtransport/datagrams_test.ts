import assert from "node:assert/strict";
import {
  DatagramAbuseError,
  type DatagramConn,
  H3_DATAGRAM_ERROR,
  MAX_QUEUED_DATAGRAMS,
  MAX_UNKNOWN_DATAGRAMS_PER_WINDOW,
  pumpHttpDatagrams,
  quarterStreamIdOf,
  SessionDatagrams,
  UNKNOWN_DATAGRAM_WINDOW_MS,
  UnknownDatagramBudget,
} from "./_datagrams.ts";
import { H3_ERROR } from "./h3.ts";

/** An in-memory QUIC connection: datagrams queued for reading, sent ones recorded. */
function memoryConn(incoming: Uint8Array[], maxDatagramSize = 1200): DatagramConn & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return {
    maxDatagramSize,
    sent,
    sendDatagram: (data) => {
      sent.push(data);
      return Promise.resolve();
    },
    readDatagram: () => {
      const next = incoming.shift();
      return next ? Promise.resolve(next) : Promise.reject(new Error("connection closed"));
    },
  };
}

Deno.test("HTTP datagram: quarter stream id prefix on send, max size less the prefix", () => {
  const conn = memoryConn([], 1200);
  const channel = new SessionDatagrams(conn, 4 * 100); // quarter id 100 = 2-byte varint
  assert.equal(channel.maxBytes, 1198);
  channel.send(Uint8Array.of(1, 2, 3));
  assert.deepEqual(conn.sent, [Uint8Array.of(0x40, 100, 1, 2, 3)]);
  channel.send(new Uint8Array(1199)); // too large: dropped, never fragmented
  assert.equal(conn.sent.length, 1);
  channel.close();
  assert.equal(channel.maxBytes, 0);
  channel.send(Uint8Array.of(1));
  assert.equal(conn.sent.length, 1, "nothing is sent after close");
});

Deno.test("HTTP datagram: malformed quarter stream ids are H3_DATAGRAM_ERROR", () => {
  assert.equal(quarterStreamIdOf(Uint8Array.of(0, 7)), 0);
  assert.equal(quarterStreamIdOf(Uint8Array.of(0x40, 100)), 100);
  for (
    const bad of [
      new Uint8Array(0),
      Uint8Array.of(0x40),
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    ]
  ) {
    assert.throws(
      () => quarterStreamIdOf(bad),
      (e) => e instanceof DatagramAbuseError && e.code === H3_DATAGRAM_ERROR,
    );
  }
});

Deno.test("HTTP datagram: the pump routes by session id and bounds each session's queue", async () => {
  const incoming: Uint8Array[] = [];
  for (let i = 0; i < MAX_QUEUED_DATAGRAMS + 10; i++) incoming.push(Uint8Array.of(1, i & 0xff));
  const conn = memoryConn(incoming);
  const channel = new SessionDatagrams(conn, 4);
  await pumpHttpDatagrams(conn, (id) => id === 4 ? channel : undefined);
  assert.equal(channel.dropped, 10, "datagrams past the queue bound are dropped");
  assert.deepEqual(await channel.receive(), Uint8Array.of(0));
  channel.close();
  assert.equal(await channel.receive(), null);
});

Deno.test("HTTP datagram: a flood for unknown sessions is H3_EXCESSIVE_LOAD; a trickle is dropped", async () => {
  const budget = new UnknownDatagramBudget();
  for (let i = 0; i < MAX_UNKNOWN_DATAGRAMS_PER_WINDOW; i++) budget.spend(1_000);
  assert.throws(
    () => budget.spend(1_000),
    (e) => e instanceof DatagramAbuseError && e.code === H3_ERROR.EXCESSIVE_LOAD,
  );
  budget.spend(1_000 + UNKNOWN_DATAGRAM_WINDOW_MS); // a new window starts afresh
  const flood = Array.from({ length: MAX_UNKNOWN_DATAGRAMS_PER_WINDOW + 1 }, () => Uint8Array.of(2, 0));
  await assert.rejects(pumpHttpDatagrams(memoryConn(flood), () => undefined), DatagramAbuseError);
  await pumpHttpDatagrams(memoryConn([Uint8Array.of(2, 0), Uint8Array.of(3, 0)]), () => undefined);
});
