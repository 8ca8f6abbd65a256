/**
 * `ConnWebSocket` over real loopback TCP: a raw client written here sends the upgrade head and
 * hand-made frames (masked or not, fragmented, oversize, bad opcodes) and reads what the server
 * socket writes back.
 */

import assert from "node:assert/strict";
import {
  ConnUpgradeRequest,
  ConnWebSocket,
  MAX_DIRECT_MESSAGE_BYTES,
  READ_BUFFER_MAX_BYTES,
  READ_BUFFER_MIN_BYTES,
  websocketAccept,
} from "./_conn_socket.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One frame as a client writes it (masked unless `mask` is false). */
function clientFrame(opcode: number, payload: Uint8Array, options: { fin?: boolean; mask?: boolean } = {}) {
  const fin = options.fin ?? true;
  const masked = options.mask ?? true;
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + (masked ? 4 : 0) + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  const view = new DataView(out.buffer);
  if (ext === 2) view.setUint16(2, len);
  if (ext === 8) view.setBigUint64(2, BigInt(len));
  let pos = 2 + ext;
  const key = masked ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(4);
  if (masked) {
    out.set(key, pos);
    pos += 4;
  }
  for (let i = 0; i < len; i++) out[pos + i] = payload[i] ^ key[i & 3];
  return out;
}

/** A parsed server frame. */
interface ServerFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** A raw client connected to a `ConnWebSocket` served on the other end of a loopback connection. */
class Pair {
  readonly client: Deno.Conn;
  readonly server: ConnWebSocket;
  readonly running: Promise<void>;
  readonly messages: Array<ArrayBuffer | string> = [];
  readonly closed: Promise<CloseEvent>;
  #buf = new Uint8Array(0);

  private constructor(client: Deno.Conn, server: ConnWebSocket, running: Promise<void>) {
    this.client = client;
    this.server = server;
    this.running = running;
    server.addEventListener("message", (e) => this.messages.push((e as MessageEvent).data));
    this.closed = new Promise((resolve) =>
      server.addEventListener("close", (e) => resolve(e as CloseEvent), { once: true })
    );
  }

  static async open(options: { maxMessageBytes?: number; idleTimeoutMs?: number } = {}): Promise<Pair> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const client = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
    const conn = await accepted;
    listener.close();
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const request = new ConnUpgradeRequest(
      "http://127.0.0.1/anon",
      new Headers({ upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": key }),
      conn,
    );
    const server = request.upgrade({
      protocol: "webtransport",
      idleTimeoutMs: options.idleTimeoutMs ?? 0,
      maxMessageBytes: options.maxMessageBytes,
    });
    assert.equal(request.socket, server);
    assert.equal(server.readyState, 0);
    const opened = new Promise((resolve) => server.addEventListener("open", resolve, { once: true }));
    const pair = new Pair(client, server, server.run(key, new Uint8Array(0)));
    const head = await pair.readHead();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(
      head,
      new RegExp(`sec-websocket-accept: ${(await websocketAccept(key)).replace(/\+/g, "\\+")}\r\n`),
    );
    assert.match(head, /sec-websocket-protocol: webtransport\r\n/);
    await opened;
    assert.equal(server.readyState, 1);
    return pair;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.client.read(chunk).catch(() => null);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  async readHead(): Promise<string> {
    for (;;) {
      const text = dec.decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buf = this.#buf.subarray(end + 4);
        return text.slice(0, end + 4);
      }
      if (!(await this.#fill())) throw new Error("closed before the 101");
    }
  }

  /** The next server frame, or null once the connection ended. */
  async readFrame(): Promise<ServerFrame | null> {
    for (;;) {
      const b = this.#buf;
      if (b.length >= 2) {
        let len = b[1] & 0x7f;
        let pos = 2;
        if (len === 126 && b.length >= 4) {
          len = (b[2] << 8) | b[3];
          pos = 4;
        } else if (len === 127 && b.length >= 10) {
          len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
          pos = 10;
        }
        if ((b[1] & 0x7f) < 126 || pos > 2) {
          if (b.length >= pos + len) {
            this.#buf = b.subarray(pos + len);
            return {
              fin: (b[0] & 0x80) !== 0,
              opcode: b[0] & 0x0f,
              masked: (b[1] & 0x80) !== 0,
              payload: b.slice(pos, pos + len),
            };
          }
        }
      }
      if (!(await this.#fill())) return null;
    }
  }

  /** The close frame's code (after skipping other frames), or null without one. */
  async closeCode(): Promise<number | null> {
    for (;;) {
      const frame = await this.readFrame();
      if (!frame) return null;
      if (frame.opcode === 8) {
        return frame.payload.length >= 2 ? (frame.payload[0] << 8) | frame.payload[1] : 1005;
      }
    }
  }

  async write(...frames: Uint8Array[]): Promise<void> {
    for (const frame of frames) {
      let off = 0;
      while (off < frame.length) off += await this.client.write(frame.subarray(off));
    }
  }

  async end(): Promise<void> {
    try {
      this.client.close();
    } catch {
      // already closed
    }
    await this.running;
  }
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("ConnWebSocket: websocketAccept matches the RFC 6455 §1.3 example", async () => {
  assert.equal(await websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("ConnWebSocket: masked binary messages of every length class arrive as ArrayBuffers", async () => {
  const pair = await Pair.open();
  const sizes = [0, 1, 125, 126, 65535, 65536, 200_000];
  const payloads = sizes.map((n) => crypto.getRandomValues(new Uint8Array(Math.min(n, 65536))));
  // getRandomValues is capped at 64 KiB: tile larger payloads.
  const full = sizes.map((n, i) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += payloads[i].length || 1) out.set(payloads[i].subarray(0, n - off), off);
    return out;
  });
  // All frames in one write: several frames per read, and frames split across reads.
  const all = full.map((p) => clientFrame(2, p));
  const joined = new Uint8Array(all.reduce((s, f) => s + f.length, 0));
  let off = 0;
  for (const f of all) {
    joined.set(f, off);
    off += f.length;
  }
  await pair.write(joined);
  await until("every message", () => pair.messages.length === sizes.length);
  for (let i = 0; i < sizes.length; i++) {
    const m = pair.messages[i];
    assert.ok(m instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(m), full[i], `message of ${sizes[i]} bytes`);
  }
  pair.server.close(1000, "bye");
  assert.equal(await pair.closeCode(), 1000);
  await pair.write(clientFrame(8, new Uint8Array([0x03, 0xe8])));
  const event = await pair.closed;
  assert.equal(event.code, 1000);
  assert.equal(event.wasClean, true);
  await pair.end();
});

Deno.test("ConnWebSocket: the read buffer grows under a burst and drops back once the peer is quiet", async () => {
  const pair = await Pair.open();
  assert.equal(
    pair.server.readBufferBytes,
    READ_BUFFER_MIN_BYTES,
    "a new connection waits with a small buffer",
  );
  // A burst: 40 frames of 20 KiB in one write fill the buffer read after read.
  const burst = Array.from({ length: 40 }, (_, i) => new Uint8Array(20_000).fill(i));
  await pair.write(...burst.map((p) => clientFrame(2, p)));
  await until("the burst", () => pair.messages.length === burst.length);
  burst.forEach((p, i) => assert.deepEqual(new Uint8Array(pair.messages[i] as ArrayBuffer), p));
  // Then small messages one at a time (a frame split in two writes across the small buffer too).
  for (let i = 0; i < 3; i++) {
    await pair.write(clientFrame(2, new Uint8Array([i])));
    await until("a small message", () => pair.messages.length === burst.length + i + 1);
  }
  assert.equal(
    pair.server.readBufferBytes,
    READ_BUFFER_MIN_BYTES,
    "quiet again: the grown buffer was let go",
  );
  const split = clientFrame(2, new Uint8Array(3_000).fill(9));
  await pair.write(split.subarray(0, 400));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await pair.write(split.subarray(400));
  await until("the split message", () => pair.messages.length === burst.length + 4);
  assert.deepEqual(
    new Uint8Array(pair.messages[burst.length + 3] as ArrayBuffer),
    new Uint8Array(3_000).fill(9),
  );
  assert.ok(pair.server.readBufferBytes <= READ_BUFFER_MAX_BYTES);
  await pair.end();
  assert.equal((await pair.closed).code, 1006);
});

Deno.test("ConnWebSocket: payloads at every alignment and length around the word-wise unmask arrive intact", async () => {
  const pair = await Pair.open();
  // Lengths around the word-wise threshold (64) and odd ones, sent back to back so each payload
  // starts at a different offset (alignment) of the read buffer.
  const lengths: number[] = [];
  for (let n = 56; n <= 75; n++) lengths.push(n);
  lengths.push(1, 2, 3, 127, 129, 1001, 4099, 16_383, 70_001);
  const payloads = lengths.map((n, i) => {
    const out = new Uint8Array(n);
    for (let j = 0; j < n; j++) out[j] = (j * 7 + i * 13) & 0xff;
    return out;
  });
  await pair.write(...payloads.map((p) => clientFrame(2, p)));
  await until("every message", () => pair.messages.length === payloads.length);
  for (let i = 0; i < payloads.length; i++) {
    assert.deepEqual(
      new Uint8Array(pair.messages[i] as ArrayBuffer),
      payloads[i],
      `message of ${lengths[i]} bytes`,
    );
  }
  await pair.end();
});

Deno.test("ConnWebSocket: server frames are unmasked; messages sent together share one write", async () => {
  const pair = await Pair.open();
  for (let i = 0; i < 100; i++) pair.server.send(new Uint8Array([i, i, i]));
  assert.equal(pair.server.bufferedAmount, 100 * 5);
  for (let i = 0; i < 100; i++) {
    const frame = await pair.readFrame();
    assert.ok(frame);
    assert.equal(frame.masked, false);
    assert.equal(frame.opcode, 2);
    assert.equal(frame.fin, true);
    assert.deepEqual([...frame.payload], [i, i, i]);
  }
  await until("the write to finish", () => pair.server.bufferedAmount === 0);
  const big = new Uint8Array(70_000).fill(7);
  pair.server.send(big);
  const frame = await pair.readFrame();
  assert.equal(frame?.payload.length, 70_000);
  await pair.end();
  assert.equal((await pair.closed).code, 1006);
});

Deno.test("ConnWebSocket: a burst larger than a send chunk arrives intact and in order", async () => {
  const pair = await Pair.open();
  // Lengths around every header class and chunk edge; each payload a pattern of its index.
  const lengths = [1, 125, 126, 16_360, 65_535, 65_536, 3, 100_000, 200_000, 70_000, 0, 40_000, 65_526];
  const sent: Uint8Array[] = [];
  let expected = 0;
  const queue = (length: number) => {
    const payload = new Uint8Array(length);
    for (let j = 0; j < length; j++) payload[j] = (j * 31 + sent.length) & 0xff;
    pair.server.send(payload);
    sent.push(payload);
    expected += (length < 126 ? 2 : length < 65536 ? 4 : 10) + length;
  };
  for (let round = 0; round < 3; round++) for (const length of lengths) queue(length);
  assert.equal(pair.server.bufferedAmount, expected);
  await Promise.resolve(); // the first write is in flight: what follows queues behind it
  for (const length of lengths) queue(length);
  for (const payload of sent) {
    const frame = await pair.readFrame();
    assert.ok(frame);
    assert.equal(frame.opcode, 2);
    assert.equal(frame.payload.length, payload.length);
    assert.ok(frame.payload.every((b, j) => b === payload[j]), `message of ${payload.length} bytes differs`);
  }
  await until("the writes to finish", () => pair.server.bufferedAmount === 0);
  await pair.end();
});

Deno.test("ConnWebSocket: beginBinary frames a message the caller writes in place", async () => {
  const pair = await Pair.open();
  const lengths = [0, 1, 125, 126, 1000, 16_000, MAX_DIRECT_MESSAGE_BYTES, 3];
  pair.server.send(new Uint8Array([9])); // mixed with copied sends
  for (const length of lengths) {
    const at = pair.server.beginBinary(length);
    assert.ok(at >= 2);
    const out = pair.server.sendBuffer;
    for (let j = 0; j < length; j++) out[at + j] = (j + length) & 0xff;
  }
  pair.server.send(new Uint8Array([8]));
  assert.deepEqual([...(await pair.readFrame())!.payload], [9]);
  for (const length of lengths) {
    const frame = await pair.readFrame();
    assert.ok(frame);
    assert.equal(frame.opcode, 2);
    assert.equal(frame.fin, true);
    assert.equal(frame.payload.length, length);
    assert.ok(
      frame.payload.every((b, j) => b === ((j + length) & 0xff)),
      `message of ${length} bytes differs`,
    );
  }
  assert.deepEqual([...(await pair.readFrame())!.payload], [8]);
  assert.throws(() => pair.server.beginBinary(MAX_DIRECT_MESSAGE_BYTES + 1), RangeError);
  await pair.end();
  assert.equal(pair.server.beginBinary(10), -1); // closed: nothing is sent
});

Deno.test("ConnWebSocket: beginBinary past the write queue cap drops the connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
  const conn = await accepted;
  listener.close();
  const server = new ConnWebSocket(conn, { protocol: "", idleTimeoutMs: 0, maxWriteQueueBytes: 64 * 1024 });
  const closed = new Promise<CloseEvent>((resolve) =>
    server.addEventListener("close", (e) => resolve(e as CloseEvent), { once: true })
  );
  const running = server.run(btoa("0123456789abcdef"), new Uint8Array(0));
  await new Promise((resolve) => server.addEventListener("open", resolve, { once: true }));
  let accepted4 = 0;
  while (server.beginBinary(16_000) >= 0) accepted4++; // the client never reads
  assert.equal(accepted4, 4);
  assert.equal((await closed).code, 1006);
  client.close();
  await running;
});

Deno.test("ConnWebSocket: fragmented messages with interleaved pings are reassembled; ping gets pong", async () => {
  const pair = await Pair.open();
  await pair.write(
    clientFrame(2, enc.encode("hel"), { fin: false }),
    clientFrame(9, enc.encode("p1")),
    clientFrame(0, enc.encode("lo "), { fin: false }),
    clientFrame(0, enc.encode("world")),
    clientFrame(1, enc.encode("text ok")),
  );
  const pong = await pair.readFrame();
  assert.equal(pong?.opcode, 10);
  assert.equal(dec.decode(pong?.payload), "p1");
  await until("both messages", () => pair.messages.length === 2);
  assert.equal(dec.decode(pair.messages[0] as ArrayBuffer), "hello world");
  assert.equal(pair.messages[1], "text ok");
  await pair.end();
});

Deno.test("ConnWebSocket: the peer's close is echoed and the connection closes cleanly", async () => {
  const pair = await Pair.open();
  const reason = enc.encode("done");
  await pair.write(clientFrame(8, new Uint8Array([0x0f, 0xa0, ...reason]))); // 4000 "done"
  assert.equal(await pair.closeCode(), 4000);
  const event = await pair.closed;
  assert.equal(event.code, 4000);
  assert.equal(event.reason, "done");
  assert.equal(event.wasClean, true);
  assert.equal(await pair.readFrame(), null, "the server closed TCP");
  await pair.end();
});

for (
  const [name, frames, code] of [
    ["an unmasked client frame", [clientFrame(2, new Uint8Array([1]), { mask: false })], 1002],
    ["an unknown data opcode", [clientFrame(3, new Uint8Array([1]))], 1002],
    ["an unknown control opcode", [clientFrame(0xb, new Uint8Array(0))], 1002],
    ["reserved bits", [(() => {
      const f = clientFrame(2, new Uint8Array([1]));
      f[0] |= 0x40;
      return f;
    })()], 1002],
    ["a continuation without a first fragment", [clientFrame(0, new Uint8Array([1]))], 1002],
    ["a new message inside a fragmented one", [
      clientFrame(2, new Uint8Array([1]), { fin: false }),
      clientFrame(2, new Uint8Array([2])),
    ], 1002],
    ["a fragmented ping", [clientFrame(9, new Uint8Array([1]), { fin: false })], 1002],
    ["a 126-byte ping", [clientFrame(9, new Uint8Array(126))], 1002],
    ["a message over the cap", [clientFrame(2, new Uint8Array(1025))], 1009],
    ["fragments over the cap", [
      clientFrame(2, new Uint8Array(600), { fin: false }),
      clientFrame(0, new Uint8Array(600)),
    ], 1009],
    ["invalid UTF-8 text", [clientFrame(1, new Uint8Array([0xff, 0xfe]))], 1007],
    ["a close code that may not be sent", [clientFrame(8, new Uint8Array([0x03, 0xed]))], 1002],
  ] as Array<[string, Uint8Array[], number]>
) {
  Deno.test(`ConnWebSocket: ${name} closes with ${code}`, async () => {
    const pair = await Pair.open({ maxMessageBytes: 1024 });
    await pair.write(...frames);
    assert.equal(await pair.closeCode(), code);
    const event = await pair.closed;
    assert.equal(event.code, code);
    assert.equal(event.wasClean, false);
    assert.equal(pair.messages.length, 0, "nothing was delivered");
    assert.equal(await pair.readFrame(), null, "the server closed TCP");
    await pair.end();
  });
}

Deno.test("ConnWebSocket: a silent peer is pinged after half the idle timeout and closed with 1001", async () => {
  const pair = await Pair.open({ idleTimeoutMs: 300 });
  const ping = await pair.readFrame();
  assert.equal(ping?.opcode, 9);
  assert.equal(await pair.closeCode(), 1001);
  assert.equal((await pair.closed).code, 1001);
  await pair.end();
});

Deno.test("ConnWebSocket: pongs keep a quiet peer alive", async () => {
  const pair = await Pair.open({ idleTimeoutMs: 300 });
  for (let i = 0; i < 3; i++) {
    const ping = await pair.readFrame();
    assert.equal(ping?.opcode, 9);
    await pair.write(clientFrame(10, ping!.payload));
  }
  assert.equal(pair.server.readyState, 1);
  await pair.end();
});

Deno.test("ConnWebSocket: send() before open throws, after close it is ignored", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
  const conn = await accepted;
  listener.close();
  const socket = new ConnWebSocket(conn, { protocol: "", idleTimeoutMs: 0 });
  assert.throws(() => socket.send(new Uint8Array([1])), /not open/);
  assert.throws(() => socket.close(1001), /1000 or 3000-4999/);
  socket.close();
  assert.equal(socket.readyState, 3);
  socket.send(new Uint8Array([1]));
  assert.equal(socket.bufferedAmount, 0);
  client.close();
});
