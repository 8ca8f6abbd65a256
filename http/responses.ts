/**
 * Small response builders shared by the web and internal listeners: one-line text errors, CORS
 * headers (docs/relay.md §4.1), the preflight answer and the landing page.
 *
 * @module
 */

import { redactSecrets } from "../log/mod.ts";

/** Headers added to every web response. */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "link, x-moq-group",
};

/** Methods the web routes answer. */
export const ALLOWED_METHODS = "GET, HEAD, OPTIONS";

/** How long browsers may cache a preflight answer. */
export const PREFLIGHT_MAX_AGE_SECONDS = 86_400;

const TEXT = "text/plain; charset=utf-8";

/** Add the CORS headers to a response (ignored if its headers are immutable). */
export function withCors(response: Response): Response {
  try {
    for (const [name, value] of Object.entries(CORS_HEADERS)) response.headers.set(name, value);
  } catch {
    // Responses from Deno.upgradeWebSocket may have immutable headers; CORS does not apply there.
  }
  return response;
}

/** A `text/plain` response; `head` drops the body but keeps the headers. */
export function textResponse(
  status: number,
  body: string,
  head = false,
  headers: Record<string, string> = {},
): Response {
  return new Response(head ? null : body, {
    status,
    headers: { ...CORS_HEADERS, "content-type": TEXT, ...headers },
  });
}

/** An error with a one-line reason (a trailing newline is added; secrets are redacted). */
export function errorResponse(status: number, reason: string, head = false): Response {
  const line = redactSecrets(reason.replace(/[\r\n]+/g, " ").trim());
  return textResponse(status, `${line}\n`, head);
}

/** 405 for a known route asked with another method. */
export function methodNotAllowed(method: string): Response {
  return textResponse(405, `method ${method} not allowed: use GET or HEAD\n`, false, {
    allow: ALLOWED_METHODS,
  });
}

/** The answer to a CORS preflight (`OPTIONS`). */
export function preflightResponse(req: Request): Response {
  const headers: Record<string, string> = {
    ...CORS_HEADERS,
    "access-control-allow-methods": ALLOWED_METHODS,
    "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
    allow: ALLOWED_METHODS,
  };
  const asked = req.headers.get("access-control-request-headers");
  if (asked) headers["access-control-allow-headers"] = asked;
  return new Response(null, { status: 204, headers });
}

const LANDING_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>moq-relay for Deno</title></head>
<body>
<h1>moq-relay for Deno</h1>
<p>This is a Media over QUIC relay. Connect with a MoQ client (WebTransport, or WebSocket on this port).</p>
<ul>
<li><code>/certificate.sha256</code> &mdash; SHA-256 of the first served certificate (hex);
<code>/certificates.sha256</code> &mdash; all of them, one per line</li>
<li><code>/announced/&lt;prefix&gt;</code> &mdash; live broadcasts (<code>?limit=&amp;after=</code> to paginate)</li>
<li><code>/fetch/&lt;broadcast&gt;/&lt;track&gt;?group=latest|N</code> &mdash; one group's payload</li>
</ul>
</body>
</html>
`;

/** The 404 landing page for unknown paths. */
export function landingPage(head = false): Response {
  return new Response(head ? null : LANDING_HTML, {
    status: 404,
    headers: { ...CORS_HEADERS, "content-type": "text/html; charset=utf-8" },
  });
}

/** `/health`: 503 `draining` while shutting down, 503 `unhealthy: …` when a listener died, else 200 `ok`. */
export function healthResponse(
  state: { draining(): boolean; unhealthy?(): string | undefined },
  head = false,
): Response {
  if (state.draining()) return textResponse(503, "draining\n", head);
  const why = state.unhealthy?.();
  if (why !== undefined) return errorResponse(503, `unhealthy: ${why}`, head);
  return textResponse(200, "ok\n", head);
}
