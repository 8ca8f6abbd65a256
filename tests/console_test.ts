/// <reference lib="dom" />
/**
 * The consoles the relay serves (http/console.ts), end to end: headless Chromium (Debian
 * `chromium` through playwright-core, tests/browser/harness.ts) with a fake camera and microphone
 * opens the public console of a dev-default relay, publishes with `@moq/publish`, sees the
 * broadcast appear without a reload, and plays it in a second page with `@moq/watch`; the operator
 * console on the internal listener shows sessions and throughput move. With
 * `UPDATE_SCREENSHOTS=1` the screenshots of both consoles are written to docs/ for the README.
 *
 * If Chromium is missing the harness installs it with apt; if that fails these tests FAIL.
 */

import assert from "node:assert/strict";
import { connect, explainFailure, publish, type RelayProcess, startRelay } from "../testing/mod.ts";
import { type Chromium, chromiumTest, launchPages } from "./browser/harness.ts";
import {
  IMMUTABLE_CACHE_CONTROL,
  OPERATOR_SCRIPT_PATH,
  PUBLIC_SCRIPT_PATH,
  type StatsSnapshot,
} from "../http/mod.ts";
import { encodeBase64Url, parseKeyText, signToken } from "../auth/mod.ts";
import { ASSETS_MODULE_PATH, buildConsoleModule } from "../scripts/build_console.ts";

const STEP_TIMEOUT_MS = 20_000;
/** Chromium flags: a synthetic camera and microphone, granted without a prompt. */
const FAKE_MEDIA_ARGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
];
const DOCS = new URL("../docs/", import.meta.url);

type Page = Awaited<ReturnType<Chromium["context"]["newPage"]>>;
type Connection = Awaited<ReturnType<typeof connect>>;

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

/**
 * Take a full-page screenshot; with `UPDATE_SCREENSHOTS=1` write it to docs/<name> for the README
 * (off by default, so a test run leaves the checkout unchanged).
 */
async function screenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ fullPage: true });
  assert.ok(png.length > 10_000, `${name}: a real screenshot (${png.length} bytes)`);
  if (Deno.env.get("UPDATE_SCREENSHOTS") === "1") await Deno.writeFile(new URL(name, DOCS), png);
}

chromiumTest(
  "console: publish a fake camera from / and watch it in a second page; the operator console moves",
  { relay: { internal: true }, args: FAKE_MEDIA_ARGS },
  async (relay, browser) => {
    const operator = await browser.open();
    await operator.goto(`${relay.internalUrl}/`);
    await operator.waitForFunction(() => document.getElementById("status")?.textContent === "live");
    const before = await stats(relay);

    const publisher = await browser.open(true);
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
    const viewer = await browser.open();
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
    // The relay recorded the traffic for the graph of a console opened later.
    const recorded = (await (await fetch(`${relay.internalUrl}/stats.json?history`)).json() as StatsSnapshot)
      .history ?? [];
    assert.ok(recorded.length >= 3, `one sample a second since start (got ${recorded.length})`);
    assert.ok(recorded.at(-1)!.bytes_in > recorded[0].bytes_in, "the recorded totals grew");

    // The README's screenshots: the publisher page also playing its own broadcast, and the viewer.
    await row.locator("button").click();
    await publisher.waitForFunction(
      () => {
        const c = document.querySelector("#player canvas") as HTMLCanvasElement | null;
        return c !== null && c.width > 0;
      },
      undefined,
      { timeout: STEP_TIMEOUT_MS },
    );
    await publisher.waitForTimeout(1_500);
    await screenshot(publisher, "console-public.png");
    await screenshot(viewer, "console-watch.png");
    await viewer.waitForTimeout(2_000);
    await screenshot(operator, "console-operator.png");
    assert.deepEqual(errors(browser.lines), [], "no errors in the page consoles");
  },
);

/** The broadcast paths the public console lists once `expected` appeared (and a moment passed). */
async function listed(page: Page, expected: string): Promise<string[]> {
  await page.locator(`li.broadcast[data-path="${expected}"]`).waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.waitForTimeout(1_000); // announcements of anything else would have arrived by now
  return await page.locator("li.broadcast").evaluateAll((rows) =>
    rows.map((r) => (r as HTMLElement).dataset.path ?? "")
  );
}

Deno.test({
  name: "console: a token that sees only room/ lists only room/; no token lists only the anonymous prefix",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-console-" });
  const secret = encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const keyText = JSON.stringify({ kty: "oct", alg: "HS256", k: secret, key_ops: ["sign", "verify"] });
  await Deno.writeTextFile(`${dir}/relay.jwk`, keyText);
  const key = parseKeyText(keyText, "test key");
  const relay = await startRelay({ auth: `public = "anon"\nkey = "${dir}/relay.jwk"` });
  const browser = await launchPages();
  const lines = browser.lines;
  const connections: Connection[] = [];
  try {
    await explainFailure(async () => {
      // Three publishers: anonymous under anon/, and token holders under room/ and other/.
      const anon = await connect(relay.port, "anon");
      connections.push(anon);
      await publish(anon, "lobby");
      for (const root of ["room", "other"]) {
        const jwt = await signToken(key, { root, put: [""] });
        const c = await connect(relay.port, root, `?jwt=${jwt}`);
        connections.push(c);
        await publish(c, "cam");
      }
      const page = await browser.open();

      const viewer = await signToken(key, { root: "room", get: [""] });
      await page.goto(`${relay.httpUrl}/?jwt=${viewer}`);
      assert.deepEqual(await listed(page, "room/cam"), ["room/cam"], "the room/ token sees room/ only");
      assert.match(await page.textContent("#access") ?? "", /Token access: watch room\/; publish nothing/);
      assert.ok(await page.isDisabled("#publish-start"), "a watch-only token cannot publish");

      await page.goto(`${relay.httpUrl}/`);
      assert.deepEqual(await listed(page, "anon/lobby"), ["anon/lobby"], "anonymous sees anon/ only");

      assert.deepEqual(errors(lines), [], "no errors in the page console");

      // A bad token is explained in the page, not thrown (Chromium itself logs the refused fetch).
      await page.goto(`${relay.httpUrl}/?jwt=not.a.token`);
      await page.locator("#problems .problem").first().waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.match(await page.textContent("#problems") ?? "", /access: unauthorized/);
      assert.ok(
        !(await page.textContent("#problems") ?? "").includes("not.a.token"),
        "the token is not echoed",
      );
      assert.deepEqual(errors(lines).filter((l) => !/status of 401/.test(l)), [], "no other errors");
    }, () => ({ "page console": lines, "relay log": relay.logs }));
  } finally {
    for (const c of connections) c.close();
    await browser.close();
    await relay.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "console: served from the module graph (no file reads); the operator console only internally (404)",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  // Reading any file of the checkout is denied: the consoles come from the module graph only, as in
  // the single binary (modules still load; only runtime reads are refused).
  const checkout = new URL("../", import.meta.url).pathname;
  const relay = await startRelay({ internal: true, denoFlags: [`--deny-read=${checkout}`] });
  try {
    const operator = await fetch(`${relay.internalUrl}/`);
    assert.equal(operator.status, 200);
    assert.match(operator.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await operator.text(), /moq-relay operator/);
    const script = await fetch(`${relay.internalUrl}${OPERATOR_SCRIPT_PATH}`);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get("cache-control"), IMMUTABLE_CACHE_CONTROL);
    await script.body?.cancel();
    const json = await fetch(`${relay.internalUrl}/stats.json`);
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.ok(Array.isArray((await json.json() as StatsSnapshot).sessions));

    for (const path of ["/stats.json", OPERATOR_SCRIPT_PATH, "/metrics", "/nodes"]) {
      const res = await fetch(`${relay.httpUrl}${path}`);
      assert.equal(res.status, 404, `${path} is not served on the public listener`);
      await res.body?.cancel();
    }
    const pub = await fetch(`${relay.httpUrl}/`);
    assert.equal(pub.status, 200);
    const html = await pub.text();
    assert.ok(html.includes(PUBLIC_SCRIPT_PATH) && !html.includes("operator"), "/ on the public listener");
    const publicScript = await fetch(`${relay.httpUrl}${PUBLIC_SCRIPT_PATH}`);
    assert.equal(publicScript.status, 200);
    assert.match(publicScript.headers.get("content-type") ?? "", /^text\/javascript/);
    await publicScript.body?.cancel();
    const notOnInternal = await fetch(`${relay.internalUrl}${PUBLIC_SCRIPT_PATH}`);
    assert.equal(notOnInternal.status, 404);
    await notOnInternal.body?.cancel();
  } finally {
    await relay.stop("SIGKILL");
  }
});

Deno.test("console: the committed bundle (http/_console_assets.ts) matches a fresh build", async () => {
  const { text, sizes } = await buildConsoleModule();
  const committed = await Deno.readTextFile(ASSETS_MODULE_PATH);
  assert.ok(
    committed === text,
    "http/_console_assets.ts is stale: run `deno run -A scripts/build_console.ts` and commit the result",
  );
  console.log(`bundle sizes: ${JSON.stringify(sizes)}`);
});

chromiumTest(
  "console: in a browser without WebTransport the page falls back to WebSocket and still lists broadcasts",
  {},
  async (relay, browser) => {
    const lines = browser.lines;
    const publisher = await connect(relay.port, "anon");
    try {
      await publish(publisher, "over-ws");
      const page = await browser.open();
      // As in a browser that has no WebTransport (e.g. older Safari).
      await page.addInitScript(() => delete (globalThis as { WebTransport?: unknown }).WebTransport);
      await page.goto(`${relay.httpUrl}/`);
      assert.deepEqual(await listed(page, "anon/over-ws"), ["anon/over-ws"]);
      assert.ok(lines.some((l) => /connected via WebSocket/.test(l)), "the page used the WebSocket fallback");
      assert.match(
        await page.textContent("#problems") ?? "",
        /no WebTransport here: falling back to WebSocket/,
      );
      // A broadcast without a hang catalog is still listed, and says its tracks are unknown.
      await page.waitForSelector(
        'li.broadcast[data-path="anon/over-ws"] .tracks:text-matches("tracks unknown")',
        {
          timeout: STEP_TIMEOUT_MS,
        },
      );
      await relay.waitForLog(/session accepted.*transport=websocket.*root=\//);
      assert.deepEqual(errors(lines), [], "no errors in the page console");
    } finally {
      publisher.close();
    }
  },
);

chromiumTest(
  "console: a denied camera and a relay that goes away are explained in the page",
  // A fake camera, but no automatic grant: the permission request is refused.
  { args: ["--use-fake-device-for-media-stream"] },
  async (relay, browser) => {
    const lines = browser.lines;
    const page = await browser.open();
    await page.goto(`${relay.httpUrl}/`);
    await page.waitForSelector("#status:text-matches('connected')", { timeout: STEP_TIMEOUT_MS });
    await page.click("#publish-start");
    await page.waitForSelector("#problems .problem", { timeout: STEP_TIMEOUT_MS });
    assert.match(
      await page.textContent("#problems") ?? "",
      /publish: camera or microphone permission was denied/,
    );
    assert.equal(await page.isDisabled("#publish-start"), false, "the user may try again");
    assert.deepEqual(errors(lines), [], "no errors in the page console");

    await relay.stop("SIGKILL");
    await page.waitForSelector("#problems :text-matches('lost the connection to the relay')", {
      timeout: STEP_TIMEOUT_MS,
    });
    assert.equal(await page.textContent("#status"), "disconnected");
    // @moq/net itself logs the lost connection as an error; nothing else may appear.
    assert.deepEqual(errors(lines).filter((l) => !/fatal error running connection/.test(l)), []);
  },
);
