/**
 * Real-browser harness for tests/browser_test.ts: makes sure Debian's `chromium` is installed
 * (installs it with apt when missing), launches it headless through `playwright-core` with the
 * flags proven in docs/webtransport.md §14, serves the bundled test page from a loopback
 * `Deno.serve` (loopback http is a secure context, so WebTransport is available) and records the
 * page console for failure reports.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "../../testing/playwright.ts";
import { buildPage, PAGE_HTML, type PageName } from "./build.ts";
import type { ConnectInfo, MoqMediaApi, MoqTestApi } from "./api.ts";
import { explainFailure, type RelayOptions, type RelayProcess, startRelay } from "../../testing/mod.ts";

/** Where Debian's chromium package puts the browser (`MOQ_TEST_CHROMIUM` overrides it). */
export const CHROMIUM_PATH = Deno.env.get("MOQ_TEST_CHROMIUM") || "/usr/bin/chromium";
/** Longest an apt-get step may take before the install counts as failed. */
export const APT_TIMEOUT_MS = 600_000;
/** Chromium flags from docs/webtransport.md §14 (QUIC stays enabled). */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Raised when Chromium is not installed and installing it failed. */
export class ChromiumMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChromiumMissingError";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(APT_TIMEOUT_MS),
    }).output();
    const decoder = new TextDecoder();
    return {
      ok: out.success,
      output: (decoder.decode(out.stdout) + decoder.decode(out.stderr)).slice(-2000),
    };
  } catch (error) {
    return { ok: false, output: String(error) };
  }
}

/**
 * Return the Chromium binary, installing Debian's `chromium` package with apt when it is missing.
 * Throws {@link ChromiumMissingError} (never skips) when it cannot be had.
 */
export async function ensureChromium(): Promise<string> {
  if (await exists(CHROMIUM_PATH)) return CHROMIUM_PATH;
  console.error(`${CHROMIUM_PATH} not found: installing chromium with apt-get`);
  const update = await run("apt-get", ["update", "-qq"]);
  const install = update.ok
    ? await run("apt-get", ["install", "-y", "-qq", "chromium"])
    : { ok: false, output: "" };
  if (await exists(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const status = (r: { ok: boolean }) => (r.ok ? "succeeded" : "FAILED");
  throw new ChromiumMissingError(
    `the real-browser tests need Chromium at ${CHROMIUM_PATH}; it is missing and installing it did not ` +
      `provide it (apt-get update ${status(update)}, apt-get install chromium ${
        update.ok ? status(install) : "not run"
      }). Install it as root: apt-get update && apt-get install -y chromium\n` +
      `apt-get update output: ${update.output || "(none)"}\napt-get install output: ${
        install.output || "(none)"
      }`,
  );
}

/** A headless Chromium with its own temporary profile. */
export interface Chromium {
  context: BrowserContext;
  /** Close the browser and remove its profile. */
  close(): Promise<void>;
}

/** Launch headless Chromium (flags from {@link CHROMIUM_ARGS} plus `extraArgs`) with a temporary profile. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Chromium> {
  const executablePath = await ensureChromium();
  const userDataDir = await Deno.makeTempDir({ prefix: "moq-chromium-" });
  const removeProfile = () => Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: false, // --headless=new below, as proven in docs/webtransport.md §14
      args: [...CHROMIUM_ARGS, ...extraArgs],
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => {});
        await removeProfile();
      },
    };
  } catch (error) {
    await removeProfile();
    throw error;
  }
}

/** Append every console line and page error of `page` to `lines`, in order, each after `prefix`. */
export function recordConsole(page: Page, lines: string[], prefix = ""): void {
  page.on("console", (m) => lines.push(`${prefix}[console.${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => lines.push(`${prefix}[pageerror] ${e.message}`));
}

/** A launched Chromium with the test page loaded. */
export class BrowserSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every console line and page error, in order. */
  readonly console: string[];
  readonly #server: Deno.HttpServer;
  readonly #browser: Chromium;

  private constructor(
    browser: Chromium,
    page: Page,
    consoleLines: string[],
    server: Deno.HttpServer,
  ) {
    this.context = browser.context;
    this.page = page;
    this.console = consoleLines;
    this.#server = server;
    this.#browser = browser;
  }

  /**
   * Build the page (default `page`: `@moq/lite` 0.2.2), serve it on 127.0.0.1, launch Chromium
   * (with `extraArgs` after {@link CHROMIUM_ARGS}) and open the page.
   */
  static async launch(page: PageName = "page", extraArgs: readonly string[] = []): Promise<BrowserSession> {
    await ensureChromium();
    const bundle = await buildPage(page);
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/") return new Response(PAGE_HTML, { headers: { "content-type": "text/html" } });
      if (path === "/page.js") {
        return new Response(bundle, { headers: { "content-type": "text/javascript" } });
      }
      if (path === "/favicon.ico") return new Response(null, { status: 204 });
      return new Response("not found", { status: 404 });
    });
    let browser: Chromium | undefined;
    try {
      browser = await launchChromium(extraArgs);
      const page = browser.context.pages()[0] ?? await browser.context.newPage();
      const lines: string[] = [];
      recordConsole(page, lines);
      const session = new BrowserSession(browser, page, lines, server);
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => "moqTest" in globalThis || "moqMedia" in globalThis, undefined, {
        timeout: 10_000,
      });
      const secure = await page.evaluate(() =>
        (globalThis as unknown as { isSecureContext: boolean }).isSecureContext &&
        typeof WebTransport === "function"
      );
      if (!secure) throw new Error("the test page is not a secure context with WebTransport");
      return session;
    } catch (error) {
      await browser?.close();
      await server.shutdown();
      throw error;
    }
  }

  /** Call `globalThis.moqTest[method](...args)` in the page. */
  call<K extends keyof MoqTestApi>(
    method: K,
    ...args: Parameters<MoqTestApi[K]>
  ): Promise<Awaited<ReturnType<MoqTestApi[K]>>> {
    return this.page.evaluate(
      ({ method, args }) => {
        const api =
          (globalThis as unknown as { moqTest: Record<string, (...a: unknown[]) => unknown> }).moqTest;
        return api[method](...args);
      },
      { method, args: args as unknown[] },
    ) as Promise<Awaited<ReturnType<MoqTestApi[K]>>>;
  }

  /**
   * Connect the page's client to `url` and check what it negotiated: `version`, and unless `protocol`
   * is null, exactly one WebTransport whose `wt.protocol` is `protocol` (default `version`) and,
   * when given, whose URL is `wtUrl`.
   */
  async connectAs(
    url: string,
    timeoutMs: number,
    expected: { version: string; protocol?: string | null; wtUrl?: string },
  ): Promise<ConnectInfo> {
    const info = await this.call("connect", url, timeoutMs);
    assert.equal(info.version, expected.version, `the page's client negotiated ${expected.version}`);
    if (expected.protocol !== null) {
      assert.equal(info.webtransports.length, 1, "the page opened exactly one WebTransport");
      if (expected.wtUrl !== undefined) assert.equal(info.webtransports[0].url, expected.wtUrl);
      assert.equal(
        info.webtransports[0].protocol,
        expected.protocol ?? expected.version,
        "wt.protocol from the relay's wt-protocol",
      );
    }
    return info;
  }

  /**
   * Open the test page in another tab (its console lines are recorded too, prefixed `[tab N]`) and
   * wait until it is ready.
   */
  async openTab(): Promise<Page> {
    const page = await this.context.newPage();
    const tab = this.context.pages().length;
    recordConsole(page, this.console, `[tab ${tab}] `);
    await page.goto(this.page.url());
    await page.waitForFunction(() => "moqMedia" in globalThis, undefined, { timeout: 10_000 });
    return page;
  }

  /** Call `globalThis.moqMedia[method](...args)` in `page` (default: the first tab). */
  media<K extends keyof MoqMediaApi>(
    method: K,
    args: Parameters<MoqMediaApi[K]>,
    page: Page = this.page,
  ): Promise<Awaited<ReturnType<MoqMediaApi[K]>>> {
    return page.evaluate(
      ({ method, args }) => {
        const api =
          (globalThis as unknown as { moqMedia: Record<string, (...a: unknown[]) => unknown> }).moqMedia;
        return api[method](...args);
      },
      { method, args: args as unknown[] },
    ) as Promise<Awaited<ReturnType<MoqMediaApi[K]>>>;
  }

  /** Close the browser, the page server and the profile directory. */
  async close(): Promise<void> {
    await this.#browser.close();
    await this.#server.shutdown();
  }
}

/** Options for {@link browserTest} and {@link chromiumTest}. */
export interface BrowserTestOptions {
  /** The relay's options (default: {@link startRelay}'s, i.e. public `anon`). */
  relay?: RelayOptions;
  /** Chromium flags after {@link CHROMIUM_ARGS}. */
  args?: readonly string[];
}

/**
 * Run `fn` with a fresh relay and a browser from `launch`; on failure print the page console
 * (`consoleOf`) and the relay log; close both afterwards. Chromium, the page server and the relay
 * child outlive single awaits, so the op/resource sanitizers are off; all are closed explicitly.
 */
function relayBrowserTest<B extends { close(): Promise<void> }>(
  name: string,
  relayOptions: RelayOptions | undefined,
  launch: () => Promise<B>,
  consoleOf: (browser: B) => readonly string[],
  fn: (relay: RelayProcess, browser: B) => Promise<void>,
): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const relay = await startRelay(relayOptions);
    let browser: B | undefined;
    try {
      await explainFailure(
        async () => {
          browser = await launch();
          await fn(relay, browser);
        },
        () => ({
          "page console": browser ? consoleOf(browser) : ["(browser not started)"],
          "relay log": relay.logs,
        }),
      );
    } finally {
      await browser?.close();
      await relay.stop("SIGKILL");
    }
  });
}

/** A test with a fresh relay and Chromium showing the test page `page` (default `page`: `@moq/lite` 0.2.2). */
export function browserTest(
  name: string,
  options: BrowserTestOptions & { page?: PageName },
  fn: (relay: RelayProcess, browser: BrowserSession) => Promise<void>,
): void {
  relayBrowserTest(
    name,
    options.relay,
    () => BrowserSession.launch(options.page, options.args),
    (browser) => browser.console,
    fn,
  );
}

/** A bare Chromium and the console lines of every page recorded into it with {@link ChromiumPages.open}. */
export interface ChromiumPages extends Chromium {
  /** Every console line and page error of the pages opened with {@link open}, in order. */
  lines: string[];
  /** A new page whose console is recorded into {@link lines} (`first`: reuse the initial tab). */
  open(first?: boolean): Promise<Page>;
}

/**
 * A test with a fresh relay and a bare headless Chromium (no test page: the test navigates, e.g. to
 * the relay's own console).
 */
export function chromiumTest(
  name: string,
  options: BrowserTestOptions,
  fn: (relay: RelayProcess, browser: ChromiumPages) => Promise<void>,
): void {
  relayBrowserTest(name, options.relay, () => launchPages(options.args), (browser) => browser.lines, fn);
}

/** Launch Chromium (see {@link launchChromium}) with console recording for the pages it opens. */
export async function launchPages(extraArgs: readonly string[] = []): Promise<ChromiumPages> {
  const chromium = await launchChromium(extraArgs);
  const lines: string[] = [];
  return {
    ...chromium,
    lines,
    open: async (first = false) => {
      const page = (first ? chromium.context.pages()[0] : undefined) ?? await chromium.context.newPage();
      recordConsole(page, lines);
      return page;
    },
  };
}
