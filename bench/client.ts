/**
 * A lean moq-lite 04 / 05 client for the benchmarks, over the project's own transports (`dialQuic`,
 * `dialWebSocket`) and codec (`session/messages.ts`): a {@link BenchPublisher} that answers the
 * relay's ANNOUNCE_INTEREST and SUBSCRIBE and writes GROUP streams, and a {@link BenchSubscriber}
 * that subscribes and counts what arrives. It does as little as possible per byte so that the
 * client side is not what limits a benchmark.
 *
 * Both also speak to the raw fan-out baselines (`mode: "raw"`): there the publisher just opens
 * GROUP streams (subscribe id 0) and subscribers just accept them; the bytes are identical.
 *
 * {@link Target.lite} picks the wire version (default 04). With 05 (draft-lcurley-moq-lite-05) each
 * session starts with a SETUP stream (relay mode), the publisher answers ANNOUNCE_REQUEST, TRACK and
 * SUBSCRIBE (acceptance implicit), and every FRAME carries a zigzag timestamp delta (ms) before its
 * size. Publisher and subscriber read the version from the negotiated protocol.
 *
 * @module
 */

import { silentLogger } from "../log/mod.ts";
import {
  BidiType,
  BidiType05,
  decodeAnnounceInterest,
  decodeAnnounceRequest,
  decodeSubscribe,
  decodeSubscribe05,
  decodeSubscribeFields,
  decodeTrack,
  encodeAnnounce,
  encodeAnnounceBroadcast,
  encodeAnnounceOk,
  encodeGroupHeader,
  encodeSetupStream,
  encodeStreamType,
  encodeStreamType05,
  encodeSubscribe,
  encodeSubscribe05,
  encodeSubscribeOk,
  encodeTrackInfo,
  FrameTimestampEncoder,
  LITE05_ALPN,
  MAX_MESSAGE_BYTES,
  ProbeLevel,
  Role,
  Version,
} from "../session/mod.ts";
import {
  type BidiStream,
  dialQmuxStream,
  dialQuic,
  dialWebSocket,
  type NegotiatedProtocol,
  type RecvStream,
  type SendStream,
  StreamReader,
  type TransportSession,
} from "../transport/mod.ts";
import { concatBytes, Writer } from "../codec/mod.ts";
import { encodeStampedFrame, FRAMES_PER_GROUP, nowMs } from "./media.ts";
import { GroupScanner } from "./scan.ts";

/** Which transport a benchmark client uses. */
export type TransportName = "quic" | "websocket" | "tcp";

/** The moq-lite wire version a benchmark client speaks (`--lite=04|05`). */
export type LiteVersion = "04" | "05";

/** `relay`: full moq-lite handshakes. `raw`: the baseline servers (GROUP streams only). */
export type ServerMode = "relay" | "raw";

/** Where to connect. */
export interface Target {
  transport: TransportName;
  port: number;
  /** Hex SHA-256 of the server certificate (QUIC). */
  pin?: string;
  mode: ServerMode;
  /**
   * QUIC only: send from this loopback address. The relay admits at most 512 connections per
   * address, so the 1 000-subscriber case spreads its workers over `127.0.0.x`.
   */
  localHostname?: string;
  /** Wire version (default 04). */
  lite?: LiteVersion;
}

const VERSION = Version.Lite04;
/** Timescale the lite-05 publisher declares in TRACK_INFO: its frame timestamps are in ms. */
const TIMESCALE_MS = 1000;

/**
 * Connect one session to `target`: `moq-lite-<lite>` over raw QUIC, `webtransport.moq-lite-<lite>`
 * over WebSocket, or `moq-lite-<lite>` over qmux-01 records on TCP (negotiated in-band). A lite-05 session to the relay sends its SETUP first (role both).
 */
export async function connect(target: Target): Promise<TransportSession> {
  const logger = silentLogger();
  const alpn = `moq-lite-${target.lite ?? "04"}`;
  const session = target.transport === "tcp"
    ? await dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: target.port }), {
      kind: "tcp",
      protocols: [alpn as NegotiatedProtocol],
      peer: `127.0.0.1:${target.port}`,
      logger,
      timeoutMs: 20_000,
    })
    : target.transport === "quic"
    ? await dialQuic(new URL(`https://127.0.0.1:${target.port}/`), {
      logger,
      alpns: [alpn],
      certificateSha256: target.pin ? [target.pin] : undefined,
      timeoutMs: 20_000,
      localHostname: target.localHostname,
    })
    : await dialWebSocket(new URL(`http://127.0.0.1:${target.port}/`), {
      logger,
      protocols: [`webtransport.${alpn}`],
      timeoutMs: 20_000,
    });
  if (session.protocol === LITE05_ALPN && target.mode === "relay") {
    const setup = await session.openUni();
    await setup.write(encodeSetupStream({ probe: ProbeLevel.None, role: Role.Both }));
    await setup.close();
  }
  return session;
}

/** Whether `session` speaks moq-lite-05. */
function isLite05(session: TransportSession): boolean {
  return session.protocol === LITE05_ALPN;
}

/** Split a broadcast path into the announce prefix the relay asks for and our suffix. */
function suffixUnder(prefix: string, path: string): string | null {
  if (prefix === "") return path;
  if (path === prefix) return "";
  if (path.startsWith(prefix + "/")) return path.slice(prefix.length + 1);
  return null;
}

/**
 * The publishing side. In `relay` mode it answers ANNOUNCE_INTEREST with its broadcast and accepts
 * SUBSCRIBE for any track (the relay deduplicates: one upstream subscription). In `raw` mode it is
 * always "subscribed" with id 0.
 */
export class BenchPublisher {
  readonly session: TransportSession;
  readonly #mode: ServerMode;
  readonly #path: string;
  /** The active upstream subscription id, or null. */
  subscribeId: bigint | null = null;
  /** Subscriptions received so far (relay mode). */
  subscriptions = 0;
  readonly #announced = Promise.withResolvers<void>();
  #subscribedWaiters: Array<() => void> = [];
  readonly #control: BidiStream[] = [];
  readonly #lite05: boolean;
  /** lite-05: each open GROUP stream's timestamp clock. */
  readonly #clocks = new WeakMap<SendStream, FrameTimestampEncoder>();

  constructor(session: TransportSession, mode: ServerMode, path: string) {
    this.session = session;
    this.#lite05 = isLite05(session);
    this.#mode = mode;
    this.#path = path;
    if (mode === "raw") {
      this.subscribeId = 0n;
      this.#announced.resolve();
    } else {
      this.#acceptLoop().catch(() => {});
    }
  }

  /** Resolves once the relay learned about the broadcast. */
  get announced(): Promise<void> {
    return this.#announced.promise;
  }

  /** Resolves once an upstream subscription is active. */
  subscribed(): Promise<void> {
    if (this.subscribeId !== null) return Promise.resolve();
    return new Promise((resolve) => this.#subscribedWaiters.push(resolve));
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      const stream = await this.session.acceptBidi();
      if (!stream) return;
      this.#control.push(stream);
      this.#serve(stream).catch(() => {});
    }
  }

  async #serve(stream: BidiStream): Promise<void> {
    const reader = new StreamReader(stream.recv);
    const type = await reader.varint();
    if (this.#lite05) return await this.#serve05(stream, reader, type);
    if (type === BidiType.Announce) {
      const interest = decodeAnnounceInterest(VERSION, await reader.message(MAX_MESSAGE_BYTES));
      const suffix = suffixUnder(interest.prefix, this.#path);
      if (suffix !== null) {
        await stream.send.write(encodeAnnounce(VERSION, { active: true, suffix, hops: [] }));
        this.#announced.resolve();
      }
      // Keep the stream open: the broadcast stays announced until the session ends.
      while (!(await reader.done())) await reader.exact(1);
      return;
    }
    if (type === BidiType.Subscribe) {
      const msg = decodeSubscribe(VERSION, await reader.message(MAX_MESSAGE_BYTES));
      await stream.send.write(
        encodeSubscribeOk(VERSION, { priority: msg.priority, ordered: true, maxLatencyMs: 0 }),
      );
      this.subscribeId = msg.id;
      this.subscriptions++;
      for (const w of this.#subscribedWaiters.splice(0)) w();
      try {
        while (!(await reader.done())) await reader.message(MAX_MESSAGE_BYTES); // SUBSCRIBE_UPDATE
      } finally {
        if (this.subscribeId === msg.id) this.subscribeId = null;
        await stream.send.close();
      }
      return;
    }
    stream.send.reset(0);
    stream.recv.stop(0);
  }

  /** lite-05 requests: ANNOUNCE_REQUEST, TRACK (TRACK_INFO, ms timescale), SUBSCRIBE (implicitly accepted). */
  async #serve05(stream: BidiStream, reader: StreamReader, type: number): Promise<void> {
    if (type === BidiType05.Announce) {
      const interest = decodeAnnounceRequest(await reader.message(MAX_MESSAGE_BYTES));
      await stream.send.write(encodeAnnounceOk({ hop: 0n, activeCount: 1 }));
      const suffix = suffixUnder(interest.prefix, this.#path);
      if (suffix !== null) {
        await stream.send.write(encodeAnnounceBroadcast({ active: true, suffix, hops: [] }));
        this.#announced.resolve();
      }
      while (!(await reader.done())) await reader.exact(1);
      return;
    }
    if (type === BidiType05.Track) {
      decodeTrack(await reader.message(MAX_MESSAGE_BYTES));
      await stream.send.write(
        encodeTrackInfo({ priority: 0, ordered: false, maxLatencyMs: 0, timescale: TIMESCALE_MS }),
      );
      await stream.send.close();
      return;
    }
    if (type === BidiType05.Subscribe) {
      const msg = decodeSubscribe05(await reader.message(MAX_MESSAGE_BYTES));
      this.subscribeId = msg.id;
      this.subscriptions++;
      for (const w of this.#subscribedWaiters.splice(0)) w();
      try {
        while (!(await reader.done())) await reader.message(MAX_MESSAGE_BYTES); // SUBSCRIBE_UPDATE
      } finally {
        if (this.subscribeId === msg.id) this.subscribeId = null;
        await stream.send.close();
      }
      return;
    }
    stream.send.reset(0);
    stream.recv.stop(0);
  }

  /** Open the GROUP stream for `sequence`, or null when nobody is subscribed. */
  async openGroup(sequence: number): Promise<SendStream | null> {
    const id = this.subscribeId;
    if (id === null) return null;
    const send = await this.session.openUni();
    // The lite-05 GROUP header is lite-04's.
    await send.write(encodeGroupHeader({ subscribeId: id, sequence }));
    if (this.#lite05) this.#clocks.set(send, new FrameTimestampEncoder());
    return send;
  }

  /** Write one stamped frame of `payloadBytes` (lite-05: after its timestamp delta, in ms). */
  writeFrame(send: SendStream, payloadBytes: number): Promise<void> {
    const now = nowMs();
    const frame = encodeStampedFrame(payloadBytes, now);
    const clock = this.#clocks.get(send);
    if (clock === undefined) return send.write(frame);
    const delta = new Writer(8).varint62(clock.next(BigInt(Math.floor(now)))).finish();
    return send.write(concatBytes([delta, frame]));
  }

  /** Close the session. */
  close(): void {
    this.session.close(0, "bench over");
  }
}

/** Options of {@link BenchSubscriber}. */
export interface SubscriberOptions {
  mode: ServerMode;
  /** Broadcast path (relay mode). */
  path: string;
  /** Track name (relay mode). */
  track: string;
  /** Subscribe id to use. */
  id?: bigint;
  /** Read at most this many bytes per second (a slow reader); 0 = as fast as possible. */
  readBytesPerSecond?: number;
}

/** A subscriber that counts delivered bytes, frames, groups and (optionally) frame latencies. */
export class BenchSubscriber {
  readonly session: TransportSession;
  readonly #options: SubscriberOptions;
  /** Bytes received on GROUP streams (headers and frame prefixes included). */
  bytes = 0;
  /** Complete frames received. */
  frames = 0;
  /** GROUP streams that ended (FIN or reset). */
  groupsEnded = 0;
  /** GROUP streams that ended cleanly after a whole frame. */
  groupsComplete = 0;
  /**
   * GROUP streams that ended with all {@link FRAMES_PER_GROUP} frames (Deno QUIC turns a reset into
   * a FIN, so a group cut short at a frame boundary still ends "cleanly": count its frames).
   */
  groupsWhole = 0;
  /** Highest sequence of a GROUP stream that ended (-1 before any). */
  lastEndedSequence = -1;
  /** Malformed streams seen. */
  errors = 0;
  /** When set, every complete frame's latency (ms) is appended. */
  latencies: number[] | null = null;
  /** Called whenever a group stream ended. */
  onGroupEnd: ((sequence: number) => void) | null = null;
  #subscribe: BidiStream | null = null;
  #firstFrame: Array<() => void> = [];
  #throttleUntilMs = 0;
  readonly #lite05: boolean;

  constructor(session: TransportSession, options: SubscriberOptions) {
    this.session = session;
    this.#options = options;
    this.#lite05 = isLite05(session);
    this.#uniLoop().catch(() => {});
    if (options.mode === "relay") this.#bidiLoop().catch(() => {});
  }

  /**
   * Subscribe (relay mode; raw mode needs nothing). Resolves once SUBSCRIBE_OK arrived (lite-05:
   * once SUBSCRIBE was sent; acceptance is implicit).
   */
  async subscribe(): Promise<void> {
    if (this.#options.mode === "raw") return;
    const stream = await this.session.openBidi();
    this.#subscribe = stream;
    if (this.#lite05) {
      await stream.send.write(encodeStreamType05(BidiType05.Subscribe));
      await stream.send.write(encodeSubscribe05({
        id: this.#options.id ?? 0n,
        broadcast: this.#options.path,
        track: this.#options.track,
        priority: 0,
        ordered: false,
        maxLatencyMs: 0,
      }));
      // SUBSCRIBE_START / DROP / END: drained without blocking.
      (async () => {
        while ((await stream.recv.read()) !== null) { /* ignore */ }
      })().catch(() => {});
      return;
    }
    await stream.send.write(encodeStreamType(BidiType.Subscribe));
    await stream.send.write(encodeSubscribe(VERSION, {
      id: this.#options.id ?? 0n,
      broadcast: this.#options.path,
      track: this.#options.track,
      priority: 0,
      ordered: false,
      maxLatencyMs: 0,
    }));
    const reader = new StreamReader(stream.recv);
    const type = await reader.varint();
    if (type !== 0) throw new Error(`first subscribe response has type ${type}, expected SUBSCRIBE_OK`);
    decodeSubscribeFields(await reader.message(MAX_MESSAGE_BYTES), "SUBSCRIBE_OK");
    // Watch the stream end (track end / refusal) without blocking.
    (async () => {
      while (!(await reader.done())) await reader.exact(1);
    })().catch(() => {});
  }

  /** Resolves at the next complete frame. */
  nextFrame(): Promise<void> {
    return new Promise((resolve) => this.#firstFrame.push(resolve));
  }

  /** Close the session. */
  close(): void {
    this.session.close(0, "bench over");
  }

  /** The relay opens an Announce stream to sessions that may publish: hold it open silently. */
  async #bidiLoop(): Promise<void> {
    for (;;) {
      const stream = await this.session.acceptBidi();
      if (!stream) return;
      (async () => {
        while ((await stream.recv.read()) !== null) { /* ignore */ }
      })().catch(() => {});
    }
  }

  async #uniLoop(): Promise<void> {
    for (;;) {
      const stream = await this.session.acceptUni();
      if (!stream) return;
      this.#group(stream).catch(() => {});
    }
  }

  async #group(stream: RecvStream): Promise<void> {
    const scanner = new GroupScanner(this.#lite05);
    let frames = 0;
    const onFrame = (_size: number, stamp: number) => {
      this.frames++;
      frames++;
      if (this.latencies && !Number.isNaN(stamp)) this.latencies.push(nowMs() - stamp);
      if (this.#firstFrame.length > 0) { for (const w of this.#firstFrame.splice(0)) w(); }
    };
    const rate = this.#options.readBytesPerSecond ?? 0;
    let clean = false;
    try {
      for (;;) {
        const chunk = await stream.read();
        if (chunk === null) {
          clean = scanner.atBoundary;
          break;
        }
        this.bytes += chunk.length;
        scanner.push(chunk, onFrame);
        if (rate > 0) await this.#throttle(chunk.length, rate);
      }
    } catch (error) {
      if (error instanceof Error && error.name === "GroupScanError") {
        this.errors++;
        stream.stop(0);
      }
    } finally {
      // lite-05: the relay's SETUP stream is not a group.
      if (!scanner.setup) {
        this.groupsEnded++;
        if (clean) this.groupsComplete++;
        if (clean && frames === FRAMES_PER_GROUP) this.groupsWhole++;
        if (scanner.sequence > this.lastEndedSequence) this.lastEndedSequence = scanner.sequence;
        this.onGroupEnd?.(scanner.sequence);
      }
    }
  }

  /** Sleep so that reads across all group streams stay under `rate` bytes/s. */
  async #throttle(bytes: number, rate: number): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.#throttleUntilMs);
    this.#throttleUntilMs = start + (bytes / rate) * 1000;
    const wait = this.#throttleUntilMs - now;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
}
