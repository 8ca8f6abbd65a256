/**
 * End-to-end tests of the relay's raw QUIC listener (ALPN `moq-lite-04`) with a small moq-lite
 * client written here on top of `dialQuic` and the relay's own codec (`session/messages.ts`):
 * publish and subscribe across connections, raw QUIC → `@moq/lite` over WebSocket, and garbage
 * (random stream bytes, streams that never end, 200 dropped connections, stray datagrams) that
 * must cost nobody else anything.
 *
 * Raw QUIC carries no URL and no token: the session root is `""`, so these relays run with
 * `public = ""` (everything public).
 */

import assert from "node:assert/strict";
import {
  connect,
  dialRelay,
  eventually,
  explainFailure,
  openSubscribe04,
  payload,
  readGroup,
  relayPin,
  type RelayProcess,
  sleep,
  startRelay,
  subscribe,
  within,
} from "../testing/mod.ts";
import {
  type BidiStream,
  type CloseInfo,
  connectQuicTo,
  dialQuic,
  type RecvStream,
  StreamReader,
  type TransportSession,
} from "../transport/mod.ts";
import { silentLogger } from "../log/mod.ts";
import {
  BidiType,
  decodeAnnounce,
  decodeAnnounceInterest,
  decodeGroupHeader,
  decodeSubscribe,
  decodeSubscribeFields,
  encodeAnnounce,
  encodeAnnounceInterest,
  encodeGroupHeader,
  encodeStreamType,
  encodeSubscribeOk,
  MAX_MESSAGE_BYTES,
  type Subscribe,
  Version,
} from "../session/mod.ts";
import { encodeVarint } from "../codec/mod.ts";

const V = Version.Lite04;
const STEP_TIMEOUT_MS = 10_000;
/** Everything public: raw QUIC sessions have root "" and no token. */
const PUBLIC_ALL = `public = ""`;

/** A request the relay made of a raw publisher (its SUBSCRIBE on a bidi stream it opened). */
interface TrackRequest {
  msg: Subscribe;
  stream: BidiStream;
}

/** One received group: sequence and frames (payloads, without size prefixes). */
interface ReceivedGroup {
  subscribeId: bigint;
  sequence: number;
  frames: Uint8Array[];
}

/** A hand-written moq-lite 04 peer over one raw QUIC connection. */
class RawMoqClient {
  readonly session: TransportSession;
  /** Broadcasts this client publishes (paths relative to the session root ""). */
  readonly #broadcasts = new Set<string>();
  /** Announce streams the relay opened to learn what we publish. */
  readonly #interests: { prefix: string; stream: BidiStream }[] = [];
  readonly requests: TrackRequest[] = [];
  #nextSubscribeId = 0n;
  readonly #acceptLoop: Promise<void>;

  private constructor(session: TransportSession) {
    this.session = session;
    this.#acceptLoop = this.#serveRelayStreams();
  }

  /**
   * Dial the relay, pinning its certificate: raw QUIC with ALPN `moq-lite-04` (default), or
   * WebTransport over HTTP/3 (the relay's `wt-protocol` selects lite-04) with the Deno client.
   */
  static async dial(
    relay: RelayProcess,
    pin: string,
    kind: "quic" | "webtransport" = "quic",
  ): Promise<RawMoqClient> {
    const session = await dialRelay(relay, kind, ["moq-lite-04"], { pin, timeoutMs: STEP_TIMEOUT_MS });
    assert.equal(session.kind, kind);
    assert.equal(session.protocol, "moq-lite-04");
    return new RawMoqClient(session);
  }

  /** Answer the relay's ANNOUNCE_INTEREST and SUBSCRIBE streams. */
  async #serveRelayStreams(): Promise<void> {
    for (;;) {
      const stream = await this.session.acceptBidi();
      if (!stream) return;
      this.#serveOne(stream).catch(() => {});
    }
  }

  async #serveOne(stream: BidiStream): Promise<void> {
    const reader = new StreamReader(stream.recv);
    const type = await reader.varint();
    if (type === BidiType.Announce) {
      const interest = decodeAnnounceInterest(V, await reader.message(MAX_MESSAGE_BYTES));
      this.#interests.push({ prefix: interest.prefix, stream });
      for (const path of this.#broadcasts) await this.#announce(stream, interest.prefix, path, true);
      return;
    }
    if (type === BidiType.Subscribe) {
      const msg = decodeSubscribe(V, await reader.message(MAX_MESSAGE_BYTES));
      await stream.send.write(
        encodeSubscribeOk(V, { priority: msg.priority, ordered: false, maxLatencyMs: 0 }),
      );
      this.requests.push({ msg, stream });
      return;
    }
    stream.send.reset(10);
  }

  async #announce(stream: BidiStream, prefix: string, path: string, active: boolean): Promise<void> {
    if (prefix !== "" && path !== prefix && !path.startsWith(prefix + "/")) return;
    const suffix = prefix === "" ? path : path.slice(prefix.length).replace(/^\//, "");
    await stream.send.write(encodeAnnounce(V, { active, suffix, hops: [] }));
  }

  /** Publish `path`: announce it on every interest stream, now and later. */
  async publish(path: string): Promise<void> {
    this.#broadcasts.add(path);
    for (const i of this.#interests) await this.#announce(i.stream, i.prefix, path, true);
  }

  /** Wait for the n-th (1-based) SUBSCRIBE the relay sent us. */
  async request(n = 1): Promise<TrackRequest> {
    await eventually(`SUBSCRIBE ${n} at the publisher`, () => this.requests.length >= n, STEP_TIMEOUT_MS);
    return this.requests[n - 1];
  }

  /** Write one GROUP uni stream for `request`: header, size-prefixed frames, FIN. */
  async writeGroup(request: TrackRequest, sequence: number, frames: Uint8Array[]): Promise<void> {
    const uni = await this.session.openUni();
    await uni.write(encodeGroupHeader({ subscribeId: request.msg.id, sequence }));
    for (const f of frames) {
      await uni.write(encodeVarint(f.length));
      if (f.length > 0) await uni.write(f);
    }
    await uni.close();
  }

  /** Ask the relay for the broadcasts under `prefix`; returns a live list of `+path` / `-path`. */
  async announced(prefix: string): Promise<string[]> {
    const stream = await this.session.openBidi();
    await stream.send.write(encodeStreamType(BidiType.Announce));
    await stream.send.write(encodeAnnounceInterest(V, { prefix, excludeHop: 0n }));
    const events: string[] = [];
    const reader = new StreamReader(stream.recv);
    (async () => {
      while (!(await reader.done())) {
        const a = decodeAnnounce(V, await reader.message(MAX_MESSAGE_BYTES));
        events.push(`${a.active ? "+" : "-"}${prefix ? `${prefix}/` : ""}${a.suffix}`);
      }
    })().catch(() => {});
    return events;
  }

  /** SUBSCRIBE to `broadcast`/`track` and wait for SUBSCRIBE_OK; returns the subscribe id. */
  async subscribe(broadcast: string, track: string): Promise<bigint> {
    const id = this.#nextSubscribeId++;
    const stream = await openSubscribe04(this.session, id, broadcast, track);
    const reader = new StreamReader(stream.recv);
    const responseType = await within(STEP_TIMEOUT_MS, "SUBSCRIBE_OK", reader.varint());
    assert.equal(responseType, 0, "response type 0 = SUBSCRIBE_OK");
    decodeSubscribeFields(await reader.message(MAX_MESSAGE_BYTES), "SUBSCRIBE_OK");
    return id;
  }

  /** Accept the next GROUP uni stream and read it to FIN. */
  async readGroup(): Promise<ReceivedGroup> {
    return await within(
      STEP_TIMEOUT_MS,
      "a GROUP stream",
      (async () => {
        const uni = await this.session.acceptUni();
        assert.ok(uni, "the session ended before a GROUP stream arrived");
        return await readGroupStream(uni);
      })(),
    );
  }

  /** Close with code 0 and wait until the connection is gone. */
  async close(): Promise<CloseInfo> {
    this.session.close(0, "test done");
    const info = await within(STEP_TIMEOUT_MS, "close", this.session.closed);
    await this.#acceptLoop;
    return info;
  }
}

async function readGroupStream(stream: RecvStream): Promise<ReceivedGroup> {
  const reader = new StreamReader(stream);
  assert.equal(await reader.u8(), 0, "GROUP stream type");
  const header = decodeGroupHeader(await reader.message(MAX_MESSAGE_BYTES));
  const frames: Uint8Array[] = [];
  while (!(await reader.done())) frames.push((await reader.exact(await reader.varint())).slice());
  return { subscribeId: header.subscribeId, sequence: header.sequence, frames };
}

/** Deterministic pseudo-random bytes (garbage for the relay). */
function noise(size: number, seed: number): Uint8Array {
  return payload(size, seed + 1000);
}

/** Run `fn` against a fresh relay with everything public; the relay log is printed on failure. */
function quicE2e(name: string, fn: (relay: RelayProcess, pin: string) => Promise<void>) {
  // The relay child and client state outlive single awaits; everything is closed explicitly.
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const relay = await startRelay({ auth: PUBLIC_ALL });
    try {
      const pin = await relayPin(relay);
      await explainFailure(() => fn(relay, pin), () => ({ "relay log": relay.logs }));
    } finally {
      await relay.stop("SIGKILL");
    }
  });
}

/** Publish `broadcast` on one client, subscribe on another, check `groups` groups byte-exact. */
async function rawPubSub(
  relay: RelayProcess,
  pin: string,
  broadcast: string,
  groups = 5,
  kinds: ["quic" | "webtransport", "quic" | "webtransport"] = ["quic", "quic"],
): Promise<void> {
  const pub = await RawMoqClient.dial(relay, pin, kinds[0]);
  const sub = await RawMoqClient.dial(relay, pin, kinds[1]);
  try {
    await pub.publish(broadcast);
    const events = await sub.announced("");
    await eventually(`announcement of ${broadcast}`, () => events.includes(`+${broadcast}`));
    const subscribeId = await within(
      STEP_TIMEOUT_MS,
      "subscribe",
      Promise.all([sub.subscribe(broadcast, "video"), pub.request()]).then(([id]) => id),
    );
    const upstream = pub.requests[0];
    assert.equal(upstream.msg.broadcast, broadcast);
    assert.equal(upstream.msg.track, "video");
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < groups; g++) {
      // Sizes from empty to 40 kB: frames span many QUIC packets.
      const frames = [0, 1, 2].map((f) =>
        payload(g === 0 && f === 0 ? 0 : 50 + g * 997 + f * 13_000, g * 10 + f)
      );
      sent.push(frames);
      await pub.writeGroup(upstream, g, frames);
      await sleep(20);
    }
    const received: ReceivedGroup[] = [];
    for (let g = 0; g < groups; g++) received.push(await sub.readGroup());
    received.sort((a, b) => a.sequence - b.sequence);
    for (let g = 0; g < groups; g++) {
      assert.equal(received[g].sequence, g, `group ${g} arrived`);
      assert.equal(received[g].subscribeId, subscribeId, "GROUP carries the subscriber's id");
      assert.equal(received[g].frames.length, sent[g].length, `group ${g} frame count`);
      for (let f = 0; f < sent[g].length; f++) {
        assert.deepEqual(received[g].frames[f], sent[g][f], `group ${g} frame ${f} byte-exact`);
      }
    }
    assert.equal(pub.requests.length, 1, "one upstream SUBSCRIBE");
  } finally {
    await sub.close();
    await pub.close();
  }
}

quicE2e(
  "raw QUIC: publish on one connection, subscribe on another, byte-exact groups",
  async (relay, pin) => {
    await rawPubSub(relay, pin, "room/cam");
    // The relay logged the sessions as raw QUIC lite-04 (no SETUP).
    await relay.waitForLog(/negotiated version.*transport=quic/);
    assert.ok(relay.logs.some((l) => /negotiated version/.test(l) && /version=moq-lite-04/.test(l)));
  },
);

quicE2e(
  "cross-transport: Deno WebTransport client ↔ raw QUIC client, both directions",
  async (relay, pin) => {
    await rawPubSub(relay, pin, "wt/to/quic", 3, ["webtransport", "quic"]);
    await rawPubSub(relay, pin, "quic/to/wt", 3, ["quic", "webtransport"]);
    assert.ok(
      relay.logs.some((l) =>
        /negotiated version/.test(l) && /transport=webtransport/.test(l) && /moq-lite-04/.test(l)
      ),
      "the relay logged a WebTransport lite-04 session",
    );
  },
);

quicE2e("raw QUIC: the publisher leaving ends the announcement", async (relay, pin) => {
  const viewer = await RawMoqClient.dial(relay, pin);
  try {
    const events = await viewer.announced("live");
    const pub = await RawMoqClient.dial(relay, pin);
    await pub.publish("live/a");
    await pub.publish("other/b");
    await eventually("live/a announced", () => events.includes("+live/a"));
    await pub.close();
    await eventually("live/a ended", () => events.includes("-live/a"));
    assert.deepEqual(events, ["+live/a", "-live/a"], "only the prefix's broadcast, announced then ended");
  } finally {
    await viewer.close();
  }
});

quicE2e("cross-transport: raw QUIC publisher → @moq/lite WebSocket subscriber", async (relay, pin) => {
  const pub = await RawMoqClient.dial(relay, pin);
  const ws = await connect(relay.port, "");
  try {
    await pub.publish("cross/demo");
    const track = await subscribe(ws, "cross/demo", "audio");
    const upstream = await pub.request();
    assert.equal(upstream.msg.track, "audio");
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 4; g++) {
      const frames = [payload(10 + g, g), payload(30_000 + g * 5_000, 100 + g), new Uint8Array(0)];
      sent.push(frames);
      await pub.writeGroup(upstream, g, frames);
      await sleep(20);
    }
    for (let g = 0; g < 4; g++) {
      const got = await readGroup(track);
      assert.ok(got, `group ${g} arrived over WebSocket`);
      assert.equal(got.sequence, g);
      assert.equal(got.frames.length, 3);
      for (let f = 0; f < 3; f++) assert.deepEqual(got.frames[f], sent[g][f], `group ${g} frame ${f}`);
    }
  } finally {
    ws.close();
    await pub.close();
  }
  assert.ok(relay.logs.some((l) => /negotiated version/.test(l) && /transport=websocket/.test(l)));
});

quicE2e("raw QUIC garbage: bad streams, endless streams, 200 dropped connections, stray datagrams", async (
  relay,
  pin,
) => {
  // 1. Random bytes behind an unknown bidi stream type: that stream ends, the session lives on.
  const a = await RawMoqClient.dial(relay, pin);
  const bad = await a.session.openBidi();
  await bad.send.write(Uint8Array.from([0x3f, ...noise(4096, 1)]));
  await bad.send.close();
  const end = await within(
    STEP_TIMEOUT_MS,
    "the relay ends the unknown stream",
    bad.recv.read().catch(() => null),
  );
  assert.equal(end, null, "the relay sends nothing on an unknown stream type, only ends it");
  // Same connection still works: announce discovery answers.
  const events = await a.announced("");
  await sleep(100);
  assert.deepEqual(events, [], "nothing published yet");

  // 2. A SUBSCRIBE stream carrying random bytes: a decode error closes that session only.
  const b = await RawMoqClient.dial(relay, pin);
  const garbled = await b.session.openBidi();
  await garbled.send.write(encodeStreamType(BidiType.Subscribe));
  await garbled.send.write(Uint8Array.from([0x20, ...noise(32, 2)]));
  const bInfo = await within(STEP_TIMEOUT_MS, "relay closes the garbling session", b.session.closed);
  assert.ok([5, 11].includes(bInfo.code), `closed with decode/bounds code, got ${JSON.stringify(bInfo)}`);
  assert.ok(bInfo.remote, "the relay closed it");

  // 3. Random uni streams (bad GROUP type and garbage header) on a third connection.
  const c = await RawMoqClient.dial(relay, pin);
  for (let i = 0; i < 5; i++) {
    const uni = await c.session.openUni();
    await uni.write(noise(2000, 10 + i));
    await uni.close();
  }

  // 4. Streams that never end: a half SUBSCRIBE message, a half GROUP header, a silent stream.
  const d = await RawMoqClient.dial(relay, pin);
  const half = await d.session.openBidi();
  await half.send.write(Uint8Array.from([BidiType.Subscribe, 0x40, 0xff, 0x00, 0x01]));
  const halfUni = await d.session.openUni();
  await halfUni.write(Uint8Array.from([0x00, 0x05, 0x00]));
  const silent = await d.session.openBidi();
  await silent.send.write(Uint8Array.of(BidiType.Announce));

  // 5. 200 connections opened and dropped (20 at a time), some with a stream, some mid-message.
  const closes: CloseInfo[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const sessions = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const raw = await RawMoqClient.dial(relay, pin);
      if (i % 3 === 1) {
        const s = await raw.session.openBidi();
        await s.send.write(Uint8Array.from([BidiType.Subscribe, 0x30, 0x00]));
      }
      return raw;
    }));
    for (const [i, raw] of sessions.entries()) raw.session.close(i % 2 === 0 ? 0 : 42, "dropped");
    for (const raw of sessions) closes.push(await within(STEP_TIMEOUT_MS, "drop", raw.session.closed));
  }
  assert.equal(closes.length, 200);

  // 6. Stray UDP datagrams and a handshake with an ALPN the relay does not serve.
  const udp = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    for (let i = 0; i < 50; i++) {
      await udp.send(noise(i % 2 === 0 ? 1200 : 40, 100 + i), {
        transport: "udp",
        hostname: "127.0.0.1",
        port: relay.port,
      });
    }
  } finally {
    udp.close();
  }
  await assert.rejects(
    dialQuic(new URL(`moql://127.0.0.1:${relay.port}`), {
      logger: silentLogger(),
      alpns: ["not-moq"],
      certificateSha256: [pin],
      timeoutMs: 5_000,
    }),
    /cannot dial/,
  );

  // 7. HTTP/3 (ALPN h3) garbage: random bytes as a request and as a control stream, then dropped.
  for (let i = 0; i < 3; i++) {
    const { conn, endpoint } = await connectQuicTo(new URL(`https://127.0.0.1:${relay.port}`), ["h3"], {
      logger: silentLogger(),
      certificateSha256: [pin],
      timeoutMs: 5_000,
    });
    const connClosed = conn.closed.catch(() => {});
    const bidi = await conn.createBidirectionalStream();
    const bw = bidi.writable.getWriter();
    await bw.write(noise(3000, 200 + i)).catch(() => {});
    const uni = await conn.createUnidirectionalStream();
    const uw = uni.getWriter();
    await uw.write(Uint8Array.from([0x00, ...noise(500, 300 + i)])).catch(() => {});
    await sleep(50);
    conn.close({ closeCode: 0, reason: "dropped" });
    await connClosed;
    endpoint.close();
  }

  // Afterwards: a good pub/sub still works, the process is alive, /health is 200.
  await rawPubSub(relay, pin, "after/garbage", 3);
  const health = await fetch(`${relay.httpUrl}/health`);
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const exited = await Promise.race([relay.child.status.then(() => true), sleep(10).then(() => false)]);
  assert.equal(exited, false, "the relay process is still running");
  // The endless streams' connection was held the whole time; it closes cleanly now.
  for (const client of [a, c, d]) await client.close();
  assert.ok(!relay.logs.some((l) => /uncaught|panicked/i.test(l)), "no crash in the relay log");
});
