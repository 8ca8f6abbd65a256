/**
 * The `@moq/net` 0.2.8 client (what `@moq/watch` 0.4.6 resolves to), pinned in one place for the
 * version-negotiation tests. Test-only: it stays out of deno.json "imports" and deno.lock
 * (tests/deps_test.ts).
 *
 * @module
 */

export * from "npm:@moq/net@0.2.8";
