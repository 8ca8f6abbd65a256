/**
 * The browser side of tests/browser_test.ts: bundles the real `@moq/lite` 0.2.2 for Chromium and
 * exposes a small handle-based API as `globalThis.moqTest` ({@link MoqTestApi}), driven from Deno
 * through `page.evaluate`. Built by `build.ts` into `dist/page.js`.
 *
 * @module
 */

import * as Moq from "../../testing/moq_lite.ts";
import type { ConnectInfo, MoqTestApi, PageDatagram, PageGroup, PageTrackInfo } from "./api.ts";
import { fromBase64, toBase64 } from "../../testing/bytes.ts";
import { within } from "../../testing/timing.ts";
import { get, nthRequest, WebTransportLog } from "./page_util.ts";

type Connection = Awaited<ReturnType<typeof Moq.Connection.connect>>;
type Track = InstanceType<typeof Moq.Track>;
type Broadcast = InstanceType<typeof Moq.Broadcast>;

/** Every WebTransport the page creates, so a test can see which transport and protocol were used. */
const webTransports = new WebTransportLog();

const connections = new Map<number, Connection>();
const tracks = new Map<number, Track>();
const publishers = new Map<number, { broadcast: Broadcast; requests: Track[] }>();
let nextHandle = 1;

const api: MoqTestApi = {
  async connect(url: string, timeoutMs: number): Promise<ConnectInfo> {
    const { connection, webtransports } = await webTransports.connect(
      url,
      timeoutMs,
      (u) => Moq.Connection.connect(u, { websocket: { enabled: false } }),
    );
    const id = nextHandle++;
    connections.set(id, connection);
    return { id, version: connection.version, webtransports };
  },

  publish(connection: number, path: string): number {
    const broadcast = new Moq.Broadcast();
    get(connections, connection, "connection").publish(Moq.Path.from(path), broadcast);
    const id = nextHandle++;
    const entry = { broadcast, requests: [] as Track[] };
    publishers.set(id, entry);
    (async () => {
      for (;;) {
        const request = await broadcast.requested();
        if (!request) return;
        entry.requests.push(request.track);
      }
    })();
    return id;
  },

  async request(publisher: number, n: number, timeoutMs: number): Promise<{ track: number; name: string }> {
    const entry = get(publishers, publisher, "publisher");
    const track = await nthRequest(entry.requests, n, timeoutMs);
    const id = nextHandle++;
    tracks.set(id, track);
    return { track: id, name: track.name };
  },

  writeGroup(track: number, frames: string[]): number {
    const group = get(tracks, track, "track").appendGroup();
    for (const f of frames) group.writeFrame(fromBase64(f));
    group.close();
    return group.sequence;
  },

  subscribe(connection: number, path: string, name: string): number {
    const track = get(connections, connection, "connection").consume(Moq.Path.from(path)).subscribe(name, 0);
    const id = nextHandle++;
    tracks.set(id, track);
    return id;
  },

  readGroup(track: number, timeoutMs: number): Promise<PageGroup | null> {
    const t = get(tracks, track, "track");
    return within(
      timeoutMs,
      "read a group",
      (async () => {
        const group = await t.recvGroup();
        if (!group) return null;
        const frames: string[] = [];
        for (;;) {
          const frame = await group.readFrame();
          if (!frame) break;
          frames.push(toBase64(frame));
        }
        return { sequence: group.sequence, frames };
      })(),
    );
  },

  writeDatagram(_track: number, _payload: string, _timestamp: number): number {
    throw new Error("page: @moq/lite 0.2.2 has no datagrams; use the net_page");
  },

  readDatagram(_track: number, _timeoutMs: number): Promise<PageDatagram | null> {
    return Promise.reject(new Error("page: @moq/lite 0.2.2 has no datagrams; use the net_page"));
  },

  trackInfo(_track: number, _timeoutMs: number): Promise<PageTrackInfo> {
    return Promise.reject(new Error("page: @moq/lite 0.2.2 has no TRACK_INFO; use the net_page"));
  },

  close(connection: number): void {
    get(connections, connection, "connection").close();
    connections.delete(connection);
  },
};

(globalThis as unknown as { moqTest: MoqTestApi }).moqTest = api;
