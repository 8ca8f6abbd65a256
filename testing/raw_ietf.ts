/**
 * A raw IETF moq-transport peer (drafts 17+) for end-to-end tests: the relay's own WebSocket
 * transport dialed as a client (`qmux-01.moqt-NN`), every message written by the test through the
 * session codec. It does what a test tells it, one request per bidi stream, and records the SETUP,
 * requests and data streams the relay sends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { Ietf } from "../session/mod.ts";
import { concat } from "./bytes.ts";
import { dialRelay } from "./dial.ts";
import { eventually, sleep, within } from "./timing.ts";

type ControlMessage = Ietf.ControlMessage;
type DataObject = Ietf.DataObject;
type Draft = Ietf.Draft;
type SubgroupHeader = Ietf.SubgroupHeader;
import {
  type BidiStream,
  dialWebSocket,
  type IetfProtocol,
  type SendStream,
  StreamReader,
  type TransportSession,
} from "../transport/mod.ts";

/** The SETUP stream type (draft-17+). */
const SETUP_TYPE = 0x2f00;

/** The codec types tests name when they talk to a {@link RawIetfPeer}. */
export type { ControlMessage, Draft };

/** One request stream: send messages, read the relay's. */
export class RawRequest {
  readonly stream: BidiStream;
  readonly #draft: Draft;
  #buf = new Uint8Array(0);
  #ended = false;

  constructor(stream: BidiStream, draft: Draft) {
    this.stream = stream;
    this.#draft = draft;
  }

  /** Send a message on this request. */
  async send(msg: ControlMessage): Promise<void> {
    await this.stream.send.write(Ietf.encodeControl(msg, this.#draft));
  }

  /** The next message from the relay, or null at FIN. Rejects when the stream was reset. */
  async next(): Promise<ControlMessage | null> {
    for (;;) {
      const m = this.#take();
      if (m) return m;
      if (this.#ended) return null;
      const chunk = await this.stream.recv.read();
      if (chunk === null) this.#ended = true;
      else {
        const joined = new Uint8Array(this.#buf.length + chunk.length);
        joined.set(this.#buf);
        joined.set(chunk, this.#buf.length);
        this.#buf = joined;
      }
    }
  }

  #take(): ControlMessage | null {
    const r = readFrameFrom(this.#buf, this.#draft);
    if (!r) return null;
    this.#buf = this.#buf.subarray(r.size);
    return r.msg;
  }

  /** End our side (FIN). */
  async finish(): Promise<void> {
    await this.stream.send.close();
  }
}

/** Split one control frame from `buf` (type, 16-bit length, body) or null when incomplete. */
function readFrameFrom(buf: Uint8Array, draft: Draft): { msg: ControlMessage; size: number } | null {
  if (buf.length === 0) return null;
  const first = buf[0];
  let ones = 0;
  while (ones < 8 && (first & (0x80 >> ones)) !== 0) ones++;
  const typeSize = ones + 1;
  if (buf.length < typeSize + 2) return null;
  let type = typeSize >= 8 ? 0 : first & (0xff >> typeSize);
  for (let i = 1; i < typeSize; i++) type = type * 256 + buf[i];
  const len = (buf[typeSize] << 8) | buf[typeSize + 1];
  const start = typeSize + 2;
  if (buf.length < start + len) return null;
  return { msg: Ietf.decodeControl(type, buf.subarray(start, start + len), draft), size: start + len };
}

/** A data stream the relay opened to this peer, read to its end. */
export interface RawDataStream {
  header: SubgroupHeader;
  objects: DataObject[];
  /** True when the stream ended with FIN (false: reset). */
  finished: boolean;
}

/** A request multiplexed on the drafts 14–16 control stream (routed by request id). */
export class ControlRequest {
  readonly id: number;
  readonly #peer: RawIetfPeer;
  readonly #first: ControlMessage | null;
  readonly #queue: ControlMessage[] = [];
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(peer: RawIetfPeer, id: number, first: ControlMessage | null) {
    this.#peer = peer;
    this.id = id;
    this.#first = first;
  }

  /** Queue a message the relay sent on this request. */
  push(msg: ControlMessage | null): void {
    if (msg === null) this.#ended = true;
    else this.#queue.push(msg);
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Send a message on the control stream. */
  send(msg: ControlMessage): Promise<void> {
    return this.#peer.writeControl(msg);
  }

  /** The next message for this request, or null once it ended. */
  async next(): Promise<ControlMessage | null> {
    for (;;) {
      const m = this.#queue.shift();
      if (m) return m;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** End the request as its draft says (PUBLISH_NAMESPACE_DONE, UNSUBSCRIBE, FETCH_CANCEL, …). */
  async finish(): Promise<void> {
    const d = this.#peer.draft;
    const f = this.#first;
    if (f?.kind === "publishNamespace") {
      await this.send(
        d === 16
          ? { kind: "publishNamespaceDone", requestId: this.id }
          : { kind: "publishNamespaceDone", namespace: f.namespace },
      );
    } else if (f?.kind === "subscribe") await this.send({ kind: "unsubscribe", requestId: this.id });
    else if (f?.kind === "fetch") await this.send({ kind: "fetchCancel", requestId: this.id });
    else if (f?.kind === "subscribeNamespace" && d <= 15) {
      await this.send({ kind: "unsubscribeNamespace", requestId: this.id });
    }
    this.push(null);
  }
}

/** A raw moq-transport client. */
export class RawIetfPeer {
  readonly transport: TransportSession;
  readonly draft: Draft;
  /** The relay's SETUP options, once received. */
  setup: ControlMessage | null = null;
  /** Requests the relay opened toward us (SUBSCRIBE when we publish), with their first message. */
  readonly incoming: { first: ControlMessage; req: RawRequest | ControlRequest }[] = [];
  /** Messages the relay sent after SETUP that belong to no request (GOAWAY, MAX_REQUEST_ID). */
  readonly sessionMessages: ControlMessage[] = [];
  /** Drafts 14–16: the control stream. */
  #control: BidiStream | null = null;
  #controlTail: Promise<void> = Promise.resolve();
  readonly #requests = new Map<number, ControlRequest>();
  #nextRequestId = 0;
  /** Setup options this peer sends besides MAX_REQUEST_ID (e.g. PATH). */
  setupOptions: Ietf.Param[] = [];
  /** Drafts 14–16: the MAX_REQUEST_ID this peer grants the relay in CLIENT_SETUP. */
  maxRequestId = 100;
  /** Data streams the relay sent, once complete. */
  readonly data: RawDataStream[] = [];
  /** OBJECT_DATAGRAMs the relay sent (transports that carry datagrams), decoded. */
  readonly datagrams: Ietf.Datagram[] = [];
  /** FETCH streams the relay sent, once complete. */
  readonly fetches: { requestId: number; objects: Ietf.FetchObject[]; finished: boolean }[] = [];
  #setupStream: SendStream | null = null;

  private constructor(transport: TransportSession, draft: Draft) {
    this.transport = transport;
    this.draft = draft;
  }

  /** Dial `http://127.0.0.1:<port>/<path>` with `qmux-01.<draft's ALPN>` and exchange SETUP. */
  static async connect(port: number, draft: Draft, path = "anon", maxRequestId = 100): Promise<RawIetfPeer> {
    return await RawIetfPeer.over(await RawIetfPeer.dialWebSocket(port, draft, path), draft, maxRequestId);
  }

  /** The WebSocket transport {@link connect} uses (`qmux-01.<draft's ALPN>`), before any SETUP. */
  static async dialWebSocket(port: number, draft: Draft, path = "anon"): Promise<TransportSession> {
    const alpn = Ietf.draftAlpn(draft);
    return await dialWebSocket(new URL(`http://127.0.0.1:${port}/${path}`), {
      logger: silentLogger(),
      protocols: [`qmux-01.${alpn}`],
      alpns: [alpn as IetfProtocol],
    });
  }

  /**
   * Dial `relay` over raw QUIC (ALPN) or WebTransport (`wt-protocol`) offering only `draft`, check
   * the transport and protocol, and exchange SETUP with `setupOptions`.
   */
  static async dial(
    relay: { port: number; httpUrl: string },
    draft: Draft,
    over: "quic" | "webtransport",
    setupOptions: Ietf.Param[] = [],
  ): Promise<RawIetfPeer> {
    const transport = await dialIetf(relay, draft, over);
    return await RawIetfPeer.over(transport, draft, 100, setupOptions);
  }

  /** Speak `draft` over an already dialed transport (raw QUIC, WebTransport): exchange SETUP. */
  static async over(
    transport: TransportSession,
    draft: Draft,
    maxRequestId = 100,
    setupOptions: Ietf.Param[] = [],
  ): Promise<RawIetfPeer> {
    const peer = new RawIetfPeer(transport, draft);
    peer.maxRequestId = maxRequestId;
    peer.setupOptions = setupOptions;
    await peer.#handshake();
    peer.#acceptLoops();
    return peer;
  }

  async #handshake(): Promise<void> {
    if (this.draft <= 16) {
      await this.#controlHandshake();
      return;
    }
    const s = await this.transport.openUni();
    this.#setupStream = s;
    await s.write(Ietf.encodeControl({ kind: "setup", options: this.setupOptions }, this.draft));
    const uni = await this.transport.acceptUni();
    if (!uni) throw new Error("the relay sent no SETUP stream");
    const reader = new StreamReader(uni);
    const b0 = await reader.u8();
    const b1 = await reader.u8();
    if (((b0 & 0x3f) << 8 | b1) !== SETUP_TYPE) throw new Error("the relay's first uni stream is not SETUP");
    const len = (await reader.u8() << 8) | await reader.u8();
    this.setup = Ietf.decodeControl(SETUP_TYPE, await reader.exact(len), this.draft);
    (async () => {
      for (;;) {
        if (await reader.done()) return;
        const type = await reader.u8(); // GOAWAY (0x10) is one byte
        const n = (await reader.u8() << 8) | await reader.u8();
        this.sessionMessages.push(Ietf.decodeControl(type, await reader.exact(n), this.draft));
      }
    })().catch(() => {});
  }

  /** Drafts 14–16: CLIENT_SETUP / SERVER_SETUP on a bidi control stream, then route its messages. */
  async #controlHandshake(): Promise<void> {
    const s = await this.transport.openBidi();
    this.#control = s;
    await this.writeControl({
      kind: "clientSetup",
      versions: this.draft === 14 ? [Ietf.draftVersion(14)] : [],
      options: Ietf.sortParams([
        { type: Ietf.SetupOption.MaxRequestId, value: this.maxRequestId },
        ...this.setupOptions,
      ]),
    });
    let buf = new Uint8Array(0);
    const frames = async function* (draft: Draft) {
      for (;;) {
        for (;;) {
          const f = Ietf.readControlFrame(buf, draft);
          if (!f) break;
          buf = buf.subarray(f.size);
          yield Ietf.decodeControl(f.type, f.body, draft);
        }
        const c = await s.recv.read();
        if (c === null) return;
        const joined = new Uint8Array(buf.length + c.length);
        joined.set(buf);
        joined.set(c, buf.length);
        buf = joined;
      }
    };
    const it = frames(this.draft);
    const first = await it.next();
    if (first.done || first.value.kind !== "serverSetup") throw new Error("expected SERVER_SETUP");
    this.setup = first.value;
    (async () => {
      for await (const m of it) this.#route(m);
      for (const r of this.#requests.values()) r.push(null);
    })().catch(() => {});
  }

  #route(m: ControlMessage): void {
    const id = "requestId" in m && typeof m.requestId === "number" ? m.requestId : undefined;
    const starts = ["subscribe", "publishNamespace", "trackStatus", "fetch", "publish"].includes(m.kind);
    if (id !== undefined && starts && id % 2 === 1) {
      const req = new ControlRequest(this, id, null);
      this.#requests.set(id, req);
      this.incoming.push({ first: m, req });
      return;
    }
    const target = id !== undefined ? this.#requests.get(id) : undefined;
    if (!target) {
      this.sessionMessages.push(m);
      return;
    }
    target.push(m);
    if (m.kind === "publishDone" || m.kind === "requestError" || m.kind === "subscribeError") {
      target.push(null);
    }
  }

  /** Drafts 14–16: write one message on the control stream, after every earlier one. */
  writeControl(msg: ControlMessage): Promise<void> {
    const bytes = Ietf.encodeControl(msg, this.draft);
    const p = this.#controlTail.then(() => this.#control!.send.write(bytes));
    this.#controlTail = p.catch(() => {});
    return p;
  }

  #acceptLoops(): void {
    (async () => {
      const channel = this.transport.datagrams;
      if (!channel) return;
      for (;;) {
        const body = await channel.receive();
        if (body === null) return;
        this.datagrams.push(Ietf.decodeDatagram(body, this.draft));
      }
    })().catch(() => {});
    (async () => {
      for (;;) {
        const s = await this.transport.acceptBidi();
        if (!s) return;
        const req = new RawRequest(s, this.draft);
        req.next().then((first) => {
          if (first) this.incoming.push({ first, req });
        }, () => {});
      }
    })();
    (async () => {
      for (;;) {
        const s = await this.transport.acceptUni();
        if (!s) return;
        (async () => {
          const parts: Uint8Array[] = [];
          let finished = true;
          try {
            for (;;) {
              const c = await s.read();
              if (c === null) break;
              parts.push(c);
            }
          } catch {
            finished = false;
          }
          const all = concat(parts);
          const h = Ietf.readStreamHeader(all, this.draft);
          if (!h) return;
          if (h.header.kind === "fetch") {
            let rest = all.subarray(h.size);
            const objects: Ietf.FetchObject[] = [];
            for (;;) {
              const r = Ietf.readFetchObject(rest, objects.at(-1), this.draft);
              if (!r) break;
              objects.push(r.object);
              rest = rest.subarray(r.size);
            }
            this.fetches.push({ requestId: h.header.requestId, objects, finished });
            return;
          }
          let rest = all.subarray(h.size);
          const objects: DataObject[] = [];
          let prev: number | undefined;
          for (;;) {
            const r = Ietf.readSubgroupObject(rest, h.header, prev, this.draft);
            if (!r) break;
            objects.push(r.object);
            prev = r.object.objectId;
            rest = rest.subarray(r.size);
          }
          this.data.push({ header: h.header, objects, finished });
        })().catch(() => {});
      }
    })();
  }

  /**
   * Open a request with its first message: a bidi stream of its own (17+), or on the control
   * stream (14–16, the request id replaced by the next even id).
   */
  async request(msg: ControlMessage): Promise<RawRequest | ControlRequest> {
    if (this.draft === 16 && msg.kind === "subscribeNamespace") {
      // Draft-16 runs SUBSCRIBE_NAMESPACE on a bidi stream of its own (as `@moq/net` 0.3.4 does).
      const id = this.#nextRequestId;
      this.#nextRequestId += 2;
      const req = new RawRequest(await this.transport.openBidi(), this.draft);
      await req.send({ ...msg, requestId: id });
      return req;
    }
    if (this.draft <= 16) {
      const id = this.#nextRequestId;
      this.#nextRequestId += 2;
      const m = "requestId" in msg ? { ...msg, requestId: id } as ControlMessage : msg;
      const req = new ControlRequest(this, id, m);
      this.#requests.set(id, req);
      await req.send(m);
      return req;
    }
    const s = await this.transport.openBidi();
    const req = new RawRequest(s, this.draft);
    await req.send(msg);
    return req;
  }

  /**
   * Send one subgroup stream with `objects`, then FIN. Defaults: subgroup 0 (`subgroup` set: an
   * explicit id), priority 128, the end-of-group bit set; extension headers when any object has them.
   */
  async sendSubgroup(
    alias: number,
    group: number,
    objects: { id: number; payload: Uint8Array; ext?: Ietf.Param[] }[],
    subgroup?: number,
    options: { priority?: number; endOfGroup?: boolean } = {},
  ): Promise<void> {
    const s = await this.transport.openUni();
    const header: SubgroupHeader = {
      kind: "subgroup",
      trackAlias: alias,
      group,
      subgroupIdMode: subgroup === undefined ? "zero" : "explicit",
      subgroup,
      publisherPriority: options.priority ?? 128,
      extensions: objects.some((o) => (o.ext?.length ?? 0) > 0),
      endOfGroup: options.endOfGroup ?? true,
      firstObjectBit: this.draft >= 18,
    };
    await s.write(Ietf.encodeStreamHeader(header, this.draft));
    let prev: number | undefined;
    for (const o of objects) {
      await s.write(
        Ietf.encodeSubgroupObject(
          header,
          { objectId: o.id, extensions: o.ext ?? [], payload: o.payload },
          prev,
          this.draft,
        ),
      );
      prev = o.id;
    }
    await s.close();
  }

  /**
   * Wait for the relay's next SUBSCRIBE toward this publisher and answer SUBSCRIBE_OK with track
   * alias `alias`. Returns the SUBSCRIBE and its request.
   */
  async answerSubscribe(
    alias: number,
    timeoutMs = IETF_STEP_TIMEOUT_MS,
  ): Promise<{ first: ControlMessage; req: RawRequest | ControlRequest }> {
    await eventually("the relay's SUBSCRIBE at the publisher", () => this.incoming.length > 0, timeoutMs);
    const { first, req } = this.incoming.shift()!;
    assert.equal(first.kind, "subscribe", `the relay's first request is a SUBSCRIBE, got ${first.kind}`);
    const requestId = first.kind === "subscribe" ? first.requestId : 0;
    await req.send({ kind: "subscribeOk", requestId, trackAlias: alias, params: [], properties: [] });
    return { first, req };
  }

  /** Send one OBJECT_DATAGRAM (the transport must carry datagrams). */
  sendDatagram(d: Ietf.Datagram): void {
    const channel = this.transport.datagrams;
    if (!channel) throw new Error("this transport carries no datagrams: dial raw QUIC");
    channel.send(Ietf.encodeDatagram(d, this.draft));
  }

  /** Close the session (code 0). */
  close(): void {
    this.#setupStream?.close();
    this.#control?.send.close();
    this.transport.close(0, "done");
  }
}

/** How long one raw IETF step (a reply, a SUBSCRIBE) may take. */
export const IETF_STEP_TIMEOUT_MS = 5_000;

/**
 * Dial `relay` over raw QUIC (ALPN) or WebTransport (`wt-protocol`) offering only `draft`, its
 * certificate pinned; checks the transport kind and the negotiated protocol. No SETUP is sent.
 */
export async function dialIetf(
  relay: { port: number; httpUrl: string },
  draft: Draft,
  over: "quic" | "webtransport",
): Promise<TransportSession> {
  const alpn = Ietf.draftAlpn(draft) as IetfProtocol;
  const transport = await dialRelay(relay, over, [alpn]);
  assert.equal(transport.kind, over);
  assert.equal(transport.protocol, alpn, `${over} negotiated ${alpn}`);
  return transport;
}

/** The next message of a request within {@link IETF_STEP_TIMEOUT_MS}; it must be of `kind`. */
export async function expectReply(
  reply: Promise<ControlMessage | null>,
  kind: ControlMessage["kind"],
  what: string,
): Promise<ControlMessage> {
  const m = await within(IETF_STEP_TIMEOUT_MS, what, reply);
  assert.ok(m, `${what}: the request ended without a response`);
  assert.equal(m.kind, kind, `${what}: got ${m.kind}`);
  return m;
}

/**
 * A publisher on `draft` (WebSocket) that PUBLISHes `namespace`/`name` as track alias `alias` and
 * sends `groups` (group g: one subgroup with its objects, ids from 0), then waits for the relay to
 * cache them. Returns the peer and the relay's reply to PUBLISH.
 */
export async function publishGroups(
  relay: { port: number },
  draft: Draft,
  namespace: string[],
  name: string,
  alias: number,
  groups: readonly Uint8Array[][],
): Promise<{ peer: RawIetfPeer; reply: ControlMessage | null }> {
  const peer = await RawIetfPeer.connect(relay.port, draft);
  const req = await peer.request(publishRequest(namespace, name, alias));
  const reply = await within(IETF_STEP_TIMEOUT_MS, "PUBLISH_OK", req.next());
  for (const [g, objects] of groups.entries()) {
    await peer.sendSubgroup(alias, g, objects.map((payload, id) => ({ id, payload })));
  }
  await sleep(CACHE_SETTLE_MS);
  return { peer, reply };
}

/** How long {@link publishGroups} waits for the relay to have cached what was sent. */
const CACHE_SETTLE_MS = 300;

/** SUBSCRIBE to `namespace`/`name` (request id 0: {@link RawIetfPeer.request} assigns it on 14–16). */
export function subscribeRequest(
  namespace: string[],
  name: string,
  params: Ietf.Param[] = [],
): ControlMessage {
  return { kind: "subscribe", requestId: 0, namespace, name, params };
}

/** PUBLISH of `namespace`/`name` as track alias `trackAlias`, no parameters or properties. */
export function publishRequest(namespace: string[], name: string, trackAlias: number): ControlMessage {
  return { kind: "publish", requestId: 0, namespace, name, trackAlias, params: [], properties: [] };
}

/** PUBLISH_NAMESPACE of `namespace`, no parameters. */
export function publishNamespaceRequest(namespace: string[]): ControlMessage {
  return { kind: "publishNamespace", requestId: 0, namespace, params: [] };
}

/** A standalone FETCH of `namespace`/`name` from `start` to `end`, each `[group, object]`. */
export function standaloneFetch(
  namespace: string[],
  name: string,
  start: readonly [number, number],
  end: readonly [number, number],
): ControlMessage {
  return {
    kind: "fetch",
    requestId: 0,
    spec: {
      type: "standalone",
      namespace,
      name,
      start: { group: start[0], object: start[1] },
      end: { group: end[0], object: end[1] },
    },
    params: [],
  };
}
