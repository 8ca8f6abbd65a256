/**
 * `@moq/net` 0.3.4, pinned in this one place: its high-level API (connect, publish, consume),
 * re-exported for the browser test page (tests/browser/net_page.ts bundles it) and for
 * testing/moq_net.ts (which also loads the package's wire classes for Deno codec cross-checks).
 * Test-only: it stays out of deno.json "imports" and deno.lock (tests/deps_test.ts).
 *
 * @module
 */

export * from "npm:@moq/net@0.3.4";

/** The pinned specifier, for resolving files inside the package (`import.meta.resolve`). */
export const MOQ_NET_SPECIFIER = "npm:@moq/net@0.3.4";
