/**
 * A raw moq-lite-04 peer for attack tests: the relay's own WebSocket transport dialed as a client
 * (`webtransport.moq-lite-04`, no flow control), with every moq-lite byte written by the test
 * through the session codec. It does exactly what a test tells it, including what a well-behaved
 * client never would (STOP_SENDING a group, thousands of interest streams, forged hop ids).
 *
 * @module
 */

import { silentLogger } from "../log/mod.ts";
import {
  BidiType,
  decodeAnnounce,
  decodeGroupHeader,
  decodeSubscribe,
  encodeAnnounce,
  encodeAnnounceInterest,
  encodeStreamType,
  encodeSubscribe,
  encodeSubscribeOk,
  type Subscribe,
  Version,
} from "../session/mod.ts";
import {
  type BidiStream,
  dialWebSocket,
  type RecvStream,
  type SendStream,
  StreamReader,
  type TransportSession,
} from "../transport/mod.ts";
import { Writer } from "../codec/mod.ts";
import { eventually } from "./timing.ts";

const V = Version.Lite04;

/** A SUBSCRIBE the relay sent to this peer (as a publisher). */
export interface UpstreamRequest {
  msg: Subscribe;
  stream: BidiStream;
}

/** A group stream the relay opened toward this peer (as a subscriber). */
export interface IncomingGroup {
  subscribeId: bigint;
  sequence: number;
  stream: RecvStream;
  reader: StreamReader;
}

/** Encode one frame (`vi size` + payload). */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  return new Writer(payload.length + 8).varint(payload.length).bytes(payload).finish();
}

/**
 * Open a lite-04 Subscribe stream on `transport` for `broadcast`/`track` with subscription `id`
 * (priority 0, unordered, no latency bound), without waiting for any answer.
 */
export async function openSubscribe04(
  transport: TransportSession,
  id: bigint,
  broadcast: string,
  track: string,
): Promise<BidiStream> {
  const stream = await transport.openBidi();
  await stream.send.write(encodeStreamType(BidiType.Subscribe));
  await stream.send.write(
    encodeSubscribe(V, { id, broadcast, track, priority: 0, ordered: false, maxLatencyMs: 0 }),
  );
  return stream;
}

/** One raw lite-04 session. */
export class RawMoqPeer {
  readonly transport: TransportSession;
  /** Broadcast suffixes (relative to the session root) this peer announces, with their hop ids. */
  readonly #announced = new Map<string, number[]>();
  readonly #interestStreams: BidiStream[] = [];
  /** SUBSCRIBEs the relay sent us. */
  readonly requests: UpstreamRequest[] = [];
  /** Group streams the relay opened to us. */
  readonly groups: IncomingGroup[] = [];
  /** Answer every SUBSCRIBE with SUBSCRIBE_OK (else the test answers). */
  autoAccept = true;

  private constructor(transport: TransportSession) {
    this.transport = transport;
    this.#acceptLoops();
  }

  /** A lite-04 peer over an already negotiated transport session (e.g. qmux over TCP). */
  static over(transport: TransportSession): RawMoqPeer {
    return new RawMoqPeer(transport);
  }

  /** Dial `http://127.0.0.1:<port>/<path>` as lite-04. */
  static async connect(port: number, path = "anon"): Promise<RawMoqPeer> {
    const transport = await dialWebSocket(new URL(`http://127.0.0.1:${port}/${path}`), {
      logger: silentLogger(),
      protocols: ["webtransport.moq-lite-04"],
    });
    return new RawMoqPeer(transport);
  }

  #acceptLoops(): void {
    (async () => {
      for (;;) {
        const s = await this.transport.acceptBidi();
        if (!s) return;
        this.#bidi(s).catch(() => {});
      }
    })();
    (async () => {
      for (;;) {
        const s = await this.transport.acceptUni();
        if (!s) return;
        (async () => {
          const reader = new StreamReader(s);
          await reader.u8();
          const header = decodeGroupHeader(await reader.message(1024));
          this.groups.push({ ...header, stream: s, reader });
        })().catch(() => {});
      }
    })();
  }

  async #bidi(s: BidiStream): Promise<void> {
    const reader = new StreamReader(s.recv);
    const type = await reader.varint();
    if (type === BidiType.Announce) {
      await reader.message(4096); // interest: we announce everything we have
      this.#interestStreams.push(s);
      for (const [suffix, hops] of this.#announced) {
        await s.send.write(encodeAnnounce(V, { active: true, suffix, hops: hops.map(BigInt) }));
      }
      return;
    }
    if (type === BidiType.Subscribe) {
      const msg = decodeSubscribe(V, await reader.message(4096));
      this.requests.push({ msg, stream: s });
      if (this.autoAccept) await this.accept(s);
      return;
    }
    s.send.reset(0);
  }

  /** Answer a SUBSCRIBE with SUBSCRIBE_OK. */
  async accept(s: BidiStream): Promise<void> {
    await s.send.write(encodeSubscribeOk(V, { priority: 0, ordered: false, maxLatencyMs: 0 }));
  }

  /** Announce `suffix` (now, and to every later interest) with the given hop ids. */
  async announce(suffix: string, hops: number[] = []): Promise<void> {
    this.#announced.set(suffix, hops);
    for (const s of this.#interestStreams) {
      await s.send.write(encodeAnnounce(V, { active: true, suffix, hops: hops.map(BigInt) }));
    }
  }

  /** End the announcement of `suffix`. */
  async unannounce(suffix: string): Promise<void> {
    this.#announced.delete(suffix);
    for (const s of this.#interestStreams) {
      await s.send.write(encodeAnnounce(V, { active: false, suffix, hops: [] }));
    }
  }

  /** Wait for the n-th (1-based) SUBSCRIBE from the relay. */
  async request(n = 1, timeoutMs = 10_000): Promise<UpstreamRequest> {
    await eventually(`SUBSCRIBE ${n} at the raw peer`, () => this.requests.length >= n, timeoutMs);
    return this.requests[n - 1];
  }

  /** Open a GROUP stream for the relay's subscription `subscribeId` (header written). */
  async openGroup(subscribeId: bigint, sequence: number): Promise<SendStream> {
    const s = await this.transport.openUni();
    const body = new Writer(16).varint62(subscribeId).varint(sequence).finish();
    await s.write(new Writer(24).u8(0).varint(body.length).bytes(body).finish());
    return s;
  }

  /** Open a Subscribe stream; resolves once SUBSCRIBE_OK arrived (rejects on a reset). */
  async subscribe(
    id: bigint,
    broadcast: string,
    track: string,
  ): Promise<{ stream: BidiStream; reader: StreamReader }> {
    const stream = await this.subscribeNoWait(id, broadcast, track);
    const reader = new StreamReader(stream.recv);
    await reader.varint(); // response type 0 = SUBSCRIBE_OK
    await reader.message(1024);
    return { stream, reader };
  }

  /** Open a Subscribe stream without waiting for any answer. */
  subscribeNoWait(id: bigint, broadcast: string, track: string): Promise<BidiStream> {
    return openSubscribe04(this.transport, id, broadcast, track);
  }

  /** Open an Announce (interest) stream for `prefix`; returns it and a live list of `±suffix`. */
  async interest(prefix = "", excludeHop = 0): Promise<{ stream: BidiStream; events: string[] }> {
    const stream = await this.transport.openBidi();
    await stream.send.write(encodeStreamType(BidiType.Announce));
    await stream.send.write(encodeAnnounceInterest(V, { prefix, excludeHop: BigInt(excludeHop) }));
    const events: string[] = [];
    const reader = new StreamReader(stream.recv);
    (async () => {
      while (!(await reader.done())) {
        const a = decodeAnnounce(V, await reader.message(4096));
        events.push(`${a.active ? "+" : "-"}${a.suffix}`);
      }
    })().catch(() => {});
    return { stream, events };
  }

  /** Close the session. */
  close(): void {
    this.transport.close(0, "test done");
  }
}
