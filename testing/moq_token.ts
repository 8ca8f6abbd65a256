/**
 * `@moq/token` 0.2.3, the JS reference implementation of moq tokens the auth interop tests check
 * against, pinned in one place. Test-only: it stays out of deno.json "imports" and deno.lock
 * (tests/deps_test.ts checks that).
 *
 * @module
 */

export * from "npm:@moq/token@0.2.3";
