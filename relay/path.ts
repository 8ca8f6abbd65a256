/**
 * Broadcast paths: `/`-separated, normalised (no empty segments, no leading or trailing `/`),
 * with segment-aware prefix matching. `""` is the root. See docs/relay.md §0.
 *
 * @module
 */

/** The most segments a path may have. */
export const MAX_PATH_SEGMENTS = 32;

/** Raised when a path cannot be used (too many segments). */
export class PathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PathError";
  }
}

/** Collapse repeated `/` and strip leading/trailing `/`: `//a//b/` → `a/b`, `/` → `""`. */
export function normalizePath(path: string): string {
  if (path === "") return "";
  // Fast path: already normalised.
  if (path[0] !== "/" && path[path.length - 1] !== "/" && !path.includes("//")) return path;
  return path.split("/").filter((s) => s !== "").join("/");
}

/** Normalise and enforce {@link MAX_PATH_SEGMENTS}; throws {@link PathError}. */
export function checkedPath(path: string): string {
  const normal = normalizePath(path);
  if (normal !== "" && segmentCount(normal) > MAX_PATH_SEGMENTS) {
    throw new PathError(`path has more than ${MAX_PATH_SEGMENTS} segments: use a shorter broadcast path`);
  }
  return normal;
}

/** Number of segments in a normalised path (`""` has 0). */
export function segmentCount(path: string): number {
  if (path === "") return 0;
  let n = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/** Segment-aware prefix test on normalised paths: `foo` ⊑ `foo/bar`, never `foobar`; `""` ⊑ all. */
export function hasPrefix(path: string, prefix: string): boolean {
  if (prefix === "") return true;
  if (path.length === prefix.length) return path === prefix;
  return path.length > prefix.length && path.charCodeAt(prefix.length) === 47 && path.startsWith(prefix);
}

/** `path` without `prefix` (`""` when equal). Only valid when {@link hasPrefix} holds. */
export function stripPrefix(path: string, prefix: string): string {
  if (prefix === "") return path;
  if (path.length === prefix.length) return "";
  return path.slice(prefix.length + 1);
}

/** Join two normalised paths, omitting the `/` when either is empty. */
export function joinPath(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  return `${a}/${b}`;
}

/** Whether either path is a prefix of the other (their subtrees overlap). */
export function overlaps(a: string, b: string): boolean {
  return hasPrefix(a, b) || hasPrefix(b, a);
}
