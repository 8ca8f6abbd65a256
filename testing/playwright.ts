/**
 * `playwright-core` 1.65.1, which drives headless Chromium for the real-browser tests
 * (tests/browser/harness.ts), pinned in one place. Test-only: it stays out of deno.json "imports"
 * and deno.lock (tests/deps_test.ts checks that).
 *
 * @module
 */

export { type BrowserContext, chromium, type Page } from "npm:playwright-core@1.65.1";
