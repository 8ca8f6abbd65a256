/**
 * Builds the browser test page: bundles `page.ts` (the real `@moq/lite` 0.2.2 plus the test API)
 * for the browser with `deno bundle --platform browser` into `dist/page.js` (gitignored), offline
 * from Deno's npm cache. Run directly (`deno run -A tests/browser/build.ts`) or call
 * {@link buildPage} from a test.
 *
 * @module
 */

/** The bundle written by {@link buildPage}. */
export const BUNDLE_PATH = new URL("./dist/page.js", import.meta.url).pathname;
const ENTRY_PATH = new URL("./page.ts", import.meta.url).pathname;
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

/** Raised when `deno bundle` fails; the message carries its output. */
export class PageBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PageBuildError";
  }
}

/** Bundle `page.ts` into `dist/page.js` and return the bundle's text. */
export async function buildPage(): Promise<string> {
  await Deno.mkdir(new URL("./dist/", import.meta.url), { recursive: true });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "browser", "--output", BUNDLE_PATH, ENTRY_PATH],
    cwd: ROOT_PATH,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new PageBuildError(
      `deno bundle of ${ENTRY_PATH} failed (exit ${out.code}); is @moq/lite in Deno's npm cache?\n${text}`,
    );
  }
  return await Deno.readTextFile(BUNDLE_PATH);
}

if (import.meta.main) {
  const text = await buildPage();
  console.log(`wrote ${BUNDLE_PATH} (${text.length} bytes)`);
}
