/**
 * The media web components the browser tests drive, pinned in one place: `@moq/publish` 0.2.17
 * (`<moq-publish>`, on `@moq/net` ^0.1.7 and `@moq/hang` ^0.2.13) and `@moq/watch` 0.4.6
 * (`<moq-watch>`, on `@moq/net` ^0.2.8 and `@moq/hang` ^0.3.5). Importing this module registers
 * both custom elements; tests/browser/media_page.ts bundles it for Chromium. Test-only: it stays
 * out of deno.json "imports" and deno.lock (tests/deps_test.ts).
 *
 * @module
 */

// deno-lint-ignore no-import-prefix
import "npm:@moq/publish@0.2.17/element";
// deno-lint-ignore no-import-prefix
import "npm:@moq/watch@0.4.6/element";
