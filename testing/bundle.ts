/**
 * One way to run `deno bundle` for tests and build scripts (browser pages, the bundled
 * `@kixelated/moq`, the consoles): a child process with a clean environment whose failure raises
 * a {@link BundleError} carrying its output.
 *
 * @module
 */

/** Raised when `deno bundle` fails; the message carries its output and what to check. */
export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BundleError";
  }
}

/** What {@link denoBundle} bundles, and how. */
export interface BundleOptions {
  /** The entry module (a path). */
  entry: string;
  /** Where the bundle is written (a path). */
  output: string;
  /** `--platform`. */
  platform: "browser" | "deno";
  /** Working directory (the repository root, so `deno.json` applies). */
  cwd: string;
  /** More flags before `--platform` (e.g. `--minify`, `--lock=…`). */
  flags?: readonly string[];
  /** What to check when it fails, appended to the error message. */
  hint: string;
}

/** Bundle `entry` into `output`; throws {@link BundleError} when `deno bundle` fails. */
export async function denoBundle(options: BundleOptions): Promise<void> {
  const { entry, output, platform, cwd, flags = [], hint } = options;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", ...flags, "--platform", platform, "--output", output, entry],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new BundleError(`deno bundle of ${entry} failed (exit ${out.code}); ${hint}\n${text}`);
  }
}
