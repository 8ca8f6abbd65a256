/**
 * The `@moq/lite` 0.2.2 client the tests drive, pinned in one place. Test-only: it stays out of
 * deno.json "imports" and deno.lock so `deno task start` / `deno task compile` never fetch it
 * (tests/deps_test.ts checks that).
 *
 * @module
 */

export * from "npm:@moq/lite@0.2.2";
