/**
 * Fixtures and checks that several WebSocket transport tests run the same way: a raw client or a
 * dialed session paired with the test server's session and closed afterwards, a write that must
 * wait for QMux flow-control credit (docs/protocol.md §11.2), and bulk traffic between two sessions
 * (one bidi stream each way, many uni streams).
 *
 * @module
 */

import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import {
  dialWebSocket,
  type SendStream,
  type TransportParameters,
  type TransportSession,
} from "../transport/mod.ts";
import { sleep } from "../util/mod.ts";
import { readAll } from "./bytes.ts";
import { type RawClient, type TestRelay, withTimeout } from "./websocket.ts";

/** Run `fn` with `client` and the session `relay` accepted for it, then close both, pass or fail. */
export async function withRawSession(
  relay: TestRelay,
  client: RawClient,
  fn: (client: RawClient, session: TransportSession) => Promise<void>,
): Promise<void> {
  try {
    await fn(client, await relay.nextSession());
  } finally {
    await client.close();
    await relay.close();
  }
}

/**
 * Dial `relay` with the relay's own WebSocket client (`qmux-00.moq-lite-04`, allowing the server
 * `maxStreamsUni` uni streams), run `fn` with the dialed session and the server's, then close the
 * dialed session and `relay`, pass or fail.
 */
export async function withDialedQmux(
  relay: TestRelay,
  maxStreamsUni: number,
  fn: (client: TransportSession, server: TransportSession) => Promise<void>,
): Promise<void> {
  const client = await dialWebSocket(new URL(relay.url), {
    logger: silentLogger(),
    protocols: ["qmux-00.moq-lite-04"],
    maxStreamsUni,
  });
  try {
    await fn(client, await relay.nextSession());
  } finally {
    client.close(0, "");
    await client.closed;
    await relay.close();
  }
}

/**
 * Transport parameters for a raw QMux client that gives the relay little credit: a 40 000-byte
 * connection window, 30 000-byte stream windows and one stream each way.
 */
export const QMUX_TIGHT_CREDIT_PARAMS: TransportParameters = {
  initialMaxData: 40_000,
  initialMaxStreamDataBidiLocal: 30_000,
  initialMaxStreamDataBidiRemote: 30_000,
  initialMaxStreamDataUni: 30_000,
  initialMaxStreamsBidi: 1,
  initialMaxStreamsUni: 1,
};

/** How long a blocked write is watched to show it really waits. */
const CREDIT_SETTLE_MS = 50;

/**
 * Write `data` (over 40 000 bytes) on `uni`, the relay's first uni stream (id 3), to `client`,
 * which sent {@link QMUX_TIGHT_CREDIT_PARAMS}: the write must stop at the stream window (30 000
 * bytes out, STREAM_DATA_BLOCKED, the rest queued), then at the connection window once the client
 * raised the stream's (40 000 bytes, DATA_BLOCKED), and finish once it raised both; the client
 * then reads `data` byte-exact after the FIN.
 */
export async function assertWriteWaitsForCredit(
  client: RawClient,
  uni: SendStream,
  data: Uint8Array,
): Promise<void> {
  let resolved = false;
  const written = uni.write(data).then(() => resolved = true);
  await client.until((f) => f.type === "stream_data_blocked" && f.id === 3, "STREAM_DATA_BLOCKED");
  await sleep(CREDIT_SETTLE_MS);
  assert.equal(client.streamData(3).length, 30_000);
  assert.equal(uni.bufferedBytes, data.length - 30_000);
  assert.equal(resolved, false, "write() must wait for credit");

  client.send({ type: "max_stream_data", id: 3, max: 500_000 });
  await client.until((f) => f.type === "data_blocked" && f.limit === 40_000, "DATA_BLOCKED 40000");
  await sleep(CREDIT_SETTLE_MS);
  assert.equal(client.streamData(3).length, 40_000);
  assert.equal(resolved, false);

  client.send({ type: "max_data", max: 1_000_000 });
  await withTimeout(written, 2000, "write after credit");
  assert.equal(uni.bufferedBytes, 0);
  await uni.close();
  assert.deepEqual(await client.readStream(3), data);
}

/**
 * `from` opens a bidi stream and sends `up` while `to` accepts it and answers `down`, both reading
 * as they write; resolves with what each side read (`received` by `to`, `echoed` back to `from`).
 */
export async function exchangeBidi(
  from: TransportSession,
  to: TransportSession,
  up: Uint8Array,
  down: Uint8Array,
): Promise<{ received: Uint8Array; echoed: Uint8Array }> {
  const bidi = await from.openBidi();
  const sending = bidi.send.write(up).then(() => bidi.send.close());
  const accepted = (await to.acceptBidi())!;
  const [received, , echoed] = await Promise.all([
    readAll(accepted.recv),
    accepted.send.write(down).then(() => accepted.send.close()),
    readAll(bidi.recv),
    sending,
  ]);
  return { received, echoed };
}

/** Open `count` uni streams on `session` one after another, each carrying `<prefix><i>` and a FIN. */
export async function sendUniTexts(session: TransportSession, prefix: string, count: number): Promise<void> {
  const enc = new TextEncoder();
  for (let i = 0; i < count; i++) {
    const s = await session.openUni();
    await s.write(enc.encode(`${prefix}${i}`));
    await s.close();
  }
}

/** Accept `count` uni streams on `session` and read each to its end; their texts, sorted. */
export async function receiveUniTexts(session: TransportSession, count: number): Promise<string[]> {
  const dec = new TextDecoder();
  const got: string[] = [];
  for (let i = 0; i < count; i++) got.push(dec.decode(await readAll((await session.acceptUni())!)));
  return got.sort();
}

/** What {@link receiveUniTexts} returns for `count` streams sent by {@link sendUniTexts} with `prefix`. */
export function uniTexts(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`).sort();
}
