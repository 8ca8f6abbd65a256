/**
 * Import checker run by `deno task check`: lists every import that crosses a folder and fails on
 *
 * 1. a private import: a `_`-prefixed file imported from outside its own folder;
 * 2. a face violation: a file in another top-level folder (or another sub-folder) imported other than
 *    through that folder's `mod.ts`;
 * 3. an upward import: a folder importing one above it in {@link LAYERS} (tests may import any face);
 * 4. a forbidden edge inside a layer (see {@link FORBIDDEN}).
 *
 * Layers and faces are described in docs/architecture.md. Usage: `deno run -R scripts/check_imports.ts [--list]`.
 *
 * @module
 */

/** Top-level folders from the bottom layer up; a folder may import only itself and folders below it. */
export const LAYERS: readonly string[] = [
  "log",
  "codec",
  "util",
  "transport",
  "relay",
  "config",
  "auth",
  "session",
  "http",
  "cluster",
  "server",
  ".",
  "testing",
  "tests",
  "bench",
  "scripts",
];

/** Edges between sub-folders of one layer that are forbidden (from-prefix → to-prefix). */
export const FORBIDDEN: readonly (readonly [string, string])[] = [
  ["transport/quic/", "transport/webtransport/"],
  ["transport/quic/", "transport/websocket/"],
  ["transport/tls/", "transport/quic/"],
  ["transport/tls/", "transport/webtransport/"],
  ["transport/tls/", "transport/websocket/"],
  ["transport/websocket/", "transport/quic/"],
  ["transport/websocket/", "transport/webtransport/"],
];

/** Folders that hold entry points rather than libraries: no faces inside them, and nothing imports them. */
export const ENTRY_FOLDERS: readonly string[] = [".", "tests", "bench", "scripts"];

/**
 * Modules other folders may import directly although they are not a face: the pinned test-only npm
 * clients, which are loaded lazily or bundled for the browser and so stay out of `testing/mod.ts`,
 * and the pure helpers the browser test pages bundle and the bench workers load alone (testing/mod.ts
 * also exports those).
 */
export const STANDALONE_MODULES: readonly string[] = [
  "testing/bytes.ts",
  "testing/timing.ts",
  "testing/moq_lite.ts",
  "testing/moq_media.ts",
  "testing/moq_net.ts",
  "testing/moq_net_028.ts",
  "testing/moq_net_api.ts",
  "testing/moq_token.ts",
  "testing/playwright.ts",
  "testing/qmux006.ts",
  "testing/qmux03.ts",
  "testing/kubernetes.ts",
];

const SKIP_DIRS = new Set([".git", "node_modules", "dist", ".ci"]);

/** One relative import found in a source file. */
export interface ImportEdge {
  /** The importing file, relative to the repository root. */
  from: string;
  /** The imported file, relative to the repository root. */
  to: string;
  /** 1-based line number of the import. */
  line: number;
}

/** Lists every `.ts` file below `root`, relative, with `/` separators. */
export function listSources(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir === "." ? root : `${root}/${dir}`)) {
      const rel = dir === "." ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (!SKIP_DIRS.has(entry.name)) walk(rel);
      } else if (entry.isFile && rel.endsWith(".ts")) out.push(rel);
    }
  };
  walk(".");
  return out.sort();
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(\.{1,2}\/[^"]+)"/g;

/** Extracts the relative imports of one file. */
export function importsOf(file: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const dir = dirOf(file);
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (/^\s*(\/\/|\*)/.test(line)) return;
    for (const m of line.matchAll(IMPORT_RE)) {
      const to = new URL(m[1], `file:///r/${dir === "." ? "" : dir + "/"}`).pathname.slice(3);
      edges.push({ from: file, to, line: i + 1 });
    }
  });
  return edges;
}

/** The folder of a repository-relative path (`.` for the root). */
export function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i);
}

/** The top-level folder of a repository-relative path (`.` for root files). */
export function topOf(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? "." : path.slice(0, i);
}

const baseOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);
/** Tests, and folder-private test support (`_test_*.ts`), may import any face. */
const isTest = (path: string) => path.endsWith("_test.ts") || baseOf(path).startsWith("_test_");

/** Returns the rules an edge breaks (empty when it is allowed). */
export function violations(edge: ImportEdge): string[] {
  const { from, to } = edge;
  const fromDir = dirOf(from), toDir = dirOf(to);
  if (fromDir === toDir) return [];
  const why: string[] = [];
  if (baseOf(to).startsWith("_")) why.push(`private file of ${toDir}/`);
  const fromTop = topOf(from), toTop = topOf(to);
  if (ENTRY_FOLDERS.includes(toTop) && toTop !== "." && fromTop !== toTop && fromTop !== "tests") {
    why.push(`${toTop}/ holds entry points; move shared code to testing/`);
  } else if (ENTRY_FOLDERS.includes(toTop)) {
    // entry folders have no faces
  } else if (fromTop !== toTop) {
    if (toTop !== "." && to !== `${toTop}/mod.ts` && !STANDALONE_MODULES.includes(to)) {
      why.push(`not through the face ${toTop}/mod.ts`);
    }
  } else if (toDir !== toTop && baseOf(to) !== "mod.ts" && !fromDir.startsWith(toDir + "/")) {
    why.push(`not through the face ${toDir}/mod.ts`);
  }
  for (const [a, b] of FORBIDDEN) {
    if (from.startsWith(a) && to.startsWith(b)) why.push(`forbidden edge ${a} → ${b}`);
  }
  const fromRank = LAYERS.indexOf(fromTop), toRank = LAYERS.indexOf(toTop);
  if (fromRank < 0) why.push(`folder ${fromTop}/ is not in the layer list`);
  else if (toRank < 0) why.push(`folder ${toTop}/ is not in the layer list`);
  else if (toRank > fromRank && !isTest(from)) why.push(`upward import (${fromTop}/ is below ${toTop}/)`);
  return why;
}

if (import.meta.main) {
  const list = Deno.args.includes("--list");
  const root = Deno.cwd();
  const bad: string[] = [];
  const cross = new Map<string, number>();
  for (const file of listSources(root)) {
    for (const edge of importsOf(file, Deno.readTextFileSync(`${root}/${file}`))) {
      if (topOf(edge.from) !== topOf(edge.to)) {
        const key = `${topOf(edge.from)}/ → ${edge.to}`;
        cross.set(key, (cross.get(key) ?? 0) + 1);
      }
      const why = violations(edge);
      if (why.length > 0) bad.push(`${edge.from}:${edge.line} imports ${edge.to}: ${why.join("; ")}`);
    }
  }
  if (list) { for (const [k, n] of [...cross].sort()) console.log(`${k}  (${n})`); }
  for (const line of bad) console.error(line);
  console.log(`import check: ${cross.size} cross-folder edges, ${bad.length} violations`);
  if (bad.length > 0) Deno.exit(1);
}
