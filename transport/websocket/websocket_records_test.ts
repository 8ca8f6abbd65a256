/**
 * The record framings (`qmux-01`, `qmux-02`) of our relay-side session against a raw frame-level
 * client: transport parameters, records of several frames, QX_PING and the idle timeout,
 * RESET_STREAM_AT, and every malformed form closing only the offending session.
 */
import assert from "node:assert/strict";
import { sleep } from "../../util/mod.ts";
import { StreamResetError, type TransportSession } from "../types.ts";
import {
  decodeFrames,
  DEFAULT_MAX_RECORD_SIZE_BYTES,
  encodeFrame,
  type Frame,
  type Framing,
  type TransportParameters,
} from "./framing.ts";
import { CLOSE_CODE_IDLE_TIMEOUT, CLOSE_CODE_PROTOCOL_VIOLATION } from "./_limits.ts";
import {
  QMUX_CLIENT_PARAMS,
  RawClient,
  startWebSocketServer,
  type TestRelay,
  withTimeout,
} from "../../testing/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const RECORD_FRAMINGS = ["qmux-01", "qmux-02"] as const;

async function connect(
  relay: TestRelay,
  framing: Framing,
  params: TransportParameters | null = QMUX_CLIENT_PARAMS,
): Promise<RawClient> {
  const client = await RawClient.connect(relay.url, [`${framing}.moq-lite-04`]);
  assert.equal(client.framing, framing);
  if (params) client.send({ type: "transport_parameters", params });
  return client;
}

function closeFrame(client: RawClient): Promise<Frame> {
  return client.until((frame) => frame.type === "close", "a close frame");
}

Deno.test("qmux-01/02: the relay announces idle timeout, record size and (qmux-02 only) reset_stream_at", async () => {
  for (const framing of RECORD_FRAMINGS) {
    const relay = startWebSocketServer({ idleTimeoutMs: 20_000 });
    const client = await connect(relay, framing);
    try {
      const frame = await client.until((f) => f.type === "transport_parameters", "transport parameters");
      const session = await relay.nextSession();
      assert.equal(session.protocol, "moq-lite-04");
      assert.deepEqual(frame, {
        type: "transport_parameters",
        params: {
          ...QMUX_CLIENT_PARAMS,
          initialMaxStreamsBidi: 1000,
          initialMaxStreamsUni: 1000,
          maxIdleTimeoutMs: 20_000,
          maxRecordSize: DEFAULT_MAX_RECORD_SIZE_BYTES,
          ...(framing === "qmux-02" ? { resetStreamAt: true } : {}),
        },
      });
    } finally {
      await client.close();
      await relay.close();
    }
  }
});

Deno.test("qmux-01/02: small writes of many streams share records; every record fits max_record_size", async () => {
  for (const framing of RECORD_FRAMINGS) {
    const relay = startWebSocketServer();
    const client = await connect(relay, framing);
    try {
      const session = await relay.nextSession();
      await client.until((f) => f.type === "transport_parameters", "transport parameters");
      const streams = await Promise.all(Array.from({ length: 10 }, () => session.openUni()));
      // Queue everything before the pump runs (writes are queued synchronously).
      const writes = streams.map((s, i) => s.write(enc.encode(`stream ${i}`)).then(() => s.close()));
      // A large write too: it must be cut into records of at most max_record_size.
      const big = await session.openUni();
      const bigData = new Uint8Array(100_000).map((_, i) => i % 253);
      const bigWrite = big.write(bigData).then(() => big.close());
      await Promise.all([...writes, bigWrite]);
      for (let i = 0; i < 10; i++) {
        const id = i * 4 + 3;
        assert.equal(dec.decode(await client.readStream(id)), `stream ${i}`);
      }
      assert.deepEqual(await client.readStream(43), bigData);
      const perMessage = client.messages.map((m) => decodeFrames(m, framing).length);
      assert.ok(Math.max(...perMessage) > 1, `${framing}: some record holds several frames (${perMessage})`);
      for (const message of client.messages) assert.ok(message.length <= DEFAULT_MAX_RECORD_SIZE_BYTES);
      assert.equal(client.decodeError, null);
    } finally {
      await client.close();
      await relay.close();
    }
  }
});

Deno.test("qmux-01/02: QX_PING requests are answered with the same sequence", async () => {
  for (const framing of RECORD_FRAMINGS) {
    const relay = startWebSocketServer();
    const client = await connect(relay, framing);
    try {
      await relay.nextSession();
      // PADDING and a ping in one record.
      client.sendRaw(
        new Uint8Array([
          ...encodeFrame({ type: "padding", length: 4 }, framing),
          ...encodeFrame({ type: "ping", response: false, sequence: 41 }, framing),
        ]),
      );
      const answer = await client.until((f) => f.type === "ping", "a ping response");
      assert.deepEqual(answer, { type: "ping", response: true, sequence: 41 });
    } finally {
      await client.close();
      await relay.close();
    }
  }
});

Deno.test("qmux-01/02 idle timeout: a peer that stops answering is pinged, then closed with code 3", async () => {
  for (const framing of RECORD_FRAMINGS) {
    const relay = startWebSocketServer({ idleTimeoutMs: 30_000 });
    // The smaller announced value wins: 400 ms.
    const client = await connect(relay, framing, { ...QMUX_CLIENT_PARAMS, maxIdleTimeoutMs: 400 });
    try {
      const session = await relay.nextSession();
      const started = Date.now();
      const info = await withTimeout(session.closed, 5000, "the idle close");
      const elapsed = Date.now() - started;
      assert.equal(info.code, CLOSE_CODE_IDLE_TIMEOUT);
      assert.ok(elapsed >= 350, `${framing}: closed after ${elapsed} ms, not before the timeout`);
      const pings = client.frames.filter((f) => f.type === "ping" && !f.response);
      assert.ok(pings.length >= 1, `${framing}: the relay pinged before giving up`);
      assert.deepEqual(pings.map((f) => f.type === "ping" && f.sequence), pings.map((_, i) => i));
      const close = await closeFrame(client);
      assert.equal(close.type === "close" && close.code, CLOSE_CODE_IDLE_TIMEOUT);
    } finally {
      await client.close();
      await relay.close();
    }
  }
});

Deno.test("qmux-01/02 idle timeout: answering the relay's pings keeps a silent session open", async () => {
  const relay = startWebSocketServer({ idleTimeoutMs: 30_000 });
  const client = await connect(relay, "qmux-02", { ...QMUX_CLIENT_PARAMS, maxIdleTimeoutMs: 300 });
  let answered = 0;
  const responder = setInterval(() => {
    for (const frame of client.frames.splice(0)) {
      if (frame.type === "ping" && !frame.response) {
        client.send({ type: "ping", response: true, sequence: frame.sequence });
        answered++;
      }
    }
  }, 20);
  try {
    const session = await relay.nextSession();
    let closed = false;
    session.closed.then(() => closed = true);
    await sleep(1_500);
    assert.equal(closed, false);
    assert.ok(answered >= 2, `answered ${answered} pings`);
  } finally {
    clearInterval(responder);
    await client.close();
    await relay.close();
  }
});

Deno.test("qmux-02 RESET_STREAM_AT: bytes below the reliable size are still delivered, then the reset", async () => {
  const relay = startWebSocketServer();
  const client = await connect(relay, "qmux-02");
  try {
    const session = await relay.nextSession();
    // Stream 2: all 10 bytes arrive, then RESET_STREAM_AT keeps 6 of them.
    client.send({ type: "stream", id: 2, data: enc.encode("0123456789"), fin: false });
    client.send({ type: "reset_stream_at", id: 2, code: 9, finalSize: 10, reliableSize: 6 });
    // Stream 6: the reset comes first, the reliable bytes after it.
    client.send({ type: "stream", id: 6, data: enc.encode("abcd"), fin: false });
    client.send({ type: "reset_stream_at", id: 6, code: 4, finalSize: 12, reliableSize: 8 });
    const first = (await session.acceptUni())!;
    const second = (await session.acceptUni())!;
    await sleep(50);
    client.send({ type: "stream", id: 6, data: enc.encode("efghijkl"), fin: false });

    const readUntilReset = async (recv: typeof first): Promise<[string, number]> => {
      let text = "";
      try {
        while (true) {
          const chunk = await recv.read();
          if (chunk === null) return [text, -1];
          text += dec.decode(chunk);
        }
      } catch (error) {
        assert.ok(error instanceof StreamResetError);
        return [text, error.code];
      }
    };
    assert.deepEqual(await withTimeout(readUntilReset(first), 2000, "stream 2"), ["012345", 9]);
    assert.deepEqual(await withTimeout(readUntilReset(second), 2000, "stream 6"), ["abcdefgh", 4]);
  } finally {
    await client.close();
    await relay.close();
  }
});

/** A malformed form: what the offending client sends after (or instead of) its parameters. */
interface Offence {
  name: string;
  framing: Framing;
  /** Send the parameters first (default true). */
  params?: boolean;
  act(client: RawClient): void;
  reason: RegExp;
}

const OFFENCES: Offence[] = [
  {
    name: "STREAM before QX_TRANSPORT_PARAMETERS",
    framing: "qmux-02",
    params: false,
    act: (c) => c.send({ type: "stream", id: 2, data: enc.encode("x"), fin: false }),
    reason: /expected QX_TRANSPORT_PARAMETERS as the first qmux-02 frame/,
  },
  {
    name: "QX_TRANSPORT_PARAMETERS twice",
    framing: "qmux-02",
    act: (c) => c.send({ type: "transport_parameters", params: QMUX_CLIENT_PARAMS }),
    reason: /received twice/,
  },
  {
    name: "a QX_PING request sequence that does not increase",
    framing: "qmux-02",
    act: (c) => {
      c.send({ type: "ping", response: false, sequence: 3 });
      c.send({ type: "ping", response: false, sequence: 3 });
    },
    reason: /sequence 3 does not increase/,
  },
  {
    name: "a QX_PING response to a request never sent",
    framing: "qmux-02",
    act: (c) => c.send({ type: "ping", response: true, sequence: 5 }),
    reason: /never sent/,
  },
  {
    name: "RESET_STREAM_AT on qmux-01",
    framing: "qmux-01",
    act: (c) =>
      c.sendRaw(
        encodeFrame({ type: "reset_stream_at", id: 2, code: 0, finalSize: 1, reliableSize: 0 }, "qmux-02"),
      ),
    reason: /RESET_STREAM_AT in qmux-01/,
  },
  {
    name: "RESET_STREAM_AT with a reliable size beyond the final size",
    framing: "qmux-02",
    act: (c) => c.sendRaw(new Uint8Array([0x24, 0x02, 0x00, 0x05, 0x06])),
    reason: /reliable size 6 exceeds its final size 5/,
  },
  {
    name: "a record over max_record_size",
    framing: "qmux-01",
    act: (c) => c.sendRaw(new Uint8Array(DEFAULT_MAX_RECORD_SIZE_BYTES + 1)),
    reason: /exceeds our max_record_size/,
  },
  {
    name: "an unknown frame type inside a record",
    framing: "qmux-01",
    act: (c) => c.sendRaw(new Uint8Array([0x10, 0x05, 0x21, 0x00])),
    reason: /unknown frame type 0x21/,
  },
  {
    name: "a DATAGRAM although max_datagram_frame_size is 0",
    framing: "qmux-02",
    act: (c) => c.sendRaw(encodeFrame({ type: "datagram", data: new Uint8Array(3) }, "qmux-02")),
    reason: /max_datagram_frame_size 0/,
  },
  {
    name: "a max_record_size below the minimum",
    framing: "qmux-01",
    params: false,
    act: (c) =>
      c.send({ type: "transport_parameters", params: { ...QMUX_CLIENT_PARAMS, maxRecordSize: 1200 } }),
    reason: /max_record_size 1200 is below the minimum/,
  },
  {
    name: "a truncated frame inside a record",
    framing: "qmux-02",
    act: (c) => c.sendRaw(new Uint8Array([0x00, 0x0a, 0x02, 0x05, 0x61])),
    reason: /stream data needs 5 bytes/,
  },
];

Deno.test("qmux-01/02: each malformed form closes only the offending session (code 15, clear reason)", async () => {
  for (const offence of OFFENCES) {
    const relay = startWebSocketServer();
    const bystander = await connect(relay, offence.framing);
    const offender = await connect(
      relay,
      offence.framing,
      offence.params === false ? null : QMUX_CLIENT_PARAMS,
    );
    try {
      const sessions: TransportSession[] = [await relay.nextSession(), await relay.nextSession()];
      offence.act(offender);
      const close = await closeFrame(offender);
      assert.equal(close.type === "close" && close.code, CLOSE_CODE_PROTOCOL_VIOLATION, offence.name);
      assert.match(close.type === "close" ? close.reason : "", offence.reason, offence.name);
      const closedInfo = await Promise.race(sessions.map((s) => s.closed));
      assert.equal(closedInfo.code, CLOSE_CODE_PROTOCOL_VIOLATION, offence.name);
      // The other session still works.
      bystander.send({ type: "ping", response: false, sequence: 1 });
      await bystander.until((f) => f.type === "ping" && f.response, `${offence.name}: bystander ping`);
      assert.equal(bystander.frames.some((f) => f.type === "close"), false, offence.name);
    } finally {
      await offender.close();
      await bystander.close();
      await relay.close();
    }
  }
});

Deno.test("qmux-01: a repeated QX_TRANSPORT_PARAMETERS or QX_PING sequence is tolerated (qmux-02 rules only)", async () => {
  const relay = startWebSocketServer();
  const client = await connect(relay, "qmux-01");
  try {
    await relay.nextSession();
    client.send({ type: "transport_parameters", params: QMUX_CLIENT_PARAMS });
    client.send({ type: "ping", response: false, sequence: 2 });
    client.send({ type: "ping", response: false, sequence: 2 });
    client.send({ type: "ping", response: true, sequence: 99 });
    client.send({ type: "ping", response: false, sequence: 7 });
    await client.until((f) => f.type === "ping" && f.sequence === 7, "the third answer");
    assert.equal(client.frames.filter((f) => f.type === "ping").length, 3);
    assert.equal(client.frames.some((f) => f.type === "close"), false);
  } finally {
    await client.close();
    await relay.close();
  }
});

Deno.test("qmux-01/02 attack: a record packed with 1000 QX_PING requests gets one answer, not 1000", async () => {
  for (const framing of RECORD_FRAMINGS) {
    const relay = startWebSocketServer();
    const client = await connect(relay, framing);
    try {
      await relay.nextSession();
      const pings = Array.from(
        { length: 1000 },
        (_, i) => encodeFrame({ type: "ping", response: false, sequence: i + 1 }, framing),
      );
      const record = new Uint8Array(pings.reduce((sum, p) => sum + p.length, 0));
      let offset = 0;
      for (const p of pings) {
        record.set(p, offset);
        offset += p.length;
      }
      client.sendRaw(record);
      // A later, lone request shows the relay is done with the record.
      client.send({ type: "ping", response: false, sequence: 5000 });
      await client.until((f) => f.type === "ping" && f.sequence === 5000, "the answer to the lone ping");
      const answers = client.frames.filter((f) => f.type === "ping" && f.response);
      assert.deepEqual(answers.map((f) => f.type === "ping" && f.sequence), [1000, 5000], framing);
      assert.equal(client.frames.some((f) => f.type === "close"), false);
    } finally {
      await client.close();
      await relay.close();
    }
  }
});
