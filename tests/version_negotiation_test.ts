/**
 * Version negotiation against a relay process, per transport, with and without `[server] version`:
 * raw QUIC (TLS ALPN, relay preference), WebTransport (`wt-protocol`, client order among the
 * relay's versions), WebSocket (`qmux-0X.<alpn>` subprotocols, relay preference; HTTP 400 when
 * nothing matches) with the real `@moq/net` 0.3.4 and 0.2.8 clients, and legacy SETUP.
 * Expected versions come from the relay's version table (transport/versions.ts), so the tests hold
 * whichever lite version the relay prefers.
 */

import assert from "node:assert/strict";
import {
  connect,
  dialRelay,
  e2e,
  payload,
  RawWebSocket,
  type RelayOptions,
  type RelayProcess,
  sleep,
  within,
} from "../testing/mod.ts";
import * as Net034 from "../testing/moq_net_api.ts";
import * as Net028 from "../testing/moq_net_028.ts";
import { type NegotiatedProtocol, preferredLiteProtocol } from "../transport/mod.ts";

const STEP_TIMEOUT_MS = 10_000;
/** What today's clients offer by ALPN / `wt-available-protocols` (lite part, newest first). */
const CLIENT_ALPNS = ["moq-lite-05", "moq-lite-04", "moq-lite-03", "moql"];

// Deno has a WebTransport client that offers no protocols; @moq/net must use WebSocket here.
Reflect.deleteProperty(globalThis, "WebTransport");
if (!Deno.env.get("MOQ_CLIENT_LOG")) {
  console.debug = () => {};
  console.warn = () => {};
  // @moq/net logs "fatal error running connection" on every ordinary close.
  const error = console.error;
  console.error = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith("fatal error running connection")) return;
    error(...args);
  };
}

/** The relay's "negotiated version" lines for `transport`, as versions. */
function negotiated(relay: RelayProcess, transport: string): string[] {
  return relay.logs.filter((l) => /negotiated version/.test(l) && l.includes(`transport=${transport}`))
    .map((l) => /version=(\S+)/.exec(l)?.[1] ?? "?");
}

async function quicProtocol(relay: RelayProcess, alpns: string[]): Promise<NegotiatedProtocol> {
  const session = await dialRelay(relay, "quic", alpns, { timeoutMs: STEP_TIMEOUT_MS });
  session.close(0, "done");
  return session.protocol;
}

async function webTransportProtocol(
  relay: RelayProcess,
  protocols: NegotiatedProtocol[],
): Promise<NegotiatedProtocol> {
  const session = await dialRelay(relay, "webtransport", protocols, {
    path: "/anon",
    timeoutMs: STEP_TIMEOUT_MS,
  });
  session.close(0, "done");
  return session.protocol;
}

/** The part of the `@moq/net` API (same in 0.2.8 and 0.3.4) the tests use. */
interface NetModule {
  Connection: { connect(url: URL): Promise<NetConnection> };
  Broadcast: { Producer: new () => NetBroadcast };
  Path: { from(path: string): string };
  Time: { Timestamp: { now(): unknown } };
}
interface NetConnection {
  readonly version: string;
  publish(path: string, broadcast: NetBroadcast): void;
  consume(path: string): { subscribe(name: string, options: { priority: number }): NetSubscriber };
  close(): void;
}
interface NetBroadcast {
  requested(): Promise<{ accept(): NetTrack } | undefined>;
}
interface NetTrack {
  closed: { peek(): unknown };
  appendGroup(): { writeFrame(frame: { payload: Uint8Array; timestamp: unknown }): void; close(): void };
}
interface NetSubscriber {
  recvGroup(): Promise<
    { sequence: number; readFrame(): Promise<{ payload: Uint8Array } | undefined> } | undefined
  >;
}
const NET_034 = Net034 as unknown as NetModule;
const NET_028 = Net028 as unknown as NetModule;

/**
 * Accept track requests until one stays open. On moq-lite-05 the relay asks for TRACK_INFO first
 * (a TRACK stream; `@moq/net` serves it through an info-only request it closes once answered), then
 * SUBSCRIBEs (a request that stays open), as upstream relays do (docs/lite05.md).
 */
async function acceptSubscription(
  request: () => Promise<{ accept(): NetTrack } | undefined>,
): Promise<NetTrack> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const req = await within(STEP_TIMEOUT_MS, "track request", request());
    assert.ok(req, "the relay requested the track");
    const producer = req.accept();
    await sleep(100);
    if (producer.closed.peek() === undefined) return producer;
  }
  throw new Error("every track request was closed: the relay never subscribed");
}

/** Publish one broadcast with `publisher`, read it with `subscriber`, byte-exact; return both versions. */
async function netPubSub(
  relay: RelayProcess,
  publisher: NetModule,
  subscriber: NetModule,
): Promise<string[]> {
  const url = new URL(`${relay.httpUrl}/anon`);
  const pub = await within(STEP_TIMEOUT_MS, "publisher connect", publisher.Connection.connect(url));
  const sub = await within(STEP_TIMEOUT_MS, "subscriber connect", subscriber.Connection.connect(url));
  try {
    const broadcast = new publisher.Broadcast.Producer();
    pub.publish(publisher.Path.from("net/cam"), broadcast);
    const request = () => broadcast.requested();
    const track = sub.consume(subscriber.Path.from("net/cam")).subscribe("video", { priority: 0 });
    const producer = await acceptSubscription(request);
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 3; g++) {
      const frames = [payload(9 + g, g), payload(25_000 + g, 40 + g)];
      sent.push(frames);
      const group = producer.appendGroup();
      for (const f of frames) group.writeFrame({ payload: f, timestamp: publisher.Time.Timestamp.now() });
      group.close();
      await sleep(20);
    }
    for (let g = 0; g < 3; g++) {
      const group = await within(STEP_TIMEOUT_MS, `group ${g}`, track.recvGroup());
      assert.ok(group, `group ${g} arrived`);
      assert.equal(group.sequence, g);
      const frames: Uint8Array[] = [];
      for (;;) {
        const frame = await within(STEP_TIMEOUT_MS, "frame", group.readFrame());
        if (!frame) break;
        frames.push(frame.payload);
      }
      assert.deepEqual(frames, sent[g], `group ${g} byte-exact`);
    }
    return [pub.version, sub.version];
  } finally {
    pub.close();
    sub.close();
  }
}

function restricted(versions: string[]): RelayOptions {
  return { server: `version = [${versions.map((v) => `"${v}"`).join(", ")}]` };
}

e2e(
  "negotiation, default versions: raw QUIC and WebTransport pick the relay's preferred lite version",
  async (
    relay,
  ) => {
    const preferred = preferredLiteProtocol();
    assert.equal(await quicProtocol(relay, CLIENT_ALPNS), preferred);
    assert.equal(await quicProtocol(relay, ["moql"]), "", "moql → legacy SETUP");
    assert.equal(
      await quicProtocol(relay, ["moq-lite-03", "moq-lite-04"]),
      "moq-lite-04",
      "TLS: relay preference",
    );
    assert.equal(await webTransportProtocol(relay, ["moq-lite-05", "moq-lite-04", "moq-lite-03"]), preferred);
    assert.equal(
      await webTransportProtocol(relay, ["moq-lite-03", "moq-lite-04"]),
      "moq-lite-03",
      "WT: client order",
    );
  },
);

e2e("negotiation, [server] version = lite-03 + lite-02: every transport is restricted", async (relay) => {
  assert.equal(await quicProtocol(relay, CLIENT_ALPNS), "moq-lite-03");
  assert.equal(await quicProtocol(relay, ["moql"]), "");
  await assert.rejects(
    quicProtocol(relay, ["moq-lite-05", "moq-lite-04"]),
    "no common ALPN: handshake fails",
  );
  assert.equal(
    await webTransportProtocol(relay, ["moq-lite-05", "moq-lite-04", "moq-lite-03"]),
    "moq-lite-03",
  );
  assert.equal(await webTransportProtocol(relay, ["moq-lite-04"]), "", "no match: no wt-protocol");
  // WebSocket: @moq/net 0.3.4 reaches lite-03 through `qmux-02.moq-lite-03`.
  const versions = await netPubSub(relay, NET_034, NET_034);
  assert.deepEqual(versions, ["moq-lite-03", "moq-lite-03"]);
  assert.deepEqual(negotiated(relay, "websocket"), ["moq-lite-03", "moq-lite-03"]);
  // A subprotocol offer with only lite-04 is refused before the upgrade.
  const refused = await RawWebSocket.connect(relay.port, "/anon", [
    "qmux-02.moq-lite-04",
    "qmux-01.moq-lite-04",
  ]);
  assert.ok(!(refused instanceof RawWebSocket), "upgrade refused");
  assert.equal(refused.status, 400);
  assert.match(refused.body, /no supported WebSocket subprotocol/);
}, restricted(["moq-lite-03", "moq-lite-02"]));

e2e(
  "negotiation, [server] version = lite-02 only: @moq/net gets lite-02 via qmux-02.moql + SETUP",
  async (relay) => {
    const versions = await netPubSub(relay, NET_034, NET_028);
    assert.deepEqual(versions, ["moq-lite-02", "moq-lite-02"]);
    assert.deepEqual(negotiated(relay, "websocket"), ["moq-lite-02", "moq-lite-02"]);
    const opened = relay.logs.filter((l) => /websocket session open/.test(l));
    assert.equal(opened.length, 2, opened.join("\n"));
    for (const line of opened) {
      assert.match(
        line,
        /framing=qmux-02/,
        "qmux-02.moql: record framing, version by SETUP",
      );
    }
    assert.deepEqual(await quicProtocol(relay, ["moql"]), "");
    await assert.rejects(quicProtocol(relay, ["moq-lite-04", "moq-lite-03"]));
  },
  { ...restricted(["moq-lite-02"]), log: "debug" },
);

e2e(
  "WebSocket: @moq/net 0.3.4 and 0.2.8 get the relay's preferred lite version, byte-exact both ways",
  async (
    relay,
  ) => {
    const preferred = preferredLiteProtocol();
    assert.deepEqual(await netPubSub(relay, NET_034, NET_028), [preferred, preferred]);
    assert.deepEqual(await netPubSub(relay, NET_028, NET_034), [preferred, preferred]);
    assert.deepEqual(negotiated(relay, "websocket"), [preferred, preferred, preferred, preferred]);
    // An offer of nothing this relay speaks is refused with 400 (upstream behaviour since 2026-08).
    const refused = await RawWebSocket.connect(relay.port, "/anon", ["qmux-01.moqt-13", "qmux-03"]);
    assert.ok(!(refused instanceof RawWebSocket));
    assert.equal(refused.status, 400);
  },
);

e2e(
  "negotiation, [server] version = lite-04 only: a legacy CLIENT_SETUP (@moq/lite 0.2.2) is refused",
  async (
    relay,
  ) => {
    // @moq/lite 0.2.2 offers only bare framings over WebSocket, so its version comes from a SETUP
    // offering lite-02/lite-01/draft-14, none of which this relay may select here.
    await assert.rejects(within(STEP_TIMEOUT_MS, "@moq/lite connect", connect(relay.port, "anon")));
    await relay.waitForLog(/no common version/);
    assert.deepEqual(negotiated(relay, "websocket"), []);
    assert.equal(await quicProtocol(relay, CLIENT_ALPNS), "moq-lite-04");
    await assert.rejects(quicProtocol(relay, ["moql"]), "no moql ALPN without a legacy version");
  },
  restricted(["moq-lite-04"]),
);
