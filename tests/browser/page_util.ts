/**
 * Helpers shared by the browser test pages (`page.ts`, `net_page.ts`): handle lookup and the record
 * of the WebTransports a client opened. (Base64 and the timeout wrapper come from testing/bytes.ts
 * and testing/timing.ts, bundled into the pages.)
 *
 * @module
 */

import { eventually, within } from "../../testing/timing.ts";

/** The value of `handle` in `map`; throws naming `what` when absent. */
export function get<T>(map: Map<number, T>, handle: number, what: string): T {
  const value = map.get(handle);
  if (value === undefined) throw new Error(`page: no ${what} with handle ${handle}`);
  return value;
}

/** The `n`-th (1-based) track request a publisher received, waiting up to `timeoutMs` for it. */
export async function nthRequest<T>(requests: readonly T[], n: number, timeoutMs: number): Promise<T> {
  await eventually(`page: track request ${n} at the publisher`, () => requests.length >= n, timeoutMs);
  return requests[n - 1];
}

/** The URL and `wt.protocol` of one WebTransport the page opened. */
export interface OpenedWebTransport {
  url: string;
  protocol: string;
}

/**
 * Record every WebTransport the page creates from now on (the global is wrapped), so a test can
 * see which transport and protocol a client used.
 */
export class WebTransportLog {
  readonly #created: { url: string; wt: WebTransport }[] = [];

  constructor() {
    const Native = globalThis.WebTransport;
    if (!Native) return;
    const created = this.#created;
    globalThis.WebTransport = class extends Native {
      constructor(url: string | URL, options?: WebTransportOptions) {
        super(url, options);
        created.push({ url: String(url), wt: this });
      }
    };
  }

  /**
   * Run `connect` (a client connect with WebSocket disabled) within `timeoutMs`; returns its
   * connection and the WebTransports it opened.
   */
  async connect<C>(
    url: string,
    timeoutMs: number,
    connect: (url: URL) => Promise<C>,
  ): Promise<{ connection: C; webtransports: OpenedWebTransport[] }> {
    const before = this.#created.length;
    const connection = await within(timeoutMs, `connect to ${url} over WebTransport`, connect(new URL(url)));
    const webtransports = this.#created.slice(before).map((c) => ({
      url: c.url,
      protocol: String((c.wt as WebTransport & { protocol?: string }).protocol ?? ""),
    }));
    return { connection, webtransports };
  }
}
