/**
 * Real-browser end-to-end tests: headless Chromium (Debian `chromium`, driven by `playwright-core`)
 * runs the real `@moq/lite` 0.2.2, bundled for the browser, against a relay process. The page
 * connects to `http://127.0.0.1:<port>/anon`: the client fetches `/certificate.sha256`, then opens
 * WebTransport with `serverCertificateHashes`; the relay's HTTP/3 layer answers
 * `wt-protocol: "moq-lite-04"` and the browser speaks lite-04 (docs/protocol.md §16 item 18). WebSocket
 * is disabled in the page, so a pass cannot come from the fallback.
 *
 * If Chromium is missing the harness installs it with apt; if that fails these tests FAIL.
 */

import assert from "node:assert/strict";
import {
  connect,
  fromBase64,
  payload,
  publish,
  readGroup,
  type RelayProcess,
  sleep,
  subscribe,
  toBase64,
  writeGroup,
} from "../testing/mod.ts";
import { type BrowserSession, browserTest } from "./browser/harness.ts";
import type { ConnectInfo } from "./browser/api.ts";
import { preferredLiteProtocol } from "../transport/mod.ts";

const STEP_TIMEOUT_MS = 10_000;
/** A microsecond timestamp near today's Unix time (≈ 1.76e15 < 2^53), for exact-stamp checks. */
const NET_STAMP_BASE_US = 1_764_748_800_000_000;

/** Frames of group `g`: an empty frame, a small one and ones spanning many QUIC packets. */
function groupFrames(g: number): Uint8Array[] {
  return [new Uint8Array(0), payload(17 + g, g), payload(20_000 + g * 3_001, 50 + g), payload(1, 90 + g)];
}

/** Connect the page to the relay and check it really used WebTransport with lite-04. */
async function browserConnect(relay: RelayProcess, browser: BrowserSession): Promise<ConnectInfo> {
  return await browser.connectAs(`${relay.httpUrl}/anon`, STEP_TIMEOUT_MS, {
    version: "moq-lite-04",
    wtUrl: `https://127.0.0.1:${relay.port}/anon`,
  });
}

/** Relay log lines of sessions that negotiated a version over `transport`. */
function sessionsOver(relay: RelayProcess, transport: string): string[] {
  return relay.logs.filter((l) => /negotiated version/.test(l) && l.includes(`transport=${transport}`));
}

browserTest("browser: Chromium publishes and subscribes through the relay over WebTransport", {}, async (
  relay,
  browser,
) => {
  const pub = await browserConnect(relay, browser);
  const sub = await browserConnect(relay, browser);
  const publisher = await browser.call("publish", pub.id, "browser/cam");
  const track = await browser.call("subscribe", sub.id, "browser/cam", "video");
  const upstream = await browser.call("request", publisher, 1, STEP_TIMEOUT_MS);
  assert.equal(upstream.name, "video");
  const sent: Uint8Array[][] = [];
  for (let g = 0; g < 5; g++) {
    const frames = groupFrames(g);
    sent.push(frames);
    assert.equal(await browser.call("writeGroup", upstream.track, frames.map(toBase64)), g);
    await sleep(20);
  }
  for (let g = 0; g < 5; g++) {
    const got = await browser.call("readGroup", track, STEP_TIMEOUT_MS);
    assert.ok(got, `group ${g} arrived`);
    assert.equal(got.sequence, g);
    assert.deepEqual(got.frames.map(fromBase64), sent[g], `group ${g} byte-exact`);
  }
  // The relay saw two WebTransport sessions speaking lite-04, and no WebSocket at all.
  const wt = sessionsOver(relay, "webtransport");
  assert.equal(wt.length, 2, `two WebTransport sessions, got:\n${wt.join("\n")}`);
  for (const line of wt) assert.match(line, /version=moq-lite-04/);
  assert.equal(sessionsOver(relay, "websocket").length, 0);
  assert.equal(browser.console.filter((l) => /connected via WebTransport/.test(l)).length, 2);
  assert.ok(!browser.console.some((l) => /connected via WebSocket/.test(l)));
  await browser.call("close", pub.id);
  await browser.call("close", sub.id);
});

browserTest("cross-transport: Deno WebSocket publisher → Chromium WebTransport subscriber", {}, async (
  relay,
  browser,
) => {
  const pubConn = await connect(relay.port, "anon");
  try {
    const pub = await publish(pubConn, "deno/cam");
    const sub = await browserConnect(relay, browser);
    const track = await browser.call("subscribe", sub.id, "deno/cam", "video");
    const upstream = await pub.request();
    assert.equal(upstream.name, "video");
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 5; g++) {
      const frames = groupFrames(g);
      sent.push(frames);
      assert.equal(writeGroup(upstream, frames), g);
      await sleep(20);
    }
    for (let g = 0; g < 5; g++) {
      const got = await browser.call("readGroup", track, STEP_TIMEOUT_MS);
      assert.ok(got, `group ${g} arrived in the browser`);
      assert.equal(got.sequence, g);
      assert.deepEqual(got.frames.map(fromBase64), sent[g], `group ${g} byte-exact`);
    }
    assert.equal(sessionsOver(relay, "websocket").length, 1, "the publisher came over WebSocket");
    const wt = sessionsOver(relay, "webtransport");
    assert.equal(wt.length, 1, "the subscriber came over WebTransport");
    assert.match(wt[0], /version=moq-lite-04/);
    await browser.call("close", sub.id);
  } finally {
    pubConn.close();
  }
});

browserTest("cross-transport: Chromium WebTransport publisher → Deno WebSocket subscriber", {}, async (
  relay,
  browser,
) => {
  const pub = await browserConnect(relay, browser);
  const publisher = await browser.call("publish", pub.id, "chromium/cam");
  const subConn = await connect(relay.port, "anon");
  try {
    const track = await subscribe(subConn, "chromium/cam", "audio");
    const upstream = await browser.call("request", publisher, 1, STEP_TIMEOUT_MS);
    assert.equal(upstream.name, "audio");
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 3; g++) {
      const frames = groupFrames(g);
      sent.push(frames);
      await browser.call("writeGroup", upstream.track, frames.map(toBase64));
      await sleep(20);
    }
    for (let g = 0; g < 3; g++) {
      const got = await readGroup(track);
      assert.ok(got, `group ${g} arrived over WebSocket`);
      assert.equal(got.sequence, g);
      assert.deepEqual(got.frames, sent[g], `group ${g} byte-exact`);
    }
  } finally {
    subConn.close();
  }
  await browser.call("close", pub.id);
});

browserTest("browser: a refused CONNECT (401) fails fast and Chromium reports an HTTP refusal", {}, async (
  relay,
  browser,
) => {
  const started = Date.now();
  await assert.rejects(browser.call("connect", `${relay.httpUrl}/private`, STEP_TIMEOUT_MS));
  assert.ok(Date.now() - started < STEP_TIMEOUT_MS / 2, "the refusal is answered, not timed out");
  await relay.waitForLog(/session refused.*transport=webtransport.*status=401/);
  // Chromium's only explanation is a console line (docs/webtransport.md §7): it must name the HTTP
  // refusal, not a QUIC protocol error (which an early STOP_SENDING on the CONNECT stream causes).
  const line = browser.console.find((l) => l.includes(`https://127.0.0.1:${relay.port}/private`));
  assert.ok(line, `a console line about the refused URL; console:\n${browser.console.join("\n")}`);
  assert.match(line, /ERR_METHOD_NOT_SUPPORTED/);
  // The page still connects where access is public.
  const ok = await browserConnect(relay, browser);
  await browser.call("close", ok.id);
});

browserTest("browser: @moq/net 0.3.4 over WebTransport gets the relay's preferred lite version, byte-exact", {
  page: "net_page",
}, async (
  relay,
  browser,
) => {
  // @moq/net offers moq-lite-05, -04, -03, moql, moqt-20 … in wt-available-protocols; the relay
  // answers its most preferred lite version it serves (client order among the served ones).
  const preferred = preferredLiteProtocol();
  const connectNet = () =>
    browser.connectAs(`${relay.httpUrl}/anon`, STEP_TIMEOUT_MS, { version: preferred });
  const pub = await connectNet();
  const sub = await connectNet();
  // Non-default TRACK_INFO values, so a relay that re-serves its own defaults fails.
  const info = { timescale: 1_000_000, latencyMax: 7_300, priority: 9, ordered: true };
  const publisher = await browser.call("publish", pub.id, "net/cam", info);
  const track = await browser.call("subscribe", sub.id, "net/cam", "video");
  const upstream = await browser.call("request", publisher, 1, STEP_TIMEOUT_MS);
  assert.equal(upstream.name, "video");
  const sent: Uint8Array[][] = [];
  const stamps: number[][] = [];
  for (let g = 0; g < 5; g++) {
    const frames = groupFrames(g);
    sent.push(frames);
    // Microsecond wall-clock-sized stamps (≈ 2^50), not monotonic within a group: each delta's
    // sign and size must survive the relay's re-encoding exactly.
    const at = frames.map((_, i) => NET_STAMP_BASE_US + g * 33_367 + [0, 11, -5, 1_000_003][i]);
    stamps.push(at);
    assert.equal(await browser.call("writeGroup", upstream.track, frames.map(toBase64), at), g);
    await sleep(20);
  }
  if (preferred === "moq-lite-05") {
    assert.deepEqual(
      await browser.call("trackInfo", track, STEP_TIMEOUT_MS),
      info,
      "TRACK_INFO as published",
    );
  }
  for (let g = 0; g < 5; g++) {
    const got = await browser.call("readGroup", track, STEP_TIMEOUT_MS);
    assert.ok(got, `group ${g} arrived`);
    assert.equal(got.sequence, g);
    assert.deepEqual(got.frames.map(fromBase64), sent[g], `group ${g} byte-exact`);
    if (preferred === "moq-lite-05") {
      assert.deepEqual(got.timestamps, stamps[g], `group ${g}: every frame's timestamp exact`);
      assert.deepEqual(got.scales, stamps[g].map(() => info.timescale), `group ${g}: microsecond scale`);
    }
  }
  const wt = sessionsOver(relay, "webtransport");
  assert.equal(wt.length, 2, `two WebTransport sessions, got:\n${wt.join("\n")}`);
  for (const line of wt) assert.ok(line.includes(`version=${preferred}`), line);
  assert.equal(sessionsOver(relay, "websocket").length, 0, "WebSocket is disabled in the page");
  await browser.call("close", pub.id);
  await browser.call("close", sub.id);
});

browserTest(
  "browser: @moq/net 0.3.4 datagrams: Chromium publisher → relay → Chromium subscriber as WebTransport datagrams",
  { page: "net_page" },
  async (relay, browser) => {
    // Datagrams need moq-lite-05.
    const connectNet = () =>
      browser.connectAs(`${relay.httpUrl}/anon`, STEP_TIMEOUT_MS, { version: "moq-lite-05", protocol: null });
    const pub = await connectNet();
    const sub = await connectNet();
    const publisher = await browser.call("publish", pub.id, "net/dg", {
      timescale: 48_000,
      latencyMax: 2_000,
      priority: 1,
      ordered: false,
    });
    const track = await browser.call("subscribe", sub.id, "net/dg", "audio");
    const upstream = await browser.call("request", publisher, 1, STEP_TIMEOUT_MS);
    assert.equal((await browser.call("trackInfo", track, STEP_TIMEOUT_MS)).timescale, 48_000);
    await sleep(300);
    // @moq/net sends appendDatagram only as a QUIC datagram (no stream fallback) and delivers only
    // datagrams to recvDatagram, so every one read here crossed both WebTransport hops as a datagram.
    const sent = new Map<number, { payload: string; timestamp: number }>();
    for (let i = 0; i < 8; i++) {
      const payload = toBase64(payload8(i));
      const timestamp = 480_000 + i * 960;
      sent.set(await browser.call("writeDatagram", upstream.track, payload, timestamp), {
        payload,
        timestamp,
      });
      await sleep(30);
    }
    const got: { sequence: number; payload: string; timestamp: number }[] = [];
    while (got.length < sent.size) {
      const datagram = await browser.call("readDatagram", track, 2_000).catch(() => null);
      if (!datagram) break;
      got.push(datagram);
    }
    // Loopback rarely loses a datagram; allow a little loss, never corruption.
    assert.ok(got.length >= 6, `at least 6 of 8 datagrams arrived, got ${got.length}`);
    for (const d of got) {
      assert.deepEqual(
        { payload: d.payload, timestamp: d.timestamp },
        sent.get(d.sequence),
        `datagram ${d.sequence}`,
      );
    }
    await browser.call("close", pub.id);
    await browser.call("close", sub.id);
  },
);

/** A small datagram payload, distinct per `i`. */
function payload8(i: number): Uint8Array {
  return Uint8Array.from({ length: 40 + i }, (_, k) => (i * 31 + k) & 0xff);
}

/** Chromium flags for the media test: a fake camera and microphone, granted without a prompt. */
const MEDIA_ARGS: readonly string[] = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];
/** How long the media pipeline (capture, encode, relay, decode, render) may take to show frames. */
const MEDIA_TIMEOUT_MS = 45_000;

browserTest(
  "browser: @moq/publish 0.2.17 fake camera → relay → @moq/watch 0.4.6 in a second tab decodes and renders",
  { page: "media_page", args: MEDIA_ARGS },
  async (relay, browser) => {
    const url = `${relay.httpUrl}/anon`;
    await browser.media("publish", [url, "media/cam.hang"]);
    const watchTab = await browser.openTab();
    await browser.media("watch", [url, "media/cam.hang"], watchTab);
    const deadline = Date.now() + MEDIA_TIMEOUT_MS;
    let status = await browser.media("status", [], watchTab);
    while (Date.now() < deadline && (status.frames < 10 || (status.canvas?.lit ?? 0) === 0)) {
      await sleep(500);
      status = await browser.media("status", [], watchTab);
    }
    assert.ok(status.frames >= 10, `the watcher decoded ≥ 10 frames: ${JSON.stringify(status)}`);
    assert.ok(status.canvas && status.canvas.width > 0 && status.canvas.height > 0, JSON.stringify(status));
    assert.ok(status.canvas.lit > 0, `the canvas is not blank: ${JSON.stringify(status)}`);
    const published = await browser.media("status", []);
    console.error(
      `media: publisher ${published.version}, watcher ${status.version}, ${JSON.stringify(status)}`,
    );
    // Both went over WebTransport, at the versions their @moq/net releases and this relay share. The
    // page turns each element's WebSocket fallback off (otherwise, on a busy machine, a WebSocket
    // started after WebTransport's 500 ms head start can win the race).
    assert.equal(published.websocket, false, "the publisher's WebSocket fallback is off");
    assert.equal(status.websocket, false, "the watcher's WebSocket fallback is off");
    assert.equal(sessionsOver(relay, "websocket").length, 0, "WebSocket is disabled in the page");
    const tabConnects = (tab: RegExp) =>
      browser.console.filter((l) => tab.test(l) && /connected via WebTransport/.test(l));
    assert.ok(tabConnects(/^\[console/).length >= 1, "the publisher tab connected via WebTransport");
    assert.ok(tabConnects(/^\[tab 2\] /).length >= 1, "the watcher tab connected via WebTransport");
    assert.ok(!browser.console.some((l) => /connected via WebSocket/.test(l)));
    const versions = sessionsOver(relay, "webtransport").map((l) => /version=(\S+)/.exec(l)?.[1]);
    assert.ok(versions.length >= 2, versions.join(","));
    assert.ok(versions.includes(published.version) && versions.includes(status.version), versions.join(","));
  },
);
