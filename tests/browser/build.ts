/**
 * Builds the browser test pages: bundles `page.ts` (the real `@moq/lite` 0.2.2 plus the test API)
 * or another page module (`net_page.ts`: `@moq/net` 0.3.4, `media_page.ts`: `@moq/publish` and
 * `@moq/watch`) for the browser with `deno bundle --platform browser` into `dist/<page>.js`
 * (gitignored), offline from Deno's npm cache. Run directly (`deno run -A tests/browser/build.ts
 * [page]`) or call {@link buildPage} from a test.
 *
 * @module
 */

import { denoBundle } from "../../testing/mod.ts";

/** The test pages, by name (`<name>.ts` beside this file). */
export type PageName = "page" | "net_page" | "media_page";

/** The bundle written by {@link buildPage} for `page`. */
export function bundlePath(page: PageName = "page"): string {
  return new URL(`./dist/${page}.js`, import.meta.url).pathname;
}

/** The bundle of the default page. */
export const BUNDLE_PATH = bundlePath();

const ROOT_PATH = new URL("../../", import.meta.url).pathname;

/** The HTML the test server serves at `/`. */
export const PAGE_HTML = `<!doctype html>
<html>
  <head>
    <meta charset="utf-8">
    <title>moq-relay browser test</title>
    <script type="module" src="/page.js"></script>
  </head>
  <body>moq-relay browser test</body>
</html>
`;

/** Bundle `<page>.ts` into `dist/<page>.js` and return the bundle's text. */
export async function buildPage(page: PageName = "page"): Promise<string> {
  await Deno.mkdir(new URL("./dist/", import.meta.url), { recursive: true });
  const entry = new URL(`./${page}.ts`, import.meta.url).pathname;
  const output = bundlePath(page);
  await denoBundle({
    entry,
    output,
    platform: "browser",
    cwd: ROOT_PATH,
    hint: "are its npm packages in Deno's npm cache?",
  });
  return await Deno.readTextFile(output);
}

if (import.meta.main) {
  const page = (Deno.args[0] ?? "page") as PageName;
  const text = await buildPage(page);
  console.log(`wrote ${bundlePath(page)} (${text.length} bytes)`);
}
