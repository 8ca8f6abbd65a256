/**
 * The browser consoles the relay serves itself (no CDN; the code is the committed bundle in
 * `_console_assets.ts`, built by scripts/build_console.ts, so it works offline and from the
 * compiled binary):
 *
 * - the public console at `/` on the web listener, with its script and `/console/grant` (what the
 *   caller's credential may watch and publish);
 * - the operator console at `/` on the internal listener, with its script (it reads `/stats.json`).
 *
 * Scripts are served under a content-hashed name with `cache-control: immutable` (gzip-encoded
 * when accepted); pages with `no-cache`. Pages carry `referrer-policy: no-referrer`, since a token may sit in their URL.
 *
 * @module
 */

import { type Authenticator, AuthError } from "../auth/mod.ts";
import { joinPath, normalizePath } from "../relay/mod.ts";
import { authFailureReason } from "./_access.ts";
import { OPERATOR_JS, OPERATOR_JS_SHA256, PUBLIC_JS, PUBLIC_JS_SHA256 } from "./_console_assets.ts";
import { CORS_HEADERS, errorResponse } from "./responses.ts";

/** `cache-control` of the content-hashed scripts. */
export const IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable";
/** `cache-control` of the pages (always revalidated: a new relay version names new scripts). */
export const PAGE_CACHE_CONTROL = "no-cache";

/** URL path of the public console's script. */
export const PUBLIC_SCRIPT_PATH = `/console/public.${PUBLIC_JS_SHA256.slice(0, 16)}.js`;
/** URL path of the operator console's script. */
export const OPERATOR_SCRIPT_PATH = `/console/operator.${OPERATOR_JS_SHA256.slice(0, 16)}.js`;

const STYLE = `
  :root { color-scheme: dark; --bg: #0d1117; --panel: #161b22; --line: #30363d; --text: #e6edf3;
    --muted: #8b949e; --accent: #5b9df9; --ok: #4cc38a; --bad: #f47067; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.5 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { padding: 12px 20px; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px 20px; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
  section h2 { font-size: 15px; margin: 0 0 8px; }
  .muted { color: var(--muted); }
  .ok { color: var(--ok); } .bad { color: var(--bad); }
  code { font-family: ui-monospace, monospace; }
  button { background: var(--accent); color: #fff; border: 0; border-radius: 6px; padding: 4px 12px; cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  input { background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; }
  a { color: var(--accent); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); }
  video, canvas { width: 100%; max-height: 360px; background: #000; border-radius: 6px; }
  #problems { background: #3d1d1d; border: 1px solid var(--bad); margin: 12px 20px 0; padding: 8px 12px; border-radius: 8px; }
  ul#broadcasts { list-style: none; padding: 0; margin: 0; }
  li.broadcast { padding: 6px 0; border-bottom: 1px solid var(--line); }
  .tracks { color: var(--muted); font-size: 12px; }
  .big { font-size: 22px; font-weight: 600; }
  .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; }
  progress { width: 100%; }
`;

const PUBLIC_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>moq-relay console</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
<script type="module" src="${PUBLIC_SCRIPT_PATH}"></script>
</head>
<body>
<header><h1>moq-relay</h1><span class="muted">Media over QUIC relay for Deno</span>
<span id="status" class="muted">connecting…</span></header>
<div id="problems" hidden></div>
<main>
<section>
<h2>Live broadcasts</h2>
<p id="access" class="muted">Checking access…</p>
<ul id="broadcasts"></ul>
<p id="empty" class="muted">Nothing is live that you may watch. Publish your camera to see it here.</p>
<form id="token-form"><input id="token" placeholder="paste a token (jwt)" size="32" autocomplete="off">
<button type="submit">Use token</button></form>
</section>
<section id="watch" hidden>
<h2>Watching <code id="watching"></code></h2>
<div id="player"></div>
</section>
<section>
<h2>Publish your camera and microphone</h2>
<p><input id="publish-path" size="28" aria-label="broadcast path"> <button id="publish-start">Publish</button>
<a id="publish-link" target="_blank" hidden></a></p>
<p id="publish-note" class="muted">Your browser asks for permission first.</p>
<div id="publisher"></div>
</section>
<section>
<h2>Connect a client</h2>
<p class="muted">This relay speaks moq-lite over WebTransport and raw QUIC (same port, UDP) and over WebSocket
(this port, TCP). Plain HTTP: <code>/announced/&lt;prefix&gt;</code>, <code>/fetch/&lt;broadcast&gt;/&lt;track&gt;</code>,
<code>/certificate.sha256</code>, <code>/health</code>.</p>
</section>
</main>
</body>
</html>
`;

const OPERATOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>moq-relay operator console</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
<script type="module" src="${OPERATOR_SCRIPT_PATH}"></script>
</head>
<body>
<header><h1>moq-relay operator</h1><span id="state" class="muted"></span><span id="status" class="muted">loading…</span>
<span class="muted"><a href="/metrics">/metrics</a> · <a href="/stats.json">/stats.json</a> · <a href="/nodes">/nodes</a></span></header>
<main>
<section>
<h2>Traffic</h2>
<div class="grid">
<div><div class="muted">sessions open</div><div id="sessions-open" class="big">–</div></div>
<div><div class="muted">in</div><div id="bytes-in" class="big ok">–</div><div id="frames-in" class="muted"></div></div>
<div><div class="muted">out</div><div id="bytes-out" class="big" style="color:var(--accent)">–</div><div id="frames-out" class="muted"></div></div>
</div>
<canvas id="graph" width="800" height="200"></canvas>
<p class="muted"><span class="ok">■</span> in (from publishers) <span style="color:var(--accent)">■</span> out (to subscribers), per second</p>
</section>
<section><h2>Sessions by transport and version</h2><div id="sessions"></div></section>
<section><h2>Broadcasts</h2><div id="broadcasts"></div></section>
<section>
<h2>Cache</h2><p id="cache"></p><progress id="cache-bar" max="1" value="0"></progress>
<p class="muted">Groups dropped for slow subscribers: <span id="dropped">–</span>.
Evicted to stay within the budget: <span id="evicted">–</span>.</p>
</section>
<section><h2>Authentication failures</h2><div id="auth"></div></section>
<section><h2>Cluster peers</h2><div id="nodes"></div></section>
</main>
</body>
</html>
`;

/**
 * `content-security-policy` of the pages: no framing (clickjacking of the publish button; the URL
 * may carry a token), no plugins, no `<base>` rewriting. Scripts, workers and WebAssembly of the
 * bundles stay allowed; publisher-chosen names are rendered as text, never as markup.
 */
export const PAGE_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

function page(html: string, head: boolean): Response {
  return new Response(head ? null : html, {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": PAGE_CACHE_CONTROL,
      "referrer-policy": "no-referrer",
      "x-content-type-options": "nosniff",
      "content-security-policy": PAGE_CSP,
      "x-frame-options": "DENY",
    },
  });
}

/** Whether a request accepts a gzip-encoded body. */
function acceptsGzip(req: Request): boolean {
  return (req.headers.get("accept-encoding") ?? "").split(",").some((t) => {
    const [coding, ...params] = t.trim().toLowerCase().split(";");
    return coding.trim() === "gzip" && !params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p));
  });
}

async function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The consoles' pages and scripts for one listener. Scripts are sent gzip-encoded to clients that
 * accept it (compressed once, on first use, and kept: two bundles at most per listener).
 */
export class ConsoleAssets {
  readonly #gzipped = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

  async #script(req: Request, code: string, sha256: string): Promise<Response> {
    const zipped = acceptsGzip(req);
    const etag = zipped ? `"${sha256}-gzip"` : `"${sha256}"`;
    const headers: Record<string, string> = {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": IMMUTABLE_CACHE_CONTROL,
      etag,
      vary: "accept-encoding",
      "x-content-type-options": "nosniff",
    };
    if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
    if (!zipped) return new Response(req.method === "HEAD" ? null : code, { status: 200, headers });
    let body = this.#gzipped.get(sha256);
    if (!body) {
      body = gzip(code);
      this.#gzipped.set(sha256, body);
    }
    const bytes = await body;
    headers["content-encoding"] = "gzip";
    headers["content-length"] = String(bytes.length);
    return new Response(req.method === "HEAD" ? null : bytes, { status: 200, headers });
  }

  /** The public console's page or script for a GET/HEAD on the web listener, or undefined. */
  publicConsole(req: Request, path: string): Promise<Response> | undefined {
    if (path === "/") return Promise.resolve(page(PUBLIC_HTML, req.method === "HEAD"));
    if (path === PUBLIC_SCRIPT_PATH) return this.#script(req, PUBLIC_JS, PUBLIC_JS_SHA256);
    return undefined;
  }

  /** The operator console's page or script for a GET/HEAD on the internal listener, or undefined. */
  operatorConsole(req: Request, path: string): Promise<Response> | undefined {
    if (path === "/") return Promise.resolve(page(OPERATOR_HTML, req.method === "HEAD"));
    if (path === OPERATOR_SCRIPT_PATH) return this.#script(req, OPERATOR_JS, OPERATOR_JS_SHA256);
    return undefined;
  }
}

/** The body of `/console/grant`: absolute prefixes, `""` = everything. */
export interface ConsoleGrant {
  publish: string[];
  subscribe: string[];
  anonymous: boolean;
}

/**
 * `GET /console/grant[?jwt=…]`: what a session connecting at `/` with the request's credential may
 * publish and watch (absolute prefixes), so the console can pick a publish path. Never echoes the
 * token; a refused credential gets the same status and reason as a refused session.
 */
export async function serveConsoleGrant(auth: Authenticator, url: URL, head: boolean): Promise<Response> {
  const at = new URL(url);
  at.pathname = "/";
  let body: ConsoleGrant;
  try {
    const grant = await auth.authenticate(at, "http");
    const root = normalizePath(grant.root);
    const absolute = (p: string) => joinPath(root, normalizePath(p));
    body = {
      publish: grant.publish.map(absolute),
      subscribe: grant.subscribe.map(absolute),
      anonymous: grant.anonymous,
    };
  } catch (e) {
    if (e instanceof AuthError) return errorResponse(e.status, authFailureReason(e), head);
    throw e;
  }
  return new Response(head ? null : JSON.stringify(body), {
    status: 200,
    headers: { ...CORS_HEADERS, "content-type": "application/json", "cache-control": "no-store" },
  });
}
