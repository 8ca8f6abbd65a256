/**
 * IETF moq-transport in a real browser: headless Chromium runs `@moq/net` 0.3.4 (tests/browser/net_page.ts)
 * over WebTransport against a relay restricted to one draft at a time (`[server] version =
 * ["moq-transport-NN"]`), for every draft the client offers in `wt-available-protocols` (15–20; its
 * draft-14 `moq-00` is only reached through a legacy CLIENT_SETUP). Two browser connections publish
 * and subscribe through the relay; the negotiated version (client and relay log), the `wt.protocol`
 * and every frame (an empty one, a small one, one spanning many QUIC packets) are asserted.
 */

import assert from "node:assert/strict";
import {
  explainFailure,
  fromBase64,
  payload,
  type RelayProcess,
  sleep,
  startRelay,
  toBase64,
} from "../testing/mod.ts";
import { BrowserSession } from "./browser/harness.ts";

const STEP_TIMEOUT_MS = 15_000;
const DRAFTS = [15, 16, 17, 18, 19, 20] as const;
const GROUPS = 3;

function groupFrames(draft: number, g: number): Uint8Array[] {
  return [
    new Uint8Array(0),
    payload(17 + g, draft + g),
    payload(20_000 + g * 3_001, 50 + g),
    payload(200, 90 + g),
  ];
}

/** The WebTransport protocol string of `draft` (`moqt-NN`). */
function protocolOf(draft: number): string {
  return `moqt-${draft}`;
}

async function oneDraft(browser: BrowserSession, draft: number): Promise<void> {
  const relay: RelayProcess = await startRelay({ server: `version = ["moq-transport-${draft}"]` });
  try {
    const version = `moq-transport-${draft}`;
    const connectNet = () =>
      browser.connectAs(`${relay.httpUrl}/anon`, STEP_TIMEOUT_MS, { version, protocol: protocolOf(draft) });
    await explainFailure(async () => {
      const pub = await connectNet();
      const sub = await connectNet();
      const publisher = await browser.call("publish", pub.id, `ietf${draft}/cam`);
      const track = await browser.call("subscribe", sub.id, `ietf${draft}/cam`, "video");
      const upstream = await browser.call("request", publisher, 1, STEP_TIMEOUT_MS);
      assert.equal(upstream.name, "video");
      const sent: Uint8Array[][] = [];
      for (let g = 0; g < GROUPS; g++) {
        const frames = groupFrames(draft, g);
        sent.push(frames);
        await browser.call("writeGroup", upstream.track, frames.map(toBase64));
        await sleep(30);
      }
      for (let g = 0; g < GROUPS; g++) {
        const got = await browser.call("readGroup", track, STEP_TIMEOUT_MS);
        assert.ok(got, `draft ${draft}: group ${g} arrived`);
        assert.equal(got.sequence, g);
        assert.deepEqual(got.frames.map(fromBase64), sent[g], `draft ${draft}: group ${g} byte-exact`);
      }
      const wt = relay.logs.filter((l) =>
        /negotiated version/.test(l) && l.includes("transport=webtransport")
      );
      assert.equal(wt.length, 2, `two WebTransport sessions, got:\n${wt.join("\n")}`);
      for (const line of wt) assert.ok(line.includes(`version=${version}`), line);
      await browser.call("close", pub.id);
      await browser.call("close", sub.id);
    }, () => ({ [`relay log (draft ${draft})`]: relay.logs }));
  } finally {
    await relay.stop("SIGKILL");
  }
}

// Chromium, the page server and the relay children outlive single awaits; all are closed explicitly.
Deno.test({
  name: "browser: @moq/net 0.3.4 in Chromium over WebTransport speaks each IETF draft 15–20, byte-exact",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const browser = await BrowserSession.launch("net_page");
  try {
    for (const draft of DRAFTS) {
      await t.step(`draft ${draft}`, async () => {
        await explainFailure(
          () => oneDraft(browser, draft),
          () => ({ "page console": browser.console.slice(-60) }),
        );
      });
    }
  } finally {
    await browser.close();
  }
});
