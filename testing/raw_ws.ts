/**
 * A raw WebSocket client over a plain TCP socket, for tests that need what a browser API cannot
 * do: read the exact upgrade response, stop reading (a truly slow subscriber with TCP
 * backpressure), or send malformed frames.
 *
 * @module
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Legacy CLIENT_SETUP (lite-02, lite-01, no parameters) as `@moq/lite` 0.2.2 sends it. */
export const LEGACY_CLIENT_SETUP: Uint8Array = new Uint8Array([
  0x20,
  0x00,
  0x12,
  0x02, // type, u16 length 18, 2 versions
  0xc0,
  0,
  0,
  0,
  0xff,
  0x0d,
  0xad,
  0x02, // moq-lite-02
  0xc0,
  0,
  0,
  0,
  0xff,
  0x0d,
  0xad,
  0x01, // moq-lite-01
  0x00, // no parameters
]);

/** A `webtransport`-framing STREAM frame (stream ids < 64). */
export function streamFrame(id: number, data: Uint8Array, fin = false): Uint8Array {
  const out = new Uint8Array(2 + data.length);
  out[0] = fin ? 0x09 : 0x08;
  out[1] = id;
  out.set(data, 2);
  return out;
}

/** A lite-02 Subscribe stream opening: type 0x02 + SUBSCRIBE (short names, id < 64). */
export function subscribeLite02(id: number, broadcast: string, track: string): Uint8Array {
  const b = enc.encode(broadcast);
  const t = enc.encode(track);
  const body = [id, b.length, ...b, t.length, ...t, 0];
  return new Uint8Array([0x02, body.length, ...body]);
}

/** The HTTP response to an upgrade attempt. */
export interface UpgradeResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A connected raw WebSocket (client side). */
export class RawWebSocket {
  readonly conn: Deno.TcpConn;
  #buf: Uint8Array = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn, rest: Uint8Array) {
    this.conn = conn;
    this.#buf = rest;
  }

  /**
   * Connect and upgrade. Resolves the socket on 101, else the HTTP result (status, headers, body).
   */
  static async connect(
    port: number,
    path: string,
    protocols: string[] = ["qmux-00", "webtransport"],
    host = `127.0.0.1:${port}`,
  ): Promise<RawWebSocket | UpgradeResult> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: ${host}`,
      `Upgrade: websocket`,
      `Connection: Upgrade`,
      `Sec-WebSocket-Key: ${key}`,
      `Sec-WebSocket-Version: 13`,
    ];
    if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(", ")}`);
    await conn.write(enc.encode(lines.join("\r\n") + "\r\n\r\n"));
    let data = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) break;
      const next = new Uint8Array(data.length + n);
      next.set(data);
      next.set(chunk.subarray(0, n), data.length);
      data = next;
      const text = dec.decode(data);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const head = text.slice(0, end).split("\r\n");
      const status = Number(head[0].split(" ")[1]);
      const headers: Record<string, string> = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const headerBytes = enc.encode(text.slice(0, end + 4)).length;
      if (status === 101) return new RawWebSocket(conn, data.subarray(headerBytes));
      // Read the (short) body until close or content-length.
      const length = Number(headers["content-length"] ?? "0");
      let body = data.subarray(headerBytes);
      while (body.length < length) {
        const m = await conn.read(chunk);
        if (m === null) break;
        const b = new Uint8Array(body.length + m);
        b.set(body);
        b.set(chunk.subarray(0, m), body.length);
        body = b;
      }
      conn.close();
      return { status, headers, body: dec.decode(body) };
    }
    conn.close();
    throw new Error("connection closed before an HTTP response");
  }

  /** Send one binary (opcode 2) or other frame, masked as a client must. */
  async send(payload: Uint8Array, opcode = 2): Promise<void> {
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const len = payload.length;
    const header: number[] = [0x80 | opcode];
    if (len < 126) header.push(0x80 | len);
    else if (len < 65536) header.push(0x80 | 126, len >> 8, len & 0xff);
    else {header.push(
        0x80 | 127,
        0,
        0,
        0,
        0,
        (len >>> 24) & 0xff,
        (len >>> 16) & 0xff,
        (len >>> 8) & 0xff,
        len & 0xff,
      );}
    const frame = new Uint8Array(header.length + 4 + len);
    frame.set(header);
    frame.set(mask, header.length);
    for (let i = 0; i < len; i++) frame[header.length + 4 + i] = payload[i] ^ mask[i & 3];
    let off = 0;
    while (off < frame.length) off += await this.conn.write(frame.subarray(off));
  }

  /** Read one frame (opcode, payload); null when the connection closed. */
  async receive(): Promise<{ opcode: number; payload: Uint8Array } | null> {
    const need = async (n: number): Promise<boolean> => {
      const chunk = new Uint8Array(65536);
      while (this.#buf.length < n) {
        const m = await this.conn.read(chunk);
        if (m === null) return false;
        const b = new Uint8Array(this.#buf.length + m);
        b.set(this.#buf);
        b.set(chunk.subarray(0, m), this.#buf.length);
        this.#buf = b;
      }
      return true;
    };
    if (!(await need(2))) return null;
    const opcode = this.#buf[0] & 0x0f;
    let len = this.#buf[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (!(await need(4))) return null;
      len = (this.#buf[2] << 8) | this.#buf[3];
      off = 4;
    } else if (len === 127) {
      if (!(await need(10))) return null;
      len = Number(new DataView(this.#buf.buffer, this.#buf.byteOffset + 2, 8).getBigUint64(0));
      off = 10;
    }
    if (!(await need(off + len))) return null;
    const payload = this.#buf.slice(off, off + len);
    this.#buf = this.#buf.subarray(off + len);
    return { opcode, payload };
  }

  /** Read frames until a close frame (opcode 8) or EOF; returns the close payload, if any. */
  async untilClosed(timeoutMs = 10_000): Promise<{ binary: Uint8Array[]; close: Uint8Array | null }> {
    const binary: Uint8Array[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const f = await this.receive();
      if (!f) return { binary, close: null };
      if (f.opcode === 8) return { binary, close: f.payload };
      if (f.opcode === 2) binary.push(f.payload);
    }
    throw new Error("the relay did not close the connection in time");
  }

  /** Close the TCP connection without a close frame. */
  drop(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}
