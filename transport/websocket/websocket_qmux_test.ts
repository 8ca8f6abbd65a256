import assert from "node:assert/strict";
import type { TransportSession } from "../types.ts";
import type { Frame, TransportParameters } from "./framing.ts";
import {
  assertWriteWaitsForCredit,
  exchangeBidi,
  pattern,
  QMUX_CLIENT_PARAMS,
  QMUX_TIGHT_CREDIT_PARAMS,
  RawClient,
  readAll,
  receiveUniTexts,
  sendUniTexts,
  spacedHex,
  startWebSocketServer,
  uniTexts,
  withDialedQmux,
  withRawSession,
  withTimeout,
} from "../../testing/mod.ts";
import type { AcceptWebSocketOptions } from "./upgrade.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function connectQmux(
  url: string,
  params: TransportParameters = QMUX_CLIENT_PARAMS,
): Promise<RawClient> {
  const client = await RawClient.connect(url, ["qmux-00"]);
  assert.equal(client.framing, "qmux-00");
  client.send({ type: "transport_parameters", params });
  return client;
}

/**
 * Start a test server (`options`), connect a raw qmux-00 client sending `params`, run `fn` with it
 * and the relay's session, then close both.
 */
async function withQmuxClient(
  options: Partial<AcceptWebSocketOptions>,
  params: TransportParameters,
  fn: (client: RawClient, session: TransportSession) => Promise<void>,
): Promise<void> {
  const relay = startWebSocketServer(options);
  await withRawSession(relay, await connectQmux(relay.url, params), fn);
}

function maxOf(client: RawClient, predicate: (frame: Frame) => number | undefined): number {
  let best = -1;
  for (const frame of client.frames) {
    const value = predicate(frame);
    if (value !== undefined && value > best) best = value;
  }
  return best;
}

Deno.test("qmux-00: the relay's first message is QX_TRANSPORT_PARAMETERS (§11.2 bytes with limit 100)", async () => {
  const relay = startWebSocketServer({ maxStreamsBidi: 100, maxStreamsUni: 100 });
  const client = await connectQmux(relay.url);
  try {
    await client.until((f) => f.type === "transport_parameters", "transport parameters");
    const hex = spacedHex(client.messages[0]);
    assert.equal(
      hex,
      "ff 51 53 30 0d 0a 0d 0a 20 04 04 80 10 00 00 05 04 80 04 00 00 06 04 80 04 00 00 " +
        "07 04 80 04 00 00 08 02 40 64 09 02 40 64",
    );
  } finally {
    await client.close();
    await relay.close();
  }
  const defaults = startWebSocketServer();
  const other = await connectQmux(defaults.url);
  try {
    const frame = await other.until((f) => f.type === "transport_parameters", "transport parameters");
    assert.deepEqual(frame, {
      type: "transport_parameters",
      params: { ...QMUX_CLIENT_PARAMS, initialMaxStreamsBidi: 1000, initialMaxStreamsUni: 1000 },
    });
  } finally {
    await other.close();
    await defaults.close();
  }
});

Deno.test("qmux-00: the relay respects the peer's stream, connection and stream-count limits", async () => {
  await withQmuxClient({}, QMUX_TIGHT_CREDIT_PARAMS, async (client, session) => {
    await assertWriteWaitsForCredit(client, await session.openUni(), pattern(100_000, 9));

    // Stream count: one uni stream allowed, so the next open waits for MAX_STREAMS.
    let opened = false;
    const second = session.openUni().then((s) => {
      opened = true;
      return s;
    });
    await client.until(
      (f) => f.type === "streams_blocked" && !f.bidi && f.limit === 1,
      "STREAMS_BLOCKED uni",
    );
    assert.equal(opened, false);
    client.send({ type: "max_streams", bidi: false, max: 2 });
    const next = await withTimeout(second, 2000, "second uni stream");
    await next.write(enc.encode("second"));
    await next.close();
    assert.equal(dec.decode(await client.readStream(7)), "second");
  });
});

/** A flow-controlled raw sender for one stream: waits for MAX_DATA / MAX_STREAM_DATA as needed. */
async function sendWithCredit(client: RawClient, id: number, data: Uint8Array): Promise<void> {
  const serverParams = (await client.until((f) => f.type === "transport_parameters", "params")) as Extract<
    Frame,
    { type: "transport_parameters" }
  >;
  let offset = 0;
  // One stream only, so the connection total equals the stream offset.
  const credit = () =>
    Math.min(
      Math.max(
        serverParams.params.initialMaxData,
        maxOf(client, (f) => f.type === "max_data" ? f.max : undefined),
      ),
      Math.max(
        serverParams.params.initialMaxStreamDataUni,
        maxOf(client, (f) => f.type === "max_stream_data" && f.id === id ? f.max : undefined),
      ),
    ) - offset;
  while (offset < data.length) {
    if (credit() <= 0) {
      await client.until(() => credit() > 0, `credit beyond ${offset}`);
      continue;
    }
    const end = Math.min(data.length, offset + Math.min(credit(), 16_000));
    client.send({ type: "stream", id, data: data.subarray(offset, end), fin: end === data.length });
    offset = end;
  }
}

Deno.test("qmux-00: the relay grants MAX_STREAM_DATA / MAX_DATA as it reads (1.5 MiB upload)", async () => {
  await withQmuxClient({}, QMUX_CLIENT_PARAMS, async (client, session) => {
    const data = pattern(1_572_864, 11);
    const upload = sendWithCredit(client, 2, data);
    const uni = (await session.acceptUni())!;
    assert.deepEqual(await readAll(uni), data);
    await upload;
    assert.ok(maxOf(client, (f) => f.type === "max_data" ? f.max : undefined) >= data.length);
    assert.ok(
      maxOf(client, (f) => f.type === "max_stream_data" && f.id === 2 ? f.max : undefined) >= data.length,
    );
  });
});

Deno.test("qmux-00: a peer exceeding the stream window is closed with code 15", async () => {
  const relay = startWebSocketServer();
  const client = await connectQmux(relay.url);
  const session = await relay.nextSession();
  const data = pattern(262_145);
  for (let offset = 0; offset < data.length; offset += 16_000) {
    client.send({
      type: "stream",
      id: 2,
      data: data.subarray(offset, Math.min(offset + 16_000, data.length)),
      fin: false,
    });
  }
  const info = await withTimeout(session.closed, 2000, "close");
  assert.equal(info.code, 15);
  assert.match(info.reason, /flow control error: peer sent 262145 bytes on stream 2, limit 262144/);
  const frame = await client.until((f) => f.type === "close", "APPLICATION_CLOSE");
  assert.ok(frame.type === "close" && frame.code === 15 && frame.application);
  await client.closed;
  await relay.close();
});

Deno.test("qmux-00: stream limits are enforced and raised as peer streams finish", async () => {
  await withQmuxClient({ maxStreamsUni: 4 }, QMUX_CLIENT_PARAMS, async (client, session) => {
    for (let i = 0; i < 12; i++) {
      if (i >= 4) {
        await client.until((f) => f.type === "max_streams" && !f.bidi && f.max > i, `MAX_STREAMS_UNI > ${i}`);
      }
      client.send({ type: "stream", id: 2 + 4 * i, data: enc.encode(`n${i}`), fin: true });
      assert.equal(dec.decode(await readAll((await session.acceptUni())!)), `n${i}`);
    }
  });

  const strict = startWebSocketServer({ maxStreamsBidi: 2 });
  const bad = await connectQmux(strict.url);
  const session = await strict.nextSession();
  bad.send({ type: "stream", id: 8, data: enc.encode("x"), fin: false }); // bidi index 2
  const info = await withTimeout(session.closed, 2000, "close");
  assert.equal(info.code, 15);
  assert.match(info.reason, /stream limit exceeded: peer opened bidi stream index 2 but the limit is 2/);
  await bad.closed;
  await strict.close();
});

Deno.test("qmux-00: a first frame other than transport parameters is a protocol violation", async () => {
  const relay = startWebSocketServer();
  const client = await RawClient.connect(relay.url, ["qmux-00"]);
  const session = await relay.nextSession();
  client.send({ type: "stream", id: 0, data: enc.encode("x"), fin: false });
  const info = await withTimeout(session.closed, 2000, "close");
  assert.equal(info.code, 15);
  assert.match(info.reason, /expected QX_TRANSPORT_PARAMETERS/);
  await client.closed;
  await relay.close();
});

Deno.test("qmux-00: STOP_SENDING → RESET_STREAM carries the final size; peer close is clean", async () => {
  const relay = startWebSocketServer();
  const client = await connectQmux(relay.url);
  const session = await relay.nextSession();
  const bidi = await session.openBidi();
  await bidi.send.write(enc.encode("12345"));
  await client.until((f) => f.type === "stream" && f.id === 1, "data on 1");
  client.send({ type: "stop_sending", id: 1, code: 3 });
  assert.equal(await bidi.send.stopped, 3);
  const reset = await client.until((f) => f.type === "reset_stream", "RESET_STREAM");
  assert.deepEqual(reset, { type: "reset_stream", id: 1, code: 3, finalSize: 5 });
  client.send({ type: "close", code: 0, reason: "", application: true });
  assert.deepEqual(await withTimeout(session.closed, 2000, "close"), {
    code: 0,
    reason: "",
    remote: true,
    abrupt: false,
  });
  await client.closed;
  await relay.close();
});

Deno.test("qmux-00: relay-to-relay flow control with 1.5 MiB each way and 150 streams each way", async () => {
  const relay = startWebSocketServer({ maxStreamsUni: 20, maxStreamsBidi: 20 });
  await withDialedQmux(relay, 10, async (client, server) => {
    assert.equal(client.protocol, "moq-lite-04");

    // 1.5 MiB on one bidi stream each way. Both sides read while they write: the windows
    // (1 MiB / 256 KiB) are smaller than the data.
    const up = pattern(1_572_864, 21);
    const down = pattern(1_572_864, 22);
    const { received, echoed } = await exchangeBidi(client, server, up, down);
    assert.deepEqual(received, up);
    assert.deepEqual(echoed, down);

    // 150 uni streams each way, with stream-count limits of 20 (relay) and 10 (client).
    const COUNT = 150;
    const [, , serverGot, clientGot] = await Promise.all([
      sendUniTexts(client, "c", COUNT),
      sendUniTexts(server, "s", COUNT),
      receiveUniTexts(server, COUNT),
      receiveUniTexts(client, COUNT),
    ]);
    assert.deepEqual(serverGot, uniTexts("c", COUNT));
    assert.deepEqual(clientGot, uniTexts("s", COUNT));
  });
});

Deno.test("qmux-00: a stream reset before its first frame uses no id and returns its stream credit", async () => {
  await withQmuxClient({}, { ...QMUX_CLIENT_PARAMS, initialMaxStreamsUni: 1 }, async (client, session) => {
    const unsent = await session.openUni();
    await unsent.write(new Uint8Array(0)); // empty writes put nothing on the wire
    unsent.reset(5);
    assert.equal(await unsent.stopped, -1);
    const next = await withTimeout(session.openUni(), 1000, "stream credit to come back");
    await next.write(enc.encode("first on the wire"));
    await next.close();
    assert.equal(dec.decode(await client.readStream(3)), "first on the wire");
    assert.ok(!client.frames.some((f) => f.type === "reset_stream"), "no RESET for a stream never sent");
  });
});
