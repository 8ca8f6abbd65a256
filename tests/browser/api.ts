/**
 * The API the browser test page exposes as `globalThis.moqTest` (see `page.ts`). Everything that
 * crosses `page.evaluate` is plain JSON: byte payloads travel as base64.
 *
 * @module
 */

/** What `connect` learned about the connection. */
export interface ConnectInfo {
  /** Handle for later calls. */
  id: number;
  /** `Established.version` as `@moq/lite` reports it (e.g. `moq-lite-04`). */
  version: string;
  /** WebTransport sessions the page created during this connect (URL and `wt.protocol`). */
  webtransports: { url: string; protocol: string }[];
}

/** One group read in the page. */
export interface PageGroup {
  sequence: number;
  /** Frame payloads, base64. */
  frames: string[];
  /** Frame timestamps in `scale` units per second (`@moq/net` pages only). */
  timestamps?: number[];
  /** The timescale each timestamp is expressed in (`@moq/net` pages only). */
  scales?: number[];
}

/** One datagram read in the page. */
export interface PageDatagram {
  sequence: number;
  /** Payload, base64. */
  payload: string;
  /** Timestamp in the track's timescale. */
  timestamp: number;
}

/** A track's publisher properties, as `@moq/net`'s `Track.Info` (lite-05 TRACK_INFO). */
export interface PageTrackInfo {
  /** Units per second of the track's frame timestamps. */
  timescale: number;
  /** Publisher Max Latency in milliseconds. */
  latencyMax: number;
  /** Publisher priority. */
  priority: number;
  /** Whether groups are delivered in sequence order. */
  ordered: boolean;
}

/** `globalThis.moqTest` in the test page. */
export interface MoqTestApi {
  /**
   * `Moq.Connection.connect(url)` with WebSocket disabled, so only WebTransport can succeed; rejects
   * after `timeoutMs` (a refused WebTransport never settles in 0.2.2).
   */
  connect(url: string, timeoutMs: number): Promise<ConnectInfo>;
  /** Publish a broadcast on a connection (tracks accepted with `info` if given); returns a publisher handle. */
  publish(connection: number, path: string, info?: PageTrackInfo): number;
  /** Wait for the n-th (1-based) track request of a publisher; returns a track handle and its name. */
  request(publisher: number, n: number, timeoutMs: number): Promise<{ track: number; name: string }>;
  /** Write one group of frames (base64), stamped `timestamps` (track timescale) if given; returns its sequence. */
  writeGroup(track: number, frames: string[], timestamps?: number[]): number;
  /** Subscribe to `path`/`name`; returns a track handle. */
  subscribe(connection: number, path: string, name: string): number;
  /** Read the next group (arrival order) with all its frames; `null` when the track ended. */
  readGroup(track: number, timeoutMs: number): Promise<PageGroup | null>;
  /** Send one datagram (base64 payload, timestamp in the track timescale) on a track; returns its sequence (`@moq/net` pages). */
  writeDatagram(track: number, payload: string, timestamp: number): number;
  /** The next datagram received on a subscribed track, or `null` when the track ended (`@moq/net` pages). */
  readDatagram(track: number, timeoutMs: number): Promise<PageDatagram | null>;
  /** The subscribed track's publisher properties (`@moq/net` pages; `@moq/lite` 0.2.2 rejects). */
  trackInfo(track: number, timeoutMs: number): Promise<PageTrackInfo>;
  /** Close a connection. */
  close(connection: number): void;
}

/** What `globalThis.moqMedia.status()` reports. */
export interface MediaStatus {
  /** The element's connection version (`Established.version`), `""` before it connected. */
  version: string;
  /** Whether the element's WebSocket fallback is on (the page turns it off: WebTransport only). */
  websocket: boolean;
  /** Video frames decoded so far (`<moq-watch>` only). */
  frames: number;
  /** Video bytes received so far (`<moq-watch>` only). */
  bytes: number;
  /** The watch canvas: size and how many of 64×64 sampled pixels are not black. */
  canvas?: { width: number; height: number; lit: number };
}

/** `globalThis.moqMedia` in the media test page (`media_page.ts`). */
export interface MoqMediaApi {
  /** Add `<moq-publish source="camera">` publishing `name` to `url`. */
  publish(url: string, name: string): void;
  /** Add `<moq-watch>` rendering `name` from `url` into a canvas. */
  watch(url: string, name: string): void;
  /** The current state of the page's element. */
  status(): MediaStatus;
}
