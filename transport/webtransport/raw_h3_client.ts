/**
 * A byte-level HTTP/3 WebTransport client for tests: it speaks exactly what the test writes, so
 * tests can replay Chromium's shapes (docs/webtransport.md) and check the server's bytes. Not used in
 * production.
 *
 * @module
 */

import { BufferedReader } from "./_buffered_reader.ts";
import { AsyncQueue } from "../../util/mod.ts";
import { encodeH3Frame, encodeSettings, FRAME } from "./h3.ts";
import { encodeVarint } from "../../codec/mod.ts";
import { huffmanEncode } from "./_huffman.ts";
import { encodePrefixInt } from "./_qpack.ts";

/** Chromium 156's SETTINGS (docs/webtransport.md §5), plus one GREASE id. */
export const CHROMIUM_SETTINGS: ReadonlyArray<readonly [number, number]> = [
  [0x01, 65536],
  [0x06, 16384],
  [0x07, 100],
  [0x33, 1],
  [0xffd277, 1],
  [0x2b603742, 1],
  [0x1f * 7 + 0x21, 12345],
];

/** A server-opened stream as the raw client sees it. */
export interface RawUniStream {
  id: bigint;
  reader: BufferedReader;
}

/** A raw HTTP/3 connection. */
export class RawH3Client {
  readonly conn: Deno.QuicConn;
  readonly endpoint: Deno.QuicEndpoint;
  /** Server-opened uni streams, in arrival order. */
  readonly uni = new AsyncQueue<RawUniStream>();
  /** Server-opened bidi streams. */
  readonly bidi = new AsyncQueue<
    { id: bigint; reader: BufferedReader; writer: WritableStreamDefaultWriter<Uint8Array> }
  >();
  /** Kept referenced: a GC'd control stream would FIN. */
  control: { stream: Deno.QuicSendStream; writer: WritableStreamDefaultWriter<Uint8Array> } | null = null;
  readonly #accepting: Promise<void>;

  private constructor(conn: Deno.QuicConn, endpoint: Deno.QuicEndpoint) {
    this.conn = conn;
    this.endpoint = endpoint;
    this.#accepting = Promise.all([this.#acceptUni(), this.#acceptBidi()]).then(() => {});
  }

  /** Connect with ALPN `h3`, pinning the server certificate. */
  static async connect(port: number, sha256: Uint8Array<ArrayBuffer>, alpn = "h3"): Promise<RawH3Client> {
    const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
    const conn = await Deno.connectQuic({
      endpoint,
      hostname: "127.0.0.1",
      port,
      alpnProtocols: [alpn],
      serverCertificateHashes: [{ algorithm: "sha-256", value: sha256 }],
    } as Deno.ConnectQuicOptions<false>);
    return new RawH3Client(conn, endpoint);
  }

  async #acceptUni(): Promise<void> {
    try {
      for await (const stream of this.conn.incomingUnidirectionalStreams) {
        this.uni.push({ id: stream.id, reader: new BufferedReader(stream.getReader()) });
      }
    } catch {
      // connection closed
    }
    this.uni.close();
  }

  async #acceptBidi(): Promise<void> {
    try {
      for await (const stream of this.conn.incomingBidirectionalStreams) {
        this.bidi.push({
          id: stream.readable.id,
          reader: new BufferedReader(stream.readable.getReader()),
          writer: stream.writable.getWriter(),
        });
      }
    } catch {
      // connection closed
    }
    this.bidi.close();
  }

  /** Open the client control stream and send SETTINGS. */
  async sendSettings(settings: ReadonlyArray<readonly [number, number]> = CHROMIUM_SETTINGS): Promise<void> {
    const stream = await this.conn.createUnidirectionalStream();
    const writer = stream.getWriter();
    this.control = { stream, writer };
    const frame = encodeH3Frame(FRAME.SETTINGS, encodeSettings(settings));
    await writer.write(Uint8Array.from([0x00, ...frame]));
  }

  /** Open a bidi stream and write `bytes` on it. */
  async openBidi(bytes: Uint8Array): Promise<{
    id: bigint;
    reader: BufferedReader;
    writer: WritableStreamDefaultWriter<Uint8Array>;
  }> {
    const stream = await this.conn.createBidirectionalStream();
    const id = stream.readable.id;
    const writer = stream.writable.getWriter();
    if (bytes.byteLength > 0) await writer.write(bytes);
    return { id, reader: new BufferedReader(stream.readable.getReader()), writer };
  }

  /** Open a uni stream and write `bytes`. */
  async openUni(bytes: Uint8Array): Promise<WritableStreamDefaultWriter<Uint8Array>> {
    const stream = await this.conn.createUnidirectionalStream();
    const writer = stream.getWriter();
    if (bytes.byteLength > 0) await writer.write(bytes);
    return writer;
  }

  /** Send a CONNECT field section on a new bidi stream. */
  openConnect(fieldSection: Uint8Array) {
    return this.openBidi(encodeH3Frame(FRAME.HEADERS, fieldSection));
  }

  /** Close the connection and the endpoint, and wait for the accept loops. */
  async close(code = 0x100, reason = ""): Promise<void> {
    try {
      this.conn.close({ closeCode: code, reason });
    } catch {
      // already closed
    }
    await this.conn.closed.catch(() => {});
    this.endpoint.close();
    await this.#accepting;
  }
}

/** The WebTransport stream header for a session: uni `40 54 <id>` or bidi `40 41 <id>`. */
export function streamHeader(kind: "uni" | "bidi", sessionId: number): Uint8Array {
  return Uint8Array.from([...encodeVarint(kind === "uni" ? 0x54 : 0x41), ...encodeVarint(sessionId)]);
}

/** Read one HTTP/3 frame (type, payload) from a reader. */
export async function readFrame(
  reader: BufferedReader,
): Promise<{ type: number; payload: Uint8Array } | null> {
  const type = await reader.readVarint();
  if (type === null) return null;
  const length = await reader.readVarint();
  if (length === null) throw new Error("truncated frame");
  return { type, payload: await reader.readBytes(length) };
}

/**
 * A CONNECT field section encoded the way Chromium 156 encodes it (docs/webtransport.md §6): indexed
 * `:scheme`/`:method`, Huffman values with static name references, Huffman literal names.
 */
export function chromiumConnect(authority: string, path: string, protocols?: string): Uint8Array {
  const ascii = (text: string) => new TextEncoder().encode(text);
  const out: number[] = [0x00, 0x00, 0xd7, 0xcf]; // prefix; :scheme https (23); :method CONNECT (15)
  const huffValue = (value: string) => {
    const coded = huffmanEncode(ascii(value));
    out.push(...encodePrefixInt(coded.byteLength, 7, 0x80), ...coded);
  };
  const huffName = (name: string) => {
    const coded = huffmanEncode(ascii(name));
    out.push(...encodePrefixInt(coded.byteLength, 3, 0x28), ...coded);
  };
  out.push(...encodePrefixInt(0, 4, 0x50));
  huffValue(authority);
  out.push(...encodePrefixInt(1, 4, 0x50));
  huffValue(path);
  huffName(":protocol");
  huffValue("webtransport");
  huffName("sec-webtransport-http3-draft02");
  out.push(0x01, 0x31); // raw "1"
  out.push(...encodePrefixInt(90, 4, 0x50));
  huffValue("http://127.0.0.1:43351");
  if (protocols !== undefined) {
    huffName("wt-available-protocols");
    huffValue(protocols);
  }
  return Uint8Array.from(out);
}
