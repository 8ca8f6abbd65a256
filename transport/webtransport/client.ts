/**
 * A WebTransport client on Deno's raw QUIC API (same HTTP/3 subset as the server side): for relay
 * cluster links that must carry a URL path and `?jwt=` (raw QUIC cannot), and for tests.
 *
 * It sends draft-02 SETTINGS like Chromium (H3_DATAGRAM + ENABLE_WEBTRANSPORT, no QPACK table),
 * waits for the server's SETTINGS, sends the extended CONNECT with `wt-available-protocols` and
 * reads `wt-protocol` from the answer.
 *
 * @module
 */

import type { NegotiatedProtocol } from "../types.ts";
import {
  connectQuicTo,
  DEFAULT_DIAL_TIMEOUT_MS,
  DialError,
  type DialOptions,
  errorMessage,
  formatAddr,
  QuicRecvHalf,
  QuicSendHalf,
} from "../quic/mod.ts";
import { BufferedReader, incomingStream } from "./_buffered_reader.ts";
import { LITE_DIAL_PROTOCOLS } from "../versions.ts";
import { peerConnectionClose } from "./h3_connection.ts";
import {
  controlStreamPreamble,
  encodeH3Frame,
  FRAME,
  H3_ERROR,
  parseSettings,
  readFrameHeader,
  SETTING,
  UNI_STREAM,
  WEBTRANSPORT_BIDI_SIGNAL,
} from "./h3.ts";
import { decodeFieldSection, encodeFieldSection } from "./_qpack.ts";
import { parseList, serializeString } from "./_structured_fields.ts";
import { WebTransportSession } from "./session.ts";
import { DatagramAbuseError, pumpHttpDatagrams } from "./_datagrams.ts";

/** The client's SETTINGS (what Chromium 156 sends, minus its QPACK table and GREASE). */
export const CLIENT_SETTINGS: ReadonlyArray<readonly [number, number]> = [
  [SETTING.H3_DATAGRAM, 1],
  [SETTING.H3_DATAGRAM_DRAFT04, 1],
  [SETTING.ENABLE_WEBTRANSPORT_DRAFT02, 1],
];

/** Largest response HEADERS accepted. */
const MAX_RESPONSE_HEADERS_BYTES = 16 * 1024;

/** Options for {@link dialWebTransport}. */
export interface WebTransportDialOptions extends DialOptions {
  /** Subprotocols offered in `wt-available-protocols`, in preference order (default the served moq-lite versions; `[]` = none). */
  protocols?: readonly NegotiatedProtocol[];
}

/** Raised when the server answers the CONNECT with a non-2xx status. */
export class WebTransportRefusedError extends DialError {
  /** The HTTP status. */
  readonly status: number;
  constructor(url: URL, status: number) {
    super(url, `WebTransport CONNECT to ${url.origin}${url.pathname} was refused with HTTP ${status}`);
    this.name = "WebTransportRefusedError";
    this.status = status;
  }
}

function timeoutPromise<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  if (ms <= 0) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Open a WebTransport session to `url` (`https://host:port/path?jwt=…`; `http://` = dev mode, see
 * {@link DialOptions.disableVerify}). The session's `protocol` is the server's `wt-protocol`
 * selection (or `""`). Throws {@link DialError} / {@link WebTransportRefusedError}.
 */
export async function dialWebTransport(
  url: URL,
  options: WebTransportDialOptions,
): Promise<WebTransportSession> {
  const { conn, endpoint } = await connectQuicTo(url, ["h3"], options);
  const client = new H3Client(conn, endpoint, url, options);
  try {
    return await client.connect();
  } catch (error) {
    client.abort(H3_ERROR.REQUEST_CANCELLED, "dial failed");
    await client.done;
    if (error instanceof DialError) throw error;
    throw new DialError(
      url,
      `WebTransport CONNECT to ${url.origin}${url.pathname} failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** The client half of an HTTP/3 connection carrying one WebTransport session. */
class H3Client {
  readonly #conn: Deno.QuicConn;
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #url: URL;
  readonly #options: WebTransportDialOptions;
  readonly #settings = Promise.withResolvers<Map<number, number>>();
  readonly #sessionReady = Promise.withResolvers<WebTransportSession | null>();
  readonly #tasks = new Set<Promise<void>>();
  /** Referenced for the whole connection: a GC'd control stream would FIN. */
  #control: { stream: Deno.QuicSendStream; writer: WritableStreamDefaultWriter<Uint8Array> } | null = null;
  #session: WebTransportSession | null = null;
  #closedLocally = false;
  readonly done: Promise<void>;

  constructor(conn: Deno.QuicConn, endpoint: Deno.QuicEndpoint, url: URL, options: WebTransportDialOptions) {
    this.#conn = conn;
    this.#endpoint = endpoint;
    this.#url = url;
    this.#options = options;
    this.#settings.promise.catch(() => {});
    this.#spawn(this.#openControl());
    this.#spawn(this.#acceptUni());
    this.#spawn(this.#acceptBidi());
    this.done = conn.closed.then(
      (info) =>
        this.#closedLocally
          ? { code: 0, reason: "closed locally", abrupt: true, remote: false }
          : peerConnectionClose(info.closeCode, info.reason),
      (error) => ({ code: 0, reason: `QUIC connection lost: ${errorMessage(error)}`, abrupt: true }),
    ).then(async (ending) => {
      this.#settings.reject(new Error(`the connection closed: ${ending.reason}`));
      this.#sessionReady.resolve(null);
      this.#session?.connectionClosed(ending);
      while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
      try {
        this.#endpoint.close();
      } catch {
        // already closed
      }
    });
  }

  #spawn(task: Promise<void>): void {
    const tracked = task.catch(() => {});
    this.#tasks.add(tracked);
    tracked.finally(() => this.#tasks.delete(tracked));
  }

  abort(code: number, reason: string): void {
    this.#closedLocally = true;
    try {
      this.#conn.close({ closeCode: code, reason });
    } catch {
      // already closed
    }
  }

  async #openControl(): Promise<void> {
    const stream = await this.#conn.createUnidirectionalStream({ waitUntilAvailable: true });
    const writer = stream.getWriter();
    this.#control = { stream, writer };
    await writer.write(controlStreamPreamble(CLIENT_SETTINGS));
  }

  async #acceptUni(): Promise<void> {
    for await (const stream of this.#conn.incomingUnidirectionalStreams) this.#spawn(this.#handleUni(stream));
  }

  async #acceptBidi(): Promise<void> {
    for await (const bidi of this.#conn.incomingBidirectionalStreams) this.#spawn(this.#handleBidi(bidi));
  }

  async #handleUni(stream: Deno.QuicReceiveStream): Promise<void> {
    const { id, reader, buffered } = incomingStream(stream);
    let handedOver = false;
    try {
      const type = await buffered.readVarint();
      if (type === UNI_STREAM.CONTROL) {
        const header = await readFrameHeader(buffered);
        if (!header || header.type !== FRAME.SETTINGS || header.length > 4096) {
          this.abort(H3_ERROR.MISSING_SETTINGS, "no SETTINGS");
          return;
        }
        this.#settings.resolve(parseSettings(await buffered.readBytes(header.length)));
        while (await buffered.readSome(64 * 1024)) { /* GOAWAY and unknown frames: ignored */ }
      } else if (type === UNI_STREAM.QPACK_ENCODER || type === UNI_STREAM.QPACK_DECODER) {
        while (await buffered.readSome(64 * 1024)) { /* table capacity 0: nothing to learn */ }
      } else if (type === UNI_STREAM.WEBTRANSPORT) {
        const sessionId = await buffered.readVarint();
        const session = this.#session ?? await this.#sessionReady.promise;
        if (session && !session.isClosed && session.id === sessionId) {
          session.deliverUni(new QuicRecvHalf(stream, session, reader, buffered.takeBuffered(), id));
          handedOver = true;
        }
      }
    } finally {
      if (!handedOver) reader.cancel().catch(() => {});
    }
  }

  async #handleBidi(bidi: Deno.QuicBidirectionalStream): Promise<void> {
    const { id, reader, buffered } = incomingStream(bidi.readable);
    let handedOver = false;
    try {
      if (await buffered.readVarint() !== WEBTRANSPORT_BIDI_SIGNAL) return; // servers open no requests
      const sessionId = await buffered.readVarint();
      const session = this.#session ?? await this.#sessionReady.promise;
      if (session && !session.isClosed && session.id === sessionId) {
        session.deliverBidi(
          new QuicSendHalf(bidi.writable, session),
          new QuicRecvHalf(bidi.readable, session, reader, buffered.takeBuffered(), id),
        );
        handedOver = true;
      }
    } finally {
      if (!handedOver) {
        reader.cancel().catch(() => {});
        bidi.writable.abort().catch(() => {});
      }
    }
  }

  async connect(): Promise<WebTransportSession> {
    const url = this.#url;
    const budget = this.#options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    const settings = await timeoutPromise(
      this.#settings.promise,
      budget,
      "no SETTINGS from the server in time",
    );
    if (settings.get(SETTING.ENABLE_WEBTRANSPORT_DRAFT02) !== 1) {
      throw new DialError(url, `${url.origin} does not offer WebTransport (draft-02 SETTINGS missing)`);
    }
    const protocols: readonly NegotiatedProtocol[] = (this.#options.protocols ?? LITE_DIAL_PROTOCOLS)
      .filter(
        (p) => p !== "",
      );
    const fields: Array<[string, string]> = [
      [":method", "CONNECT"],
      [":scheme", "https"],
      [":authority", url.host],
      [":path", `${url.pathname}${url.search}`],
      [":protocol", "webtransport"],
      ["sec-webtransport-http3-draft02", "1"],
    ];
    if (protocols.length > 0) {
      fields.push(["wt-available-protocols", protocols.map(serializeString).join(", ")]);
    }
    const bidi = await this.#conn.createBidirectionalStream({ waitUntilAvailable: true });
    const streamId = Number(bidi.readable.id);
    const writer = bidi.writable.getWriter();
    await writer.write(encodeH3Frame(FRAME.HEADERS, encodeFieldSection(fields)));
    const reader = new BufferedReader(bidi.readable.getReader());
    const response = await timeoutPromise(this.#readResponse(reader), budget, "no CONNECT response in time");
    const status = Number(response.get(":status"));
    if (!(status >= 200 && status < 300)) {
      writer.close().catch(() => {});
      throw new WebTransportRefusedError(url, status);
    }
    const selected = parseList(response.get("wt-protocol") ?? "")?.[0];
    const protocol: NegotiatedProtocol = selected?.kind === "string" &&
        protocols.includes(selected.value as NegotiatedProtocol)
      ? selected.value as NegotiatedProtocol
      : "";
    let peer = "unknown";
    try {
      peer = formatAddr(this.#conn.remoteAddr);
    } catch {
      // gone
    }
    const session = new WebTransportSession({
      conn: this.#conn,
      id: streamId,
      url,
      protocol,
      peer,
      logger: this.#options.logger.with({ url: `${url.origin}${url.pathname}` }),
      connectStream: bidi,
      connectWriter: writer,
      onEnded: (ended) => {
        const info = ended.closeInfo;
        this.abort(H3_ERROR.NO_ERROR, info && !info.remote ? info.reason : "");
      },
    });
    this.#session = session;
    this.#sessionReady.resolve(session);
    this.#spawn(session.run(reader));
    this.#spawn(this.#pumpDatagrams(session));
    return session;
  }

  /** Route HTTP datagrams of the connection to the session (the only one) until it ends. */
  async #pumpDatagrams(session: WebTransportSession): Promise<void> {
    try {
      await pumpHttpDatagrams(this.#conn, (id) => id === session.id ? session.datagrams : undefined);
    } catch (error) {
      if (!(error instanceof DatagramAbuseError)) throw error;
      this.abort(error.code, error.message);
    }
  }

  async #readResponse(reader: BufferedReader): Promise<Map<string, string>> {
    while (true) {
      const header = await readFrameHeader(reader);
      if (header === null) throw new Error("the server closed the CONNECT stream without answering");
      if (header.type !== FRAME.HEADERS) {
        await reader.skip(header.length);
        continue;
      }
      if (header.length > MAX_RESPONSE_HEADERS_BYTES) throw new Error("response headers too large");
      const fields = decodeFieldSection(await reader.readBytes(header.length));
      const map = new Map<string, string>();
      for (const [name, value] of fields) if (!map.has(name)) map.set(name, value);
      const status = Number(map.get(":status"));
      if (status >= 100 && status < 200) continue; // interim response
      return map;
    }
  }
}
