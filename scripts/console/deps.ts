/**
 * The npm packages the browser consoles are built from, pinned in one place. Build-only: the
 * relay never imports them (it serves the committed bundle in http/_console_assets.ts), so they
 * stay out of deno.json "imports" and deno.lock.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix
import "npm:@moq/watch@0.4.6/element";
// deno-lint-ignore no-import-prefix
import "npm:@moq/publish@0.2.17/element";
export * as Net from "npm:@moq/net@0.2.8";
