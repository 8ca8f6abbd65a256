/**
 * The `@moq/net` 0.3.4 browser test page: the same handle-based {@link MoqTestApi} as `page.ts`
 * (which drives `@moq/lite` 0.2.2), so tests/browser_test.ts can run either client. Built by
 * `build.ts` into `dist/net_page.js`.
 *
 * @module
 */

import * as Moq from "../../testing/moq_net_api.ts";
import type { ConnectInfo, MoqTestApi, PageDatagram, PageGroup, PageTrackInfo } from "./api.ts";
import { sleep } from "../../util/mod.ts";
import { fromBase64, toBase64 } from "../../testing/bytes.ts";
import { within } from "../../testing/timing.ts";
import { get, nthRequest, WebTransportLog } from "./page_util.ts";

type Connection = Awaited<ReturnType<typeof Moq.Connection.connect>>;
type TrackProducer = Moq.Track.Producer;
type Subscriber = Moq.Track.Subscriber;

/** How long an accepted track request must stay open to count as a subscription. */
const INFO_REQUEST_SETTLE_MS = 100;
/** Every WebTransport the page creates, so a test can see which transport and protocol were used. */
const webTransports = new WebTransportLog();

const connections = new Map<number, Connection>();
const producers = new Map<number, TrackProducer>();
const subscribers = new Map<number, Subscriber>();
/** Datagrams received per subscribed track handle, oldest first. */
const datagrams = new Map<number, PageDatagram[]>();
const publishers = new Map<number, { requests: TrackProducer[]; timescale: number }>();
/** The timescale each published track handle's timestamps are written in. */
const trackScales = new Map<number, number>();
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

  publish(connection: number, path: string, info?: PageTrackInfo): number {
    const broadcast = new Moq.Broadcast.Producer();
    get(connections, connection, "connection").publish(Moq.Path.from(path), broadcast);
    const id = nextHandle++;
    const entry = { requests: [] as TrackProducer[], timescale: info?.timescale ?? Moq.Time.Timescale.MILLI };
    publishers.set(id, entry);
    (async () => {
      for (;;) {
        const request = await broadcast.requested();
        if (!request) return;
        const producer = request.accept(
          info && { ...info, timescale: Moq.Time.Timescale(info.timescale) },
        );
        // On moq-lite-05 a relay asks for TRACK_INFO first; @moq/net answers it through a request
        // it closes once answered (docs/lite05.md). Only requests still open count as subscriptions.
        setTimeout(() => {
          if (producer.closed.peek() === undefined) entry.requests.push(producer);
        }, INFO_REQUEST_SETTLE_MS);
      }
    })();
    return id;
  },

  async request(publisher: number, n: number, timeoutMs: number): Promise<{ track: number; name: string }> {
    const entry = get(publishers, publisher, "publisher");
    const track = await nthRequest(entry.requests, n, timeoutMs);
    const id = nextHandle++;
    producers.set(id, track);
    trackScales.set(id, entry.timescale);
    return { track: id, name: track.name };
  },

  writeGroup(track: number, frames: string[], timestamps?: number[]): number {
    const producer = get(producers, track, "track");
    const group = producer.appendGroup();
    const scale = Moq.Time.Timescale(trackScales.get(track) ?? Moq.Time.Timescale.MILLI);
    frames.forEach((f, i) => {
      const at = timestamps?.[i];
      const timestamp = at === undefined ? Moq.Time.Timestamp.now() : new Moq.Time.Timestamp(at, scale);
      group.writeFrame({ payload: fromBase64(f), timestamp });
    });
    group.close();
    return group.sequence;
  },

  subscribe(connection: number, path: string, name: string): number {
    const broadcast = get(connections, connection, "connection").consume(Moq.Path.from(path));
    const id = nextHandle++;
    const subscriber = broadcast.subscribe(name, { priority: 0 });
    subscribers.set(id, subscriber);
    // @moq/net keeps a received datagram for only 50 ms: collect them as they arrive.
    const received: PageDatagram[] = [];
    datagrams.set(id, received);
    (async () => {
      for (;;) {
        const datagram = await subscriber.recvDatagram();
        if (!datagram) return;
        received.push({
          sequence: datagram.sequence,
          payload: toBase64(datagram.payload),
          timestamp: datagram.timestamp.value,
        });
      }
    })();
    return id;
  },

  readGroup(track: number, timeoutMs: number): Promise<PageGroup | null> {
    const t = get(subscribers, track, "track");
    return within(
      timeoutMs,
      "read a group",
      (async () => {
        const group = await t.recvGroup();
        if (!group) return null;
        const frames: string[] = [];
        const timestamps: number[] = [];
        const scales: number[] = [];
        for (;;) {
          const frame = await group.readFrame();
          if (!frame) break;
          frames.push(toBase64(frame.payload));
          timestamps.push(frame.timestamp.value);
          scales.push(frame.timestamp.scale);
        }
        return { sequence: group.sequence, frames, timestamps, scales };
      })(),
    );
  },

  writeDatagram(track: number, payload: string, timestamp: number): number {
    const scale = Moq.Time.Timescale(trackScales.get(track) ?? Moq.Time.Timescale.MILLI);
    return get(producers, track, "track").appendDatagram(
      new Moq.Time.Timestamp(timestamp, scale),
      fromBase64(payload),
    );
  },

  async readDatagram(track: number, timeoutMs: number): Promise<PageDatagram | null> {
    const received = get(datagrams, track, "track");
    const deadline = Date.now() + timeoutMs;
    while (received.length === 0) {
      if (Date.now() > deadline) throw new Error(`page: no datagram within ${timeoutMs} ms`);
      await sleep(10);
    }
    return received.shift() ?? null;
  },

  async trackInfo(track: number, timeoutMs: number): Promise<PageTrackInfo> {
    const info = await within(timeoutMs, "resolve TRACK_INFO", get(subscribers, track, "track").info());
    return {
      timescale: info.timescale,
      latencyMax: info.latencyMax,
      priority: info.priority,
      ordered: info.ordered,
    };
  },

  close(connection: number): void {
    get(connections, connection, "connection").close();
    connections.delete(connection);
  },
};

(globalThis as unknown as { moqTest: MoqTestApi }).moqTest = api;
