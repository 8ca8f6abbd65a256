/**
 * Attacks on the plaintext qmux listeners ([server.tcp]): one address must not take every
 * handshake slot of the listener with idle connections (slowloris), which would lock every other
 * TCP client out for the handshake timeout; nor hold more live sessions than one address may.
 */

import assert from "node:assert/strict";
import { freePort, RawMoqPeer, sleep, startRelay, within } from "../testing/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { dialQmuxStream, type TransportSession } from "../transport/mod.ts";
import { MAX_CONNECTIONS_PER_IP } from "../http/mod.ts";
import { CODE_BOUNDS_EXCEEDED } from "../server/mod.ts";

/** Resolves true once the relay ends the connection (EOF or reset), false after `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(64);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const read = conn.read(buf).then((n) => n === null, () => true);
  try {
    return await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "attack: idle TCP connections from one address are refused past the per-address handshake cap",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const tcpPort = freePort();
  const relay = await startRelay({ toml: `[server.tcp]\nbind = "127.0.0.1:${tcpPort}"` });
  const idle: Deno.Conn[] = [];
  try {
    // 64 idle connections filled every handshake slot of the listener before the fix.
    for (let i = 0; i < 64; i++) idle.push(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }));
    const closed = await Promise.all(idle.map((c) => closedWithin(c, 3_000)));
    const refused = closed.filter((c) => c).length;
    assert.ok(refused >= 48, `only ${refused} of 64 idle connections from one address were refused at once`);
    // The relay still serves a real session once the idle ones are gone.
    for (const c of idle) c.close();
    idle.length = 0;
    // (The relay notices the closed idle ones asynchronously: retry briefly.)
    const deadline = Date.now() + 10_000;
    let peer: RawMoqPeer | undefined;
    while (peer === undefined) {
      try {
        peer = RawMoqPeer.over(
          await within(
            10_000,
            "qmux handshake after the flood",
            dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
              peer: "relay",
              logger: silentLogger(),
              kind: "tcp",
              protocols: ["moq-lite-04"],
            }),
          ),
        );
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await peer.announce("cam");
    peer.close();
  } finally {
    for (const c of idle) {
      try {
        c.close();
      } catch {
        // closed
      }
    }
    await relay.stop("SIGKILL");
  }
});

Deno.test({
  name: "attack: live TCP qmux sessions from one address are capped like QUIC and WebSocket connections",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const tcpPort = freePort();
  const relay = await startRelay({ toml: `[server.tcp]\nbind = "127.0.0.1:${tcpPort}"` });
  const sessions: TransportSession[] = [];
  let closedEarly = 0;
  const dial = async () =>
    await dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
      peer: "relay",
      logger: silentLogger(),
      kind: "tcp",
      protocols: ["moq-lite-04"],
    });
  try {
    // MAX_CONNECTIONS_PER_IP sessions, a few handshakes at a time (the per-address handshake cap).
    while (sessions.length < MAX_CONNECTIONS_PER_IP) {
      const batch = Math.min(4, MAX_CONNECTIONS_PER_IP - sessions.length);
      const dialed = await Promise.all(Array.from({ length: batch }, dial));
      for (const s of dialed) s.closed.then(() => closedEarly++);
      sessions.push(...dialed);
    }
    await sleep(500);
    assert.equal(closedEarly, 0, "the first MAX_CONNECTIONS_PER_IP sessions stay open");
    // One more from the same address is closed with BOUNDS_EXCEEDED.
    const extra = await dial();
    const info = await within(5_000, "the extra session is closed", extra.closed);
    assert.equal(info.code, CODE_BOUNDS_EXCEEDED);
    await relay.waitForLog(/too many qmux sessions from one address/, 5_000);
  } finally {
    closedEarly = -Infinity;
    for (const s of sessions) s.close(0, "");
    await relay.stop("SIGKILL");
  }
});
