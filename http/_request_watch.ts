/**
 * Watches the client → server bytes of one HTTP/1.1 connection for slow or idle clients: every
 * request's header block must complete within a deadline from its first byte, and a kept-alive
 * connection with no traffic either way for an idle timeout is closed. Once a request carries a
 * body or asks for an upgrade (WebSocket), the connection is opaque and no longer watched (the
 * per-address cap still bounds it). For HTTPS the bytes are encrypted: only the first request is
 * watched, its deadline ending when the server reports the request ({@link RequestWatcher.requestArrived}).
 *
 * @module
 */

const CR = 13;
const LF = 10;

/** What the watcher decided after a chunk. */
export type WatchVerdict = "ok" | "too-large";

/** Limits of {@link RequestWatcher}. */
export interface RequestWatchLimits {
  /** From a request's first byte to the end of its header block. */
  headersDeadlineMs: number;
  /** No traffic either way between requests for this long closes the connection. */
  idleMs: number;
  /** Largest header block. */
  maxHeaderBytes: number;
}

/** Per-connection watcher; `onExpire` closes the connection. */
export class RequestWatcher {
  readonly #limits: RequestWatchLimits;
  readonly #onExpire: (why: "headers" | "idle") => void;
  #mode: "headers" | "between" | "opaque" = "headers";
  /** `\r\n\r\n` progress. */
  #matched = 0;
  #headerBytes = 0;
  /** The header block so far (only the names and values we look at are needed; bounded). */
  #header = "";
  #lastActivity = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #decoder = new TextDecoder();

  constructor(limits: RequestWatchLimits, onExpire: (why: "headers" | "idle") => void) {
    this.#limits = limits;
    this.#onExpire = onExpire;
    this.#arm("headers", limits.headersDeadlineMs);
  }

  /** True once the connection is no longer watched. */
  get opaque(): boolean {
    return this.#mode === "opaque";
  }

  /** Server → client traffic (keeps an idle connection alive while a response streams). */
  serverActivity(): void {
    this.#lastActivity = Date.now();
  }

  /** Client → server bytes. */
  clientBytes(chunk: Uint8Array): WatchVerdict {
    this.#lastActivity = Date.now();
    let start = 0;
    for (let i = 0; i < chunk.length && this.#mode !== "opaque"; i++) {
      if (this.#mode === "between") {
        // The next request starts: its header block has the deadline again.
        this.#mode = "headers";
        this.#matched = 0;
        this.#headerBytes = 0;
        this.#header = "";
        start = i;
        this.#arm("headers", this.#limits.headersDeadlineMs);
      }
      const b = chunk[i];
      if (b === [CR, LF, CR, LF][this.#matched]) this.#matched++;
      else this.#matched = b === CR ? 1 : 0;
      this.#headerBytes++;
      if (this.#headerBytes > this.#limits.maxHeaderBytes) return "too-large";
      if (this.#matched === 4) {
        this.#header += this.#decoder.decode(chunk.subarray(start, i + 1)).toLowerCase();
        this.#endOfHeaders();
      }
    }
    if (this.#mode === "headers") this.#header += this.#decoder.decode(chunk.subarray(start)).toLowerCase();
    return "ok";
  }

  /**
   * The HTTP server received a complete request on this connection (its handler ran). For
   * encrypted connections, whose bytes cannot be parsed, this ends the header deadline and the
   * connection is no longer watched.
   */
  requestArrived(): void {
    if (this.#mode === "headers") this.stop();
  }

  /** Stop every timer (the connection ended). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#mode = "opaque";
  }

  #endOfHeaders(): void {
    const header = this.#header;
    this.#header = "";
    const body = /\r\ntransfer-encoding:/.test(header) ||
      /\r\ncontent-length:\s*0*[1-9]/.test(header);
    if (body || /\r\nupgrade:/.test(header)) {
      this.stop();
      return;
    }
    this.#mode = "between";
    this.#arm("idle", this.#limits.idleMs);
  }

  #arm(kind: "headers" | "idle", ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (kind === "headers" && this.#mode === "headers") return this.#onExpire("headers");
      if (kind === "idle" && this.#mode === "between") {
        const quiet = Date.now() - this.#lastActivity;
        if (quiet >= this.#limits.idleMs) return this.#onExpire("idle");
        this.#arm("idle", this.#limits.idleMs - quiet);
      }
    }, ms);
  }
}
