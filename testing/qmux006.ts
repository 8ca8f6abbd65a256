/**
 * `@moq/qmux` 0.0.6, the QMux client `@moq/lite` 0.2.2 ships (a dependency of it, not in the
 * import map), which the qmux interop tests drive directly, pinned in one place. Test-only: it stays
 * out of deno.json "imports" and deno.lock (tests/deps_test.ts checks that).
 *
 * @module
 */

export { default } from "npm:@moq/qmux@0.0.6";
