/**
 * The raw TCP fan-out baseline: `deno run -A bench/raw_tcp_server.ts`. `Deno.listen` and the
 * relay's TCP framing (qmux-01 records, `Size (i) Frames (..)`, the application protocol agreed in
 * the first record's transport parameters), nothing else. The server answers the handshake with
 * windows so large that the publisher never waits for credit, and forwards unread: a connection
 * that sends a STREAM frame is the publisher; every other connection is a subscriber. Each read
 * from the publisher is forwarded, the same bytes (its whole records), to every subscriber, with
 * only the stream ids turned from client uni ids (`4n+2`) into server uni ids (`4n+3`, same varint
 * length) in place; the next read starts once every subscriber's write completed. Records that
 * carry a control frame instead of STREAM frames (QX_PING, credit) are not forwarded; a QX_PING
 * request is answered. Subscribers' flow control is not tracked (no baseline logic): their windows
 * (256 KiB a stream, 1 MiB the connection) are raised as they read, so a subscriber that falls that
 * far behind closes with a flow-control error, and the run shows it as a stall.
 *
 * Prints `{"port":…}` on stdout once listening; exits on SIGTERM.
 *
 * @module
 */
import { concatBytes, encodeTlv, encodeVarint, varintLength } from "../codec/mod.ts";
import { TransportParameterId } from "../transport/mod.ts";

const READ_BYTES = 64 * 1024;
/** Every window the server grants (far beyond what a benchmark sends). */
const HUGE_WINDOW = 2 ** 40;
const QX_TP = Uint8Array.of(0xff, 0x51, 0x53, 0x30, 0x0d, 0x0a, 0x0d, 0x0a);
/** QX_PING request type (an 8-byte varint); the response differs in its last byte. */
const QX_PING_REQUEST = Uint8Array.of(0xf4, 0x8c, 0x67, 0x52, 0x9e, 0xf8, 0xc7, 0xbd);
const QX_PING_RESPONSE_LAST_BYTE = 0xbe;

const subscribers = new Set<Deno.Conn>();
const encoder = new TextEncoder();

/** Our first record: windows for every direction plus `application_protocols = [protocol]`. */
function handshake(protocol: string): Uint8Array {
  const name = encoder.encode(protocol);
  const params = concatBytes([
    ...[0x04, 0x05, 0x06, 0x07, 0x08, 0x09].map((id) =>
      encodeTlv(id, encodeVarint(id >= 0x08 ? 2 ** 30 : HUGE_WINDOW))
    ),
    encodeTlv(TransportParameterId.APPLICATION_PROTOCOLS, concatBytes([encodeVarint(name.length), name])),
  ]);
  const frame = concatBytes([QX_TP, encodeVarint(params.length), params]);
  return concatBytes([encodeVarint(frame.length), frame]);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Read a varint at `at` (the caller checked that it fits). */
function varintAt(b: Uint8Array, at: number): number {
  const width = varintLength(b[at]);
  let value = b[at] & 0x3f;
  for (let i = 1; i < width; i++) value = value * 256 + b[at + i];
  return value;
}

/**
 * Turn the stream ids of the STREAM frames in record `[start, end)` into server ids, in place.
 * False when the record holds something else (a control frame).
 */
function rewriteStreamIds(b: Uint8Array, start: number, end: number): boolean {
  let pos = start;
  while (pos < end) {
    const type = b[pos];
    if (type < 0x08 || type > 0x0f) return false;
    pos++;
    const idWidth = varintLength(b[pos]);
    b[pos + idWidth - 1] |= 1; // client-initiated uni id → server-initiated
    pos += idWidth;
    if (type & 0x04) pos += varintLength(b[pos]); // OFF
    if (type & 0x02) {
      const length = varintAt(b, pos);
      pos += varintLength(b[pos]) + length;
    } else {
      pos = end; // no LEN: the data runs to the end of the record
    }
  }
  return true;
}

async function serve(conn: Deno.Conn): Promise<void> {
  let buf = new Uint8Array(READ_BYTES);
  let end = 0;
  let first = true;
  let publisher = false;
  for (;;) {
    if (end === buf.length) {
      const grown = new Uint8Array(buf.length * 2); // one record larger than the buffer
      grown.set(buf);
      buf = grown;
    }
    const n = await conn.read(buf.subarray(end));
    if (n === null) return;
    end += n;
    // Forward the complete records at the front; a partial one moves to the front afterwards.
    let pos = 0;
    let forwardFrom = 0;
    const spans: Array<[number, number]> = [];
    while (pos < end) {
      const width = varintLength(buf[pos]);
      if (pos + width > end) break;
      const size = varintAt(buf, pos);
      const recordEnd = pos + width + size;
      if (recordEnd > end) break;
      if (first) {
        first = false;
        const offered = new TextDecoder().decode(buf.subarray(pos, recordEnd));
        await writeAll(conn, handshake(offered.includes("moq-lite-05") ? "moq-lite-05" : "moq-lite-04"));
        subscribers.add(conn);
        forwardFrom = recordEnd;
      } else if (rewriteStreamIds(buf, pos + width, recordEnd)) {
        if (!publisher) {
          publisher = true;
          subscribers.delete(conn);
        }
      } else {
        if (forwardFrom < pos) spans.push([forwardFrom, pos]);
        forwardFrom = recordEnd;
        const type = buf.subarray(pos + width, pos + width + 8);
        if (size > 8 && QX_PING_REQUEST.every((v, i) => type[i] === v)) {
          const answer = buf.slice(pos, recordEnd);
          answer[width + 7] = QX_PING_RESPONSE_LAST_BYTE;
          await writeAll(conn, answer);
        }
      }
      pos = recordEnd;
    }
    if (forwardFrom < pos) spans.push([forwardFrom, pos]);
    if (publisher) {
      for (const [from, to] of spans) {
        const bytes = buf.subarray(from, to);
        await Promise.all([...subscribers].map((s) =>
          writeAll(s, bytes).catch(() => {
            subscribers.delete(s);
          })
        ));
      }
    }
    buf.copyWithin(0, pos, end);
    end -= pos;
  }
}

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(JSON.stringify({ port: listener.addr.port }));
for await (const conn of listener) {
  conn.setNoDelay(true);
  serve(conn).catch(() => {}).finally(() => {
    subscribers.delete(conn);
    try {
      conn.close();
    } catch {
      // closed
    }
  });
}
