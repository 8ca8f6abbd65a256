/**
 * `[cluster] connect_api` (docs/relay.md §6.3): the peer list as a JSON array of peer URLs, from
 *
 * - an `http://` / `https://` URL, fetched with `?node=<cluster.node>` appended and polled every
 *   {@link CONNECT_API_POLL_MS} like an HTTP cache would: a response still fresh by its
 *   `Cache-Control: max-age` is not fetched again (a shorter max-age polls sooner, never faster than
 *   {@link CONNECT_API_MIN_POLL_MS}), and `ETag` / `Last-Modified` make later polls conditional
 *   (304 = unchanged);
 * - or a local file (any other value, `file://` allowed), re-read when it changes.
 *
 * An unreachable source, a bad status, or a list that is not an array of peer URL strings keeps
 * the last good list (one warning per failure streak). The owner compares lists and redials what
 * changed.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { redactSecrets } from "../log/mod.ts";
import { sleep } from "../util/mod.ts";
import { parsePeerUrl } from "./_peer_url.ts";

/** Default poll interval of an HTTP peer list. */
export const CONNECT_API_POLL_MS = 30_000;
/** Shortest poll interval a `max-age` can ask for. */
export const CONNECT_API_MIN_POLL_MS = 1_000;
/** Bound on one fetch of the peer list. */
export const CONNECT_API_TIMEOUT_MS = 10_000;
/** Largest peer list body accepted. */
export const CONNECT_API_MAX_BYTES = 1024 * 1024;
/** Most peers one list may name. */
export const CONNECT_API_MAX_PEERS = 1_024;
/** Changes to a watched file within this window are read once. */
const FILE_DEBOUNCE_MS = 50;
/** A watched file is also re-read this often (a watch can miss a replaced directory). */
const FILE_RECHECK_MS = 5_000;

/** Raised for a peer list that cannot be used (the last good list stays). */
export class PeerListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerListError";
  }
}

/** Parse a peer list body: a JSON array of peer URL strings (each must parse). */
export function parsePeerList(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PeerListError('not JSON: expected an array of peer URLs like ["https://relay2.example.com/"]');
  }
  if (!Array.isArray(value)) throw new PeerListError("not a JSON array of peer URLs");
  if (value.length > CONNECT_API_MAX_PEERS) {
    throw new PeerListError(`${value.length} peers: at most ${CONNECT_API_MAX_PEERS} are accepted`);
  }
  const out: string[] = [];
  for (const entry of value) {
    if (typeof entry !== "string") throw new PeerListError("an entry is not a string");
    parsePeerUrl(entry); // throws PeerUrlError naming the (redacted) URL
    out.push(entry.trim());
  }
  return out;
}

/** Options of {@link watchPeerList}. */
export interface PeerListOptions {
  /** The `connect_api` value. */
  source: string;
  /** This relay's node URL, appended as `?node=` to HTTP requests. */
  node?: string;
  logger: Logger;
  signal: AbortSignal;
  /** Receives each good list that differs from the previous one. */
  onList(peers: string[]): void;
}

/** Whether `source` is fetched over HTTP (else it names a file). */
function isHttp(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** `max-age` of a response in ms, if any. */
function maxAgeMs(res: Response): number | undefined {
  const cc = res.headers.get("cache-control") ?? "";
  if (/\b(no-store|no-cache)\b/i.test(cc)) return 0;
  const m = /\bmax-age\s*=\s*(\d+)/i.exec(cc);
  return m ? Number(m[1]) * 1000 : undefined;
}

/** Read a body up to {@link CONNECT_API_MAX_BYTES}. */
async function boundedText(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > CONNECT_API_MAX_BYTES) {
      await reader.cancel();
      throw new PeerListError(`response larger than ${CONNECT_API_MAX_BYTES} bytes`);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(body);
}

/** Poll or watch the peer list until `signal` aborts. */
export function watchPeerList(options: PeerListOptions): Promise<void> {
  return isHttp(options.source) ? pollHttp(options) : watchFile(options);
}

/** Deliver `peers` when they differ from the last delivered list. */
function deliverer(options: PeerListOptions): (peers: string[]) => void {
  let last: string | undefined;
  return (peers) => {
    const key = JSON.stringify(peers);
    if (key === last) return;
    last = key;
    options.onList(peers);
  };
}

async function pollHttp(options: PeerListOptions): Promise<void> {
  const { signal } = options;
  const log = options.logger.child("cluster", { connect_api: redactSecrets(options.source) });
  const url = new URL(options.source);
  if (options.node) url.searchParams.set("node", options.node);
  const deliver = deliverer(options);
  let etag: string | null = null;
  let lastModified: string | null = null;
  let failing = false;
  /** The poll cadence: 30 s, or what the last response's max-age asked for (kept through errors). */
  let waitMs = CONNECT_API_POLL_MS;
  while (!signal.aborted) {
    try {
      const headers = new Headers({ accept: "application/json" });
      if (etag) headers.set("if-none-match", etag);
      if (lastModified) headers.set("if-modified-since", lastModified);
      const res = await fetch(url, {
        headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(CONNECT_API_TIMEOUT_MS)]),
      });
      const age = maxAgeMs(res);
      if (age !== undefined) waitMs = Math.max(CONNECT_API_MIN_POLL_MS, Math.min(age, CONNECT_API_POLL_MS));
      if (res.status === 304) {
        await res.body?.cancel();
      } else if (!res.ok) {
        await res.body?.cancel();
        throw new PeerListError(`HTTP ${res.status}`);
      } else {
        const peers = parsePeerList(await boundedText(res));
        etag = res.headers.get("etag");
        lastModified = res.headers.get("last-modified");
        deliver(peers);
      }
      if (failing) log.info("peer list source works again");
      failing = false;
    } catch (err) {
      if (signal.aborted) break;
      if (!failing) {
        log.warn("cluster.connect_api: cannot use the peer list; keeping the last good one", {
          error: redactSecrets(err instanceof Error ? err.message : String(err)),
          retry_ms: waitMs,
        });
      }
      failing = true;
    }
    await sleep(waitMs, signal);
  }
}

async function watchFile(options: PeerListOptions): Promise<void> {
  const { signal } = options;
  const path = options.source.startsWith("file://") ? new URL(options.source).pathname : options.source;
  const log = options.logger.child("cluster", { connect_api: path });
  const deliver = deliverer(options);
  let failing = false;
  const read = async () => {
    try {
      deliver(parsePeerList(await Deno.readTextFile(path)));
      if (failing) log.info("peer list file usable again");
      failing = false;
    } catch (err) {
      if (!failing) {
        log.warn("cluster.connect_api: cannot use the peer list file; keeping the last good list", {
          error: redactSecrets(err instanceof Error ? err.message : String(err)),
        });
      }
      failing = true;
    }
  };
  await read();
  // Watch the directory: editors and deploy tools replace the file by renaming over it.
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const name = path.slice(path.lastIndexOf("/") + 1);
  let watcher: Deno.FsWatcher | undefined;
  try {
    watcher = Deno.watchFs(dir, { recursive: false });
  } catch (err) {
    log.warn("cannot watch the peer list file; re-reading it periodically", {
      error: String(err),
      every_ms: FILE_RECHECK_MS,
    });
  }
  signal.addEventListener("abort", () => watcher?.close(), { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const recheck = setInterval(() => void read(), FILE_RECHECK_MS);
  signal.addEventListener("abort", () => {
    clearInterval(recheck);
    clearTimeout(timer);
  }, { once: true });
  if (!watcher) return;
  try {
    for await (const event of watcher) {
      if (!event.paths.some((p) => p.endsWith(`/${name}`) || p === name)) continue;
      clearTimeout(timer);
      timer = setTimeout(() => void read(), FILE_DEBOUNCE_MS);
    }
  } catch {
    // closed on abort
  }
}
