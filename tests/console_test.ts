/// <reference lib="dom" />
/**
 * The consoles the relay serves (http/console.ts), end to end: headless Chromium (Debian
 * `chromium` through playwright-core, tests/browser/harness.ts) with a fake camera and microphone
 * opens the public console of a dev-default relay, publishes with `@moq/publish`, sees the
 * broadcast appear without a reload, and plays it in a second page with `@moq/watch`; the operator
 * console on the internal listener shows sessions and throughput move. Screenshots of both
 * consoles are written to docs/ for the README.
 *
 * If Chromium is missing the harness installs it with apt; if that fails these tests FAIL.
 */

import assert from "node:assert/strict";
import { type RelayProcess, startRelay } from "../testing/mod.ts";
import { launchChromium, recordConsole } from "./browser/harness.ts";
import type { StatsSnapshot } from "../http/mod.ts";

const STEP_TIMEOUT_MS = 20_000;
/** Chromium flags: a synthetic camera and microphone, granted without a prompt. */
const FAKE_MEDIA_ARGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
];
const DOCS = new URL("../docs/", import.meta.url);

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof launchChromium>>["context"]["newPage"]>>;

/** Count frames `VideoDecoder`s output in the page (installed before any page script runs). */
function countDecodedFrames(): void {
  const g = globalThis as unknown as { decodedFrames: number; VideoDecoder?: typeof VideoDecoder };
  g.decodedFrames = 0;
  const Native = g.VideoDecoder;
  if (!Native) return;
  g.VideoDecoder = class extends Native {
    constructor(init: VideoDecoderInit) {
      super({
        ...init,
        output: (frame: VideoFrame) => {
          g.decodedFrames++;
          init.output(frame);
        },
      });
    }
  };
}

/** Mean and spread of the watch canvas's pixels (2d context, as `@moq/watch` draws). */
function canvasStats(): { mean: number; spread: number; sum: number } | null {
  const canvas = document.querySelector("moq-watch canvas") as HTMLCanvasElement | null;
  const ctx = canvas?.getContext("2d");
  if (!canvas || !ctx || canvas.width === 0 || canvas.height === 0) return null;
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let sum = 0, min = 255, max = 0;
  for (let i = 0; i < data.length; i += 4 * 7) {
    const v = (data[i] + data[i + 1] + data[i + 2]) / 3;
    sum += v * (i + 1);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { mean: sum / data.length, spread: max - min, sum };
}

/** Console lines that count as errors (`console.error`, uncaught exceptions). */
function errors(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith("[console.error]") || l.startsWith("[pageerror]"));
}

async function stats(relay: RelayProcess): Promise<StatsSnapshot> {
  const res = await fetch(`${relay.internalUrl}/stats.json`);
  assert.equal(res.status, 200);
  return await res.json() as StatsSnapshot;
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: new URL(name, DOCS).pathname, fullPage: true });
}

// Chromium and the relay child outlive single awaits; both are closed explicitly.
Deno.test({
  name: "console: publish a fake camera from / and watch it in a second page; the operator console moves",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const relay = await startRelay({ internal: true });
  const browser = await launchChromium(FAKE_MEDIA_ARGS);
  const lines: string[] = [];
  try {
    const operator = await browser.context.newPage();
    recordConsole(operator, lines);
    await operator.goto(`${relay.internalUrl}/`);
    await operator.waitForFunction(() => document.getElementById("status")?.textContent === "live");
    const before = await stats(relay);

    const publisher = browser.context.pages()[0] ?? await browser.context.newPage();
    recordConsole(publisher, lines);
    await publisher.goto(`${relay.httpUrl}/`);
    await publisher.waitForSelector("#status:text-matches('connected')", { timeout: STEP_TIMEOUT_MS });
    assert.match(
      await publisher.textContent("#access") ?? "",
      /Anonymous access: watch anon\/; publish anon\//,
    );
    assert.equal(await publisher.locator("li.broadcast").count(), 0, "nothing is live yet");
    const path = await publisher.inputValue("#publish-path");
    assert.match(path, /^anon\/[0-9a-f]{8}\.hang$/, "the dev default publishes under anon/<random>");
    await publisher.click("#publish-start");
    // The broadcast appears in the same page, from the announcement, without a reload.
    const row = publisher.locator(`li.broadcast[data-path="${path}"]`);
    await row.waitFor({ timeout: STEP_TIMEOUT_MS });
    await publisher.waitForFunction(
      (p) =>
        /video/.test(document.querySelector(`li.broadcast[data-path="${p}"] .tracks`)?.textContent ?? ""),
      path,
      { timeout: STEP_TIMEOUT_MS },
    );
    const link = await publisher.getAttribute("#publish-link", "href");
    assert.ok(link?.includes(`watch=${encodeURIComponent(path)}`), `a link to watch it: ${link}`);

    // A second page plays it.
    const viewer = await browser.context.newPage();
    recordConsole(viewer, lines);
    await viewer.addInitScript(countDecodedFrames);
    await viewer.goto(link!);
    await viewer.waitForFunction(
      () => (globalThis as unknown as { decodedFrames: number }).decodedFrames >= 10,
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    );
    const first = await viewer.evaluate(canvasStats);
    await viewer.waitForTimeout(1_000);
    const second = await viewer.evaluate(canvasStats);
    assert.ok(first && second, "the watch canvas exists and has a 2d context");
    assert.ok(first.spread > 16, `the canvas is not blank (pixel spread ${first.spread})`);
    assert.notEqual(first.sum, second.sum, "the canvas changes over time");
    const decoded = await viewer.evaluate(() =>
      (globalThis as unknown as { decodedFrames: number }).decodedFrames
    );
    assert.ok(decoded >= 10, `frames decoded: ${decoded}`);

    // The operator console saw the sessions and the traffic.
    await operator.waitForFunction(
      () => Number(document.getElementById("sessions-open")?.textContent) >= 3,
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    );
    await operator.waitForFunction(
      () => /[1-9]/.test(document.getElementById("bytes-in")?.textContent ?? ""),
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    );
    await operator.waitForFunction(
      (p) => [...document.querySelectorAll("#broadcasts td")].some((td) => td.textContent === p),
      path,
      { timeout: STEP_TIMEOUT_MS },
    );
    const after = await stats(relay);
    assert.ok(after.bytes_in > before.bytes_in, "bytes in moved");
    assert.ok(after.bytes_out > before.bytes_out, "bytes out moved");
    assert.ok(after.sessions.reduce((n, s) => n + s.count, 0) >= 3, "publisher, list and viewer sessions");
    assert.ok(after.broadcasts.some((b) => b.path === path && b.subscribers >= 1));

    await screenshot(publisher, "console-public.png");
    await viewer.waitForTimeout(2_000);
    await screenshot(operator, "console-operator.png");
    assert.deepEqual(errors(lines), [], "no errors in the page consoles");
  } catch (error) {
    console.error(`--- page console ---\n${lines.join("\n")}`);
    console.error(`--- relay log ---\n${relay.logs.join("\n")}`);
    throw error;
  } finally {
    await browser.close();
    await relay.stop("SIGKILL");
  }
});
