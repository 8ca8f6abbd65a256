/**
 * The public console (served at `/` on the web listener): lists the live broadcasts the caller may
 * see, updated from the relay's announcements over a MoQ session, plays one with `<moq-watch>`
 * and publishes the camera and microphone with `<moq-publish>`. Bundled for the browser by
 * scripts/build_console.ts into http/_console_assets.ts.
 *
 * The page connects to the relay that served it (`location.origin`): over `http://` the client
 * fetches `/certificate.sha256` and pins it for WebTransport (dev mode), and falls back to
 * WebSocket on the same port. A token is taken from `?jwt=` in the page URL or pasted into the form.
 *
 * @module
 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />

import { Net } from "./deps.ts";

/** What `/console/grant` answers: absolute prefixes the credential may publish and subscribe under. */
interface Grant {
  publish: string[];
  subscribe: string[];
  anonymous: boolean;
}

/** One listed broadcast. */
interface Entry {
  row: HTMLLIElement;
  tracks: HTMLSpanElement;
  stop: AbortController;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`console page is missing #${id}`);
  return el as T;
};

const params = new URLSearchParams(location.search);
const token = params.get("jwt") ?? "";
const watchParam = params.get("watch");

/** The relay URL for a MoQ session (root `/`, token in the query). */
function relayUrl(): URL {
  const url = new URL("/", location.origin);
  if (token) url.searchParams.set("jwt", token);
  return url;
}

/** Show a problem in the page (and the console, as a warning: an expected condition, not a bug). */
function problem(where: string, message: string): void {
  const box = $("problems");
  const line = document.createElement("div");
  line.className = "problem";
  line.textContent = `${where}: ${message}`;
  box.append(line);
  box.hidden = false;
  console.warn(`console: ${where}: ${message}`);
}

/** Turn a connection failure into advice. */
function explainConnectError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (/hash|certificate|CERT/i.test(text)) {
    return `the relay's certificate does not match /certificate.sha256 (${text}); restart the relay or reload`;
  }
  if (/401|403|unauthori[sz]ed/i.test(text)) {
    return `the relay refused this credential (${text}); check the token or use the anonymous prefix`;
  }
  return `cannot reach the relay at ${location.origin} (${text}); is it running, and is UDP or WebSocket open?`;
}

async function fetchGrant(): Promise<Grant | undefined> {
  const url = new URL("/console/grant", location.origin);
  if (token) url.searchParams.set("jwt", token);
  try {
    const res = await fetch(url);
    if (!res.ok) {
      problem("access", (await res.text()).trim() || `HTTP ${res.status}`);
      return undefined;
    }
    return await res.json() as Grant;
  } catch (error) {
    problem("access", explainConnectError(error));
    return undefined;
  }
}

function describeAccess(grant: Grant): string {
  const list = (p: string[]) =>
    p.length === 0 ? "nothing" : p.map((x) => x === "" ? "everything" : `${x}/`).join(", ");
  return `${grant.anonymous ? "Anonymous" : "Token"} access: watch ${list(grant.subscribe)}; publish ${
    list(grant.publish)
  }.`;
}

/** A random broadcast name below the first publishable prefix. */
function defaultPublishPath(grant: Grant): string | undefined {
  const prefix = grant.publish[0];
  if (prefix === undefined) return undefined;
  const id = crypto.getRandomValues(new Uint8Array(4));
  const name = [...id].map((b) => b.toString(16).padStart(2, "0")).join("");
  // `.hang` names the catalog format, so players need not guess it.
  return prefix === "" ? `${name}.hang` : `${prefix}/${name}.hang`;
}

/** A link to this page that plays `path`. */
function watchLink(path: string): string {
  const url = new URL("/", location.origin);
  if (token) url.searchParams.set("jwt", token);
  url.searchParams.set("watch", path);
  return url.toString();
}

// ---------------------------------------------------------------------------------------------
// Watch

function watch(path: string): void {
  const host = $("player");
  host.replaceChildren();
  const el = document.createElement("moq-watch");
  el.setAttribute("url", relayUrl().toString());
  el.setAttribute("name", path);
  el.setAttribute("muted", "");
  el.setAttribute("visible", "always");
  const canvas = document.createElement("canvas");
  canvas.id = "watch-canvas";
  canvas.width = 640;
  canvas.height = 360;
  el.append(canvas);
  host.append(el);
  $("watching").textContent = path;
  $("watch").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Broadcast list, from announcements

/** Rows the list shows at most; further broadcasts are only counted. */
const MAX_LISTED_BROADCASTS = 200;

/** The listed broadcasts. */
interface List {
  entries: Map<string, Entry>;
  /** Live broadcasts beyond {@link MAX_LISTED_BROADCASTS}. */
  hidden: Set<string>;
}

function renderEmpty({ entries, hidden }: List): void {
  const empty = $("empty");
  empty.hidden = entries.size > 0 && hidden.size === 0;
  empty.textContent = hidden.size > 0
    ? `…and ${hidden.size} more not shown.`
    : "Nothing is live that you may watch. Publish your camera to see it here.";
}

/** How often to re-read a catalog that ended before it named any track. */
const CATALOG_RETRY_MS = 1_000;
/** After this long without a catalog, say so (it may still come). */
const CATALOG_WAIT_MS = 5_000;
/** Re-reads of an empty catalog before giving up. */
const CATALOG_RETRIES = 30;

type Catalog = Record<string, { renditions?: Record<string, { codec?: string }> } | undefined>;

/** Track names (with kind and codec) a hang catalog lists. */
function catalogTracks(catalog: Catalog): string[] {
  const names: string[] = [];
  for (const kind of ["video", "audio"]) {
    for (const [name, r] of Object.entries(catalog[kind]?.renditions ?? {})) {
      names.push(`${name} (${kind}${r.codec ? ` ${r.codec}` : ""})`);
    }
  }
  return names;
}

/**
 * Read the hang catalog (`catalog.json`) of a broadcast and show its tracks, following updates
 * (a publisher rewrites it as its camera and microphone start).
 */
async function showTracks(connection: Net.Connection.Established, path: string, entry: Entry): Promise<void> {
  const waiting = setTimeout(() => {
    entry.tracks.textContent = "no hang catalog yet (catalog.json): tracks unknown";
  }, CATALOG_WAIT_MS);
  entry.stop.signal.addEventListener("abort", () => clearTimeout(waiting), { once: true });
  for (let attempt = 0; attempt < CATALOG_RETRIES && !entry.stop.signal.aborted; attempt++) {
    const sub = connection.consume(Net.Path.from(path)).subscribe("catalog.json");
    const stop = () => sub.close();
    entry.stop.signal.addEventListener("abort", stop, { once: true });
    try {
      for (;;) {
        const catalog = await sub.readJson() as Catalog | undefined;
        if (!catalog) break;
        const names = catalogTracks(catalog);
        if (names.length > 0) {
          clearTimeout(waiting);
          entry.tracks.textContent = ["catalog.json", ...names].join(", ");
        }
      }
    } catch {
      clearTimeout(waiting);
      if (entry.stop.signal.aborted) return;
      entry.tracks.textContent = "no catalog.json (not a hang broadcast)";
      return;
    } finally {
      entry.stop.signal.removeEventListener("abort", stop);
      sub.close();
    }
    await new Promise((r) => setTimeout(r, CATALOG_RETRY_MS));
  }
}

function added(list: List, connection: Net.Connection.Established, path: string): void {
  const { entries, hidden } = list;
  if (entries.has(path)) return;
  if (entries.size >= MAX_LISTED_BROADCASTS) {
    hidden.add(path);
    renderEmpty(list);
    return;
  }
  const row = document.createElement("li");
  row.className = "broadcast";
  row.dataset.path = path;
  const name = document.createElement("code");
  name.textContent = path;
  const button = document.createElement("button");
  button.textContent = "Watch";
  button.addEventListener("click", () => watch(path));
  const link = document.createElement("a");
  link.href = watchLink(path);
  link.target = "_blank";
  link.textContent = "open in new tab";
  const tracks = document.createElement("span");
  tracks.className = "tracks";
  tracks.textContent = "reading catalog…";
  row.append(name, " ", button, " ", link, document.createElement("br"), tracks);
  const entry = { row, tracks, stop: new AbortController() };
  entries.set(path, entry);
  const ul = $("broadcasts");
  const after = [...ul.children].find((c) => (c as HTMLElement).dataset.path! > path);
  ul.insertBefore(row, after ?? null);
  renderEmpty(list);
  void showTracks(connection, path, entry);
}

function removed(list: List, path: string): void {
  if (list.hidden.delete(path)) renderEmpty(list);
  const entry = list.entries.get(path);
  if (!entry) return;
  entry.stop.abort();
  entry.row.remove();
  list.entries.delete(path);
  renderEmpty(list);
}

async function listen(): Promise<void> {
  const status = $("status");
  let connection: Net.Connection.Established;
  try {
    connection = await Net.Connection.connect(relayUrl());
  } catch (error) {
    status.textContent = "not connected";
    problem("relay", explainConnectError(error));
    return;
  }
  status.textContent = `connected (${connection.version})`;
  const list: List = { entries: new Map(), hidden: new Set() };
  const announced = connection.announced();
  const closed = connection.closed.then(() => undefined, () => undefined);
  try {
    for (;;) {
      const event = await Promise.race([announced.next(), closed]);
      if (!event) break;
      if (event.active) added(list, connection, event.path);
      else removed(list, event.path);
    }
  } catch (error) {
    console.warn("console: announcements failed", error);
  }
  for (const path of [...list.entries.keys()]) removed(list, path);
  list.hidden.clear();
  renderEmpty(list);
  status.textContent = "disconnected";
  problem("relay", "lost the connection to the relay (stopped or unreachable); reload the page to reconnect");
}

// ---------------------------------------------------------------------------------------------
// Publish

async function checkMedia(): Promise<string | undefined> {
  if (!navigator.mediaDevices?.getUserMedia) {
    return "this page cannot use the camera: open it over https:// or http://localhost";
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    for (const t of stream.getTracks()) t.stop();
    return undefined;
  } catch (error) {
    const name = error instanceof DOMException ? error.name : "";
    if (name === "NotAllowedError") {
      return "camera or microphone permission was denied: allow it and try again";
    }
    if (name === "NotFoundError") return "no camera or microphone found";
    return `cannot open the camera: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function setupPublish(grant: Grant): void {
  const path = defaultPublishPath(grant);
  const input = $<HTMLInputElement>("publish-path");
  const button = $<HTMLButtonElement>("publish-start");
  if (path === undefined) {
    input.disabled = true;
    button.disabled = true;
    $("publish-note").textContent = "This credential may not publish.";
    return;
  }
  input.value = path;
  button.addEventListener("click", async () => {
    const target = input.value.trim().replace(/^\/+|\/+$/g, "");
    if (!grant.publish.some((p) => p === "" || target === p || target.startsWith(`${p}/`))) {
      problem(
        "publish",
        `this credential may not publish at "${target}"; use a path under ${grant.publish.join(", ")}`,
      );
      return;
    }
    const media = await checkMedia();
    if (media) {
      problem("publish", media);
      return;
    }
    button.disabled = true;
    input.disabled = true;
    const host = $("publisher");
    host.replaceChildren();
    const el = document.createElement("moq-publish");
    el.setAttribute("url", relayUrl().toString());
    el.setAttribute("name", target);
    el.setAttribute("source", "camera");
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    el.append(video);
    host.append(el);
    const link = $<HTMLAnchorElement>("publish-link");
    link.href = watchLink(target);
    link.textContent = "watch it in another tab";
    link.hidden = false;
    $("publish-note").textContent = `Publishing ${target}.`;
  });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (typeof WebTransport !== "function") {
    problem("browser", "no WebTransport here: falling back to WebSocket");
  }
  const tokenInput = $<HTMLInputElement>("token");
  tokenInput.value = token;
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = new URL("/", location.origin);
    if (tokenInput.value.trim()) url.searchParams.set("jwt", tokenInput.value.trim());
    location.href = url.toString();
  });
  const grant = await fetchGrant();
  if (!grant) return;
  $("access").textContent = describeAccess(grant);
  setupPublish(grant);
  if (watchParam) watch(watchParam);
  await listen();
}

main().catch((error) => problem("console", error instanceof Error ? error.message : String(error)));
