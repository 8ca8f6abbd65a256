/**
 * The `@moq/net` 0.3.4 client's own moq-lite message classes, pinned in one place, for codec
 * cross-checks. Test-only: it stays out of deno.json "imports" and deno.lock (tests/deps_test.ts).
 *
 * The package exports only its high-level API, so the lite message classes (`lite/index.js`) and
 * the byte Reader/Writer (`stream.js`) are loaded by file URL next to its resolved entry point.
 * The interfaces below type the part of that surface the tests use (the package ships `.d.ts`
 * files, but a type import cannot name a path its `exports` map hides).
 *
 * @module
 */

import * as NetApi from "./moq_net_api.ts";
import { MOQ_NET_SPECIFIER } from "./moq_net_api.ts";
import { concat } from "./bytes.ts";

/** `@moq/net`'s stream Writer: async varint/byte writers over a WritableStream. */
export interface NetWriter {
  close(): void;
  readonly closed: Promise<void>;
}

/** `@moq/net`'s stream Reader over a fixed buffer (EOF after it). */
export interface NetReader {
  done(): Promise<boolean>;
}

/** A message the client encodes with an optional version. */
interface Encodes {
  encode(w: NetWriter, version?: number): Promise<void>;
}

/** The `@moq/net` 0.3.4 `lite/` message classes the tests use. */
export interface NetLite {
  Version: { DRAFT_04: number; DRAFT_05: number };
  StreamId: Record<string, number>;
  DataType: { Group: number; Setup: number };
  Setup: {
    new (p: { probe?: number; path?: string; role?: number; origin?: bigint }): Encodes;
    decode(r: NetReader, v: number): Promise<{ probe: number; path?: string; role: number; origin?: bigint }>;
  };
  AnnounceRequest: {
    new (prefix: string, excludeHop: bigint): Encodes;
    decode(r: NetReader, v: number): Promise<{ prefix: string; excludeHop: bigint }>;
  };
  AnnounceOk: {
    new (origin: bigint, active: number): Encodes;
    decode(r: NetReader, v: number): Promise<{ origin: bigint; active: number }>;
  };
  encodeAnnounceBroadcast(
    w: NetWriter,
    msg: { status: "active" | "ended"; suffix: string; hops?: bigint[] },
    v: number,
  ): Promise<void>;
  decodeAnnounceBroadcast(
    r: NetReader,
    v: number,
  ): Promise<{ status: string; suffix: string; hops?: bigint[] }>;
  Track: {
    new (broadcast: string, track: string): Encodes;
    decode(r: NetReader, v: number): Promise<{ broadcast: string; track: string }>;
  };
  TrackInfo: {
    new (p: { priority: number; ordered: boolean; latencyMax: number; timescale: number }): Encodes;
    decode(
      r: NetReader,
      v: number,
    ): Promise<{ priority: number; ordered: boolean; latencyMax: number; timescale: number }>;
  };
  Subscribe: {
    new (p: NetSubscribe): Encodes;
    decode(r: NetReader, v: number): Promise<NetSubscribe>;
  };
  SubscribeUpdate: {
    new (p: NetSubscribeUpdate): Encodes;
    decode(r: NetReader, v: number): Promise<NetSubscribeUpdate>;
  };
  SubscribeStart: new (group: number) => Encodes;
  SubscribeEnd: new (group: number) => Encodes;
  SubscribeDrop: new (p: { start: number; end: number; error: number }) => Encodes;
  encodeSubscribeResponse(w: NetWriter, resp: Record<string, Encodes>, v: number): Promise<void>;
  decodeSubscribeResponse(r: NetReader, v: number): Promise<NetSubscribeResponse>;
  Group: {
    new (subscribe: bigint, sequence: number): Encodes;
    decode(r: NetReader): Promise<{ subscribe: bigint; sequence: number }>;
  };
  Fetch: {
    new (broadcast: string, track: string, priority: number, group: number): Encodes;
    decode(
      r: NetReader,
      v: number,
    ): Promise<{ broadcast: string; track: string; priority: number; group: number }>;
  };
  Probe: {
    new (p: { bitrate?: number; rtt?: number }): Encodes;
    decode(r: NetReader, v: number): Promise<{ bitrate?: number; rtt?: number }>;
  };
  Goaway: {
    new (uri: string): Encodes;
    decode(r: NetReader, v: number): Promise<{ uri: string }>;
  };
  Datagram: {
    new (
      subscribe: bigint,
      sequence: number,
      timestamp: number,
      payload: Uint8Array,
    ): { encode(): Uint8Array };
    decode(
      data: Uint8Array,
    ): Promise<{ subscribe: bigint; sequence: number; timestamp: number; payload: Uint8Array }>;
  };
}

/** SUBSCRIBE as `@moq/net` models it. */
export interface NetSubscribe {
  id: bigint;
  broadcast: string;
  track: string;
  priority: number;
  ordered: boolean;
  maxLatency: number;
  startGroup?: number;
  endGroup?: number;
}

/** SUBSCRIBE_UPDATE as `@moq/net` models it. */
export interface NetSubscribeUpdate {
  priority: number;
  ordered: boolean;
  maxLatency: number;
  startGroup?: number;
  endGroup?: number;
}

/** A decoded lite-05 subscribe response. */
export interface NetSubscribeResponse {
  start?: { group: number };
  end?: { group: number };
  drop?: { start: number; end: number; error: number };
}

interface NetStreamModule {
  Writer: new (stream: WritableStream<Uint8Array>) => NetWriter;
  Reader: new (stream: undefined, buffer: Uint8Array) => NetReader;
}

const ENTRY = import.meta.resolve(MOQ_NET_SPECIFIER);

/** The `@moq/net` 0.3.4 lite message classes. */
export const Lite: NetLite = (await import(new URL("./lite/index.js", ENTRY).href)) as NetLite;
const streams = (await import(new URL("./stream.js", ENTRY).href)) as NetStreamModule;

/** Run `@moq/net`'s encoder `f` and return the bytes it wrote. */
export async function netEncode(f: (w: NetWriter) => Promise<void>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new streams.Writer(
    new WritableStream<Uint8Array>({ write: (chunk) => void parts.push(chunk.slice()) }),
  );
  await f(w);
  w.close();
  await w.closed;
  return concat(parts);
}

/** Run `@moq/net`'s decoder `f` over `bytes`; rejects unless it consumed every byte. */
export async function netDecode<T>(bytes: Uint8Array, f: (r: NetReader) => Promise<T>): Promise<T> {
  const r = new streams.Reader(undefined, bytes);
  const value = await f(r);
  if (!(await r.done())) throw new Error("@moq/net left bytes unread");
  return value;
}
export { Varint } from "./moq_net_api.ts";

/**
 * The `@moq/net` 0.3.4 high-level API (connect, publish, consume) for end-to-end tests. Load it
 * through {@link loadNet} so it runs over WebSocket.
 */
export type MoqNet = typeof NetApi;

/**
 * Load `@moq/net` 0.3.4 forced onto WebSocket (Deno's client WebTransport global is removed
 * first, as the client races WebTransport against WebSocket when it exists).
 */
export function loadNet(): Promise<MoqNet> {
  // The client checks for WebTransport at connect time, so removing the global suffices.
  Reflect.deleteProperty(globalThis, "WebTransport");
  return Promise.resolve(NetApi);
}

/**
 * Record the subprotocol every WebSocket opened from now on negotiated (the `@moq/net` client
 * hides it). Covers both the plain `WebSocket` and Deno's `WebSocketStream`, which `@moq/qmux`
 * prefers when it exists. Returns the list, filled as sockets open.
 */
export function recordWebSocketProtocols(): string[] {
  const seen: string[] = [];
  const Base = globalThis.WebSocket;
  class Recording extends Base {
    constructor(url: string | URL, protocols?: string | string[] | WebSocketOptions) {
      super(url, protocols as string | string[] | undefined);
      this.addEventListener("open", () => seen.push(this.protocol), { once: true });
    }
  }
  globalThis.WebSocket = Recording;
  const g = globalThis as unknown as Record<string, unknown>;
  const StreamBase = g.WebSocketStream as
    | (new (url: string, options?: unknown) => { opened: Promise<{ protocol: string }> })
    | undefined;
  if (StreamBase) {
    g.WebSocketStream = class extends StreamBase {
      constructor(url: string, options?: unknown) {
        super(url, options);
        this.opened.then((o) => seen.push(o.protocol), () => {});
      }
    };
  }
  return seen;
}

/**
 * The whole `@moq/net` 0.3.4 client (connect, publish, consume), for end-to-end tests. Load it
 * after removing the `WebTransport` global to force its WebSocket transport under Deno.
 */
export * as Net from "./moq_net_api.ts";
