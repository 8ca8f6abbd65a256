/**
 * `@moq/qmux` 0.3.3, the qmux-00/01/02 reference the interop tests drive, pinned in one place.
 * Test-only: it stays out of deno.json "imports" and deno.lock (tests/deps_test.ts checks that).
 *
 * @module
 */

export { default, selectSubprotocol, StreamError } from "npm:@moq/qmux@0.3.3";
