/**
 * The high-level API of `@moq/net` 0.3.4 (connect, publish, consume), re-exported for the browser
 * test page (tests/browser/net_page.ts bundles it). Test-only, like testing/moq_net.ts (which
 * loads the same pinned version's wire classes for Deno codec cross-checks): it stays out of
 * deno.json "imports" and deno.lock (tests/deps_test.ts).
 *
 * @module
 */

export * from "npm:@moq/net@0.3.4";
