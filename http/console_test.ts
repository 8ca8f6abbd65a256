import assert from "node:assert/strict";
import { ConsoleAssets, PAGE_CSP } from "./console.ts";

Deno.test("console pages: not frameable, nosniff, no referrer, no plugins or <base>", async () => {
  const assets = new ConsoleAssets();
  for (
    const res of [
      await assets.publicConsole(new Request("http://relay.test/?jwt=secret"), "/")!,
      await assets.operatorConsole(new Request("http://relay.test/"), "/")!,
    ]
  ) {
    await res.body?.cancel();
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.equal(csp, PAGE_CSP);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /base-uri 'none'/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  }
});

Deno.test("console scripts render publisher-chosen names as text: no HTML sinks with data", async () => {
  for (const file of ["public.ts", "operator.ts"]) {
    const src = await Deno.readTextFile(new URL(`../scripts/console/${file}`, import.meta.url));
    // Only clearing (`= ""`) is allowed; names go through textContent / createElement.
    for (const m of src.matchAll(/\.(innerHTML|outerHTML)\s*=\s*([^;]+);/g)) {
      assert.equal(m[2].trim(), '""', `${file}: ${m[0]}`);
    }
    assert.doesNotMatch(src, /insertAdjacentHTML|document\.write\(|\beval\(|new Function\(/, file);
  }
});
