/**
 * `[server.tcp]` and `[server.unix]` end to end with moq-lite-05, which the plaintext listeners
 * offer first: a raw lite-05 client written here (the relay's own qmux byte-stream dialer and
 * lite-05 codecs) names its root and `?jwt=` in the SETUP Path, as on raw QUIC. A valid token
 * publishes over TCP and subscribes over a Unix socket byte-exact; a missing or forged token, a
 * token for another root and a Role the token does not allow are refused with close code 6; the
 * token's root scopes the paths. Plus the handshake-slot attack: idle connections cannot lock
 * well-behaved workers out of the listener.
 *
 * @module
 */

import assert from "node:assert/strict";
import { signToken } from "../auth/mod.ts";
import { silentLogger } from "../log/mod.ts";
import {
  BidiType05,
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeGroupHeader05,
  decodeSubscribe05,
  decodeTrack,
  encodeAnnounceRequest,
  encodeFrame05,
  encodeGroupHeader05,
  encodeStreamType05,
  encodeSubscribe05,
  encodeSubscribeResponse05,
  encodeTrackInfo,
  FrameTimestampDecoder,
  FrameTimestampEncoder,
  readFrame05,
  readSubscribeResponse05,
  Role,
  UniType05,
} from "../session/mod.ts";
import { dialQmuxStream, StreamReader, type TransportSession } from "../transport/mod.ts";
import {
  answerAnnounce05,
  freePort,
  generateTestKey,
  readRelaySetup05,
  type RelayProcess,
  sendSetup05,
  startRelay,
  within,
} from "../testing/mod.ts";

interface Fixture {
  relay: RelayProcess;
  dir: string;
  tcp: string;
  socketPath: string;
  /** Signs a token with the relay's key. */
  sign: (claims: Record<string, unknown>) => Promise<string>;
}

/** A relay with `[server.tcp]` and `[server.unix]` that admits only tokens signed with a fresh key. */
async function tokenRelay(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "moq-stream-listener-" });
  const { keyPath, key } = await generateTestKey(`${dir}/key.jwk`);
  const tcp = `127.0.0.1:${freePort()}`;
  const socketPath = `${dir}/moq.sock`;
  const relay = await startRelay({
    auth: `key = "${keyPath}"`,
    toml: `[server.tcp]\nbind = "${tcp}"\n[server.unix]\nbind = "${socketPath}"\n[stats]\nenabled = true`,
    internal: true,
  });
  return { relay, dir, tcp, socketPath, sign: (claims) => signToken(key, claims) };
}

async function connect(kind: "tcp" | "unix", f: Fixture): Promise<Deno.Conn> {
  if (kind === "unix") return await Deno.connect({ transport: "unix", path: f.socketPath });
  const [hostname, port] = f.tcp.split(":");
  return await Deno.connect({ hostname, port: Number(port) });
}

/** Dial qmux (moq-lite-05) on `kind` and send a SETUP with `path` and `role`. */
async function dial05(
  kind: "tcp" | "unix",
  f: Fixture,
  path: string | undefined,
  role: Role,
): Promise<TransportSession> {
  const session = await dialQmuxStream(await connect(kind, f), {
    kind,
    protocols: ["moq-lite-05", "moq-lite-04"],
    peer: "relay",
    logger: silentLogger(),
  });
  assert.equal(session.protocol, "moq-lite-05", "the plaintext listener prefers moq-lite-05");
  await sendSetup05(session, role, path);
  return session;
}

/** The close code of a session the relay refuses. */
async function refusedWith(session: TransportSession): Promise<number> {
  return (await within(10_000, "the relay closes the session", session.closed)).code;
}

/**
 * A raw lite-05 publisher: answers the relay's ANNOUNCE_REQUEST with `broadcast`, TRACK with
 * TRACK_INFO and SUBSCRIBE with START and one group of `frames`.
 */
async function publish(session: TransportSession, broadcast: string, frames: Uint8Array[]): Promise<void> {
  await answerAnnounce05(session, broadcast);
  (async () => {
    for (;;) {
      const stream = await session.acceptBidi().catch(() => null);
      if (stream === null) return;
      const r = new StreamReader(stream.recv);
      const type = await r.varint();
      if (type === BidiType05.Track) {
        const track = decodeTrack(await r.message(4096));
        assert.equal(track.broadcast, broadcast);
        await stream.send.write(
          encodeTrackInfo({ priority: 1, ordered: true, maxLatencyMs: 10_000, timescale: 1_000 }),
        );
        await stream.send.close();
      } else if (type === BidiType05.Subscribe) {
        const sub = decodeSubscribe05(await r.message(4096));
        await stream.send.write(encodeSubscribeResponse05({ type: "start", group: 0 }));
        const group = await session.openUni();
        await group.write(encodeGroupHeader05({ subscribeId: sub.id, sequence: 0 }));
        const clock = new FrameTimestampEncoder();
        for (const [i, payload] of frames.entries()) {
          await group.write(encodeFrame05(clock, BigInt(1_000 + i * 33), payload));
        }
        await group.close();
      }
    }
  })().catch(() => {});
}

/** Subscribe to `broadcast`/`track` and read the first group's payloads, or the reset code. */
async function subscribeOnce(
  session: TransportSession,
  broadcast: string,
  track: string,
  id = 1n,
): Promise<{ payloads: Uint8Array[] } | { reset: string }> {
  const stream = await session.openBidi();
  await stream.send.write(encodeStreamType05(BidiType05.Subscribe));
  await stream.send.write(
    encodeSubscribe05({ id, broadcast, track, priority: 1, ordered: true, maxLatencyMs: 10_000 }),
  );
  const r = new StreamReader(stream.recv);
  try {
    const response = await within(10_000, "the subscribe response", readSubscribeResponse05(r));
    assert.equal(response?.type, "start");
  } catch (e) {
    return { reset: e instanceof Error ? e.message : String(e) };
  }
  const uni = await within(10_000, "the group stream", session.acceptUni());
  assert.ok(uni);
  const g = new StreamReader(uni);
  assert.equal(await g.varint(), UniType05.Group);
  const header = decodeGroupHeader05(await g.message(64));
  assert.equal(header.sequence, 0);
  const clock = new FrameTimestampDecoder();
  const payloads: Uint8Array[] = [];
  for (;;) {
    const frame = await within(10_000, "a frame", readFrame05(g, clock, 1 << 20));
    if (frame === null) break;
    payloads.push(frame.payload.slice());
  }
  return { payloads };
}

Deno.test({
  name: "[server.tcp] + [server.unix] lite-05: the SETUP Path's ?jwt= authorises; root scopes; roles checked",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const f = await tokenRelay();
  try {
    const token = await f.sign({ root: "room", put: [""], get: [""] });
    const frames = [
      new Uint8Array(40_000).map((_, i) => i * 7),
      Uint8Array.of(1),
      new Uint8Array(16_400).map((_, i) => 255 - (i & 0xff)),
    ];
    // Publisher over TCP, subscriber over the Unix socket, both rooted at `room`.
    const pub = await dial05("tcp", f, `/room?jwt=${token}`, Role.Publisher);
    await readRelaySetup05(pub);
    await publish(pub, "cam", frames);
    const sub = await dial05("unix", f, `/room?jwt=${token}`, Role.Subscriber);
    await readRelaySetup05(sub);
    const got = await subscribeOnce(sub, "cam", "video");
    assert.ok("payloads" in got, `subscribed: ${JSON.stringify(got)}`);
    assert.deepEqual(got.payloads, frames, "byte-exact over TCP → relay → Unix socket");

    // The subscriber asks for announcements: `cam` is announced to it.
    const interest = await sub.openBidi();
    await interest.send.write(encodeStreamType05(BidiType05.Announce));
    await interest.send.write(encodeAnnounceRequest({ prefix: "", excludeHop: 0n }));
    const ir = new StreamReader(interest.recv);
    decodeAnnounceOk(await within(10_000, "ANNOUNCE_OK", ir.message(4096)));
    const announced = decodeAnnounceBroadcast(await within(10_000, "ANNOUNCE", ir.message(4096)));
    assert.deepEqual([announced.active, announced.suffix], [true, "cam"]);

    // [stats] counts these sessions under the root their SETUP Path authorised, and the traffic
    // under the broadcast path.
    const statsToken = await f.sign({ root: ".stats", get: [""] });
    const watcher = await dial05("tcp", f, `/.stats?jwt=${statsToken}`, Role.Subscriber);
    await readRelaySetup05(watcher);
    const sessions = await subscribeOnce(watcher, "node", "sessions.json");
    assert.ok("payloads" in sessions, JSON.stringify(sessions));
    const present = JSON.parse(new TextDecoder().decode(sessions.payloads[0]));
    assert.ok(
      present.room?.sessions >= 2,
      `sessions.json counts the lite-05 sessions under room: ${JSON.stringify(present)}`,
    );
    const egress = await subscribeOnce(watcher, "node", "publisher.json", 2n);
    assert.ok("payloads" in egress, JSON.stringify(egress));
    const cam = JSON.parse(new TextDecoder().decode(egress.payloads[0]))["room/cam"];
    assert.ok(cam, "publisher.json has room/cam");
    assert.ok(cam.bytes >= 56_401 && cam.frames === 3 && cam.groups === 1, JSON.stringify(cam));
    assert.equal(cam.broadcasts, 1, "one viewer");
    assert.equal(cam.announced, 1, "announced to the subscriber once");
    assert.equal(cam.announced_bytes, "room/cam".length);
    watcher.close(0, "done");

    // The token's root scopes the paths: a session rooted at `other` does not see room/cam.
    const otherToken = await f.sign({ root: "other", get: [""] });
    const outsider = await dial05("tcp", f, `/other?jwt=${otherToken}`, Role.Subscriber);
    await readRelaySetup05(outsider);
    assert.ok("reset" in await subscribeOnce(outsider, "cam", "video"), "other/cam does not exist");
    // A token with the `room` root may narrow it: `/room/cam` is a valid path for it.
    const narrowed = await dial05("unix", f, `/room/cam?jwt=${token}`, Role.Subscriber);
    await readRelaySetup05(narrowed);
    narrowed.close(0, "done");

    const metrics = await (await fetch(`${f.relay.internalUrl}/metrics`)).text();
    assert.match(metrics, /moq_relay_sessions\{transport="tcp",version="moq-lite-05"\} [12]/);
    assert.match(metrics, /moq_relay_sessions\{transport="unix",version="moq-lite-05"\} [12]/);
    for (const listener of ["tcp", "unix"]) {
      for (const cls of ["connection", "exhausted", "unknown"]) {
        assert.match(
          metrics,
          new RegExp(`moq_relay_accept_failures_total\\{class="${cls}",listener="${listener}"\\} 0`),
        );
      }
      assert.match(metrics, new RegExp(`moq_relay_accept_stalled_seconds\\{listener="${listener}"\\} 0`));
    }

    // Refusals, close code 6: no token, a forged one, a token for another root, no Path at all,
    // and a Role the token does not allow (a subscribe-only token asking to publish).
    const readOnly = await f.sign({ root: "room", get: [""] });
    const writeOnly = await f.sign({ root: "room", put: [""] });
    const refusals: [string, "tcp" | "unix", string | undefined, Role][] = [
      ["no token", "tcp", "/room", Role.Both],
      ["forged", "unix", `/room?jwt=${token.slice(0, -4)}AAAA`, Role.Both],
      ["another root", "tcp", `/elsewhere?jwt=${token}`, Role.Both],
      ["no Path", "unix", undefined, Role.Both],
      ["publish with a read-only token", "tcp", `/room?jwt=${readOnly}`, Role.Publisher],
      ["subscribe with a write-only token", "unix", `/room?jwt=${writeOnly}`, Role.Subscriber],
    ];
    for (const [what, kind, path, role] of refusals) {
      const refused = await dial05(kind, f, path, role);
      assert.equal(await refusedWith(refused), 6, `${what} over ${kind} is refused with 6`);
    }
    // The read-only token still subscribes.
    const reader = await dial05("tcp", f, `/room?jwt=${readOnly}`, Role.Subscriber);
    await readRelaySetup05(reader);
    reader.close(0, "done");
    assert.ok(
      f.relay.logs.every((l) => !l.includes(token.slice(-20)) && !l.includes(readOnly.slice(-20))),
      "tokens never reach the relay log",
    );
    pub.close(0, "done");
    sub.close(0, "done");
    outsider.close(0, "done");
  } finally {
    await f.relay.stop("SIGKILL");
    await Deno.remove(f.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "attack: idle connections filling the handshake slots cannot lock local workers out of [server.tcp]",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const f = await tokenRelay();
  const idle: Deno.Conn[] = [];
  try {
    const token = await f.sign({ root: "room", put: [""], get: [""] });
    // 200 connections that never send their transport parameters (more than every slot).
    for (let i = 0; i < 200; i++) idle.push(await connect("tcp", f));
    // A worker connecting right after gets its handshake through, long before any deadline.
    const started = Date.now();
    const worker = await within(
      5_000,
      "the worker's handshake",
      dial05("tcp", f, `/room?jwt=${token}`, Role.Subscriber),
    );
    await readRelaySetup05(worker);
    assert.ok(Date.now() - started < 2_500, `handshake took ${Date.now() - started} ms`);
    worker.close(0, "done");
    // The same over the Unix socket, whose peers are indistinguishable: the listener-wide cap.
    for (let i = 0; i < 100; i++) idle.push(await connect("unix", f));
    const local = await within(
      5_000,
      "the Unix worker's handshake",
      dial05("unix", f, `/room?jwt=${token}`, Role.Subscriber),
    );
    await readRelaySetup05(local);
    local.close(0, "done");
    // Idle connections do not hold a slot for long: the relay closes the last of them within the
    // handshake deadline (a few seconds), not 10 s.
    const last = idle[idle.length - 1];
    const closedAt = Date.now();
    const n = await within(
      8_000,
      "the idle connection is closed",
      last.read(new Uint8Array(16)).catch(() => null),
    );
    assert.equal(n, null);
    assert.ok(Date.now() - closedAt < 6_000);
    const health = await fetch(`${f.relay.httpUrl}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    for (const c of idle) {
      try {
        c.close();
      } catch {
        // closed
      }
    }
    await f.relay.stop("SIGKILL");
    await Deno.remove(f.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "out of descriptors: [server.tcp] counts exhausted accepts, reports the stall, and recovers",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: Deno.build.os !== "linux",
}, async () => {
  const tcpPort = freePort();
  const httpPort = freePort();
  const internalPort = freePort();
  // A relay limited to few descriptors (prlimit), so workers can exhaust them.
  const child = new Deno.Command("prlimit", {
    args: [
      "--nofile=96",
      Deno.execPath(),
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "--server-bind",
      "",
      "--web-http-listen",
      `127.0.0.1:${httpPort}`,
      "--internal-listen",
      `127.0.0.1:${internalPort}`,
      "--auth-public",
      "anon",
    ],
    env: { NO_COLOR: "1", MOQ_SERVER_TCP_BIND: `127.0.0.1:${tcpPort}` },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) logs.push(chunk);
  })();
  const sessions: TransportSession[] = [];
  const metric = async (re: RegExp) => {
    const text = await (await fetch(`http://127.0.0.1:${internalPort}/metrics`)).text();
    const m = re.exec(text);
    assert.ok(m, `${re} in\n${text.split("\n").filter((l) => l.includes("accept")).join("\n")}`);
    return Number(m[1]);
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/health`);
        await res.body?.cancel();
        if (res.ok) break;
      } catch {
        // not up yet
      }
      assert.ok(Date.now() < deadline, `the relay starts:\n${logs.join("")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Complete qmux sessions hold a descriptor each until the process has none left; the next
    // connection then waits in the kernel's backlog while accept(2) fails.
    const dial = async () =>
      await dialQmuxStream(await Deno.connect({ hostname: "127.0.0.1", port: tcpPort }), {
        kind: "tcp",
        protocols: ["moq-lite-04"],
        peer: "relay",
        logger: silentLogger(),
        timeoutMs: 1_500,
      });
    let stalled = false;
    for (let i = 0; i < 120 && !stalled; i++) {
      try {
        sessions.push(await dial());
      } catch {
        stalled = true;
      }
    }
    assert.ok(stalled, "the relay ran out of descriptors");
    for (const s of sessions) s.close(0, "done");
    sessions.length = 0;
    // Descriptors are back: the listener accepts again, and the episode is on /metrics.
    const recovered = await within(
      10_000,
      "a session after the episode",
      (async () => {
        for (;;) {
          try {
            return await dial();
          } catch {
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      })(),
    );
    recovered.close(0, "done");
    assert.ok(
      await metric(/^moq_relay_accept_failures_total\{class="exhausted",listener="tcp"\} (\d+)$/m) >= 1,
    );
    assert.equal(await metric(/^moq_relay_accept_stalled_seconds\{listener="tcp"\} (\S+)$/m), 0);
    const text = logs.join("");
    assert.equal(
      text.split("\n").filter((l) => l.includes("cannot accept connections")).length,
      1,
      "one warning for the episode",
    );
  } finally {
    for (const s of sessions) s.close(0, "done");
    child.kill("SIGKILL");
    await child.status;
    await reading.catch(() => {});
  }
});
