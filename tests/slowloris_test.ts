/**
 * Attack test (project issue 13): 300 slow-loris TCP connections dribble a WebSocket upgrade
 * request one byte every 2 s. The web listener must close them within its header deadline
 * (10 s) plus a margin, while a real `@moq/lite` publisher/viewer pair keeps working and
 * `/health` keeps answering within 1 s.
 */

import assert from "node:assert/strict";
import { HEADERS_DEADLINE_MS } from "../http/mod.ts";
import { connect, e2e, payload, publish, readGroup, sleep, subscribe, writeGroup } from "../testing/mod.ts";

const ATTACKERS = 300;
const DRIBBLE_MS = 2_000;
/** The relay's header deadline plus a margin for a loaded machine. */
const CLOSED_WITHIN_MS = HEADERS_DEADLINE_MS + 6_000;

const REQUEST = new TextEncoder().encode(
  "GET /anon HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
);

/** One slow-loris connection: resolves with how long the relay kept it open (Infinity = never closed). */
async function dribble(port: number, stopAt: number): Promise<number> {
  const opened = Date.now();
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return 0; // refused at once
  }
  let closedAt: number | undefined;
  const reader = (async () => {
    const buf = new Uint8Array(512);
    try {
      while ((await conn.read(buf)) !== null) { /* the relay never answers a partial request */ }
    } catch {
      // reset
    }
    closedAt = Date.now();
  })();
  for (let i = 0; i < REQUEST.length && closedAt === undefined && Date.now() < stopAt; i++) {
    try {
      await conn.write(REQUEST.subarray(i, i + 1));
    } catch {
      closedAt ??= Date.now();
      break;
    }
    await Promise.race([sleep(DRIBBLE_MS), reader]);
  }
  try {
    conn.close();
  } catch {
    // closed
  }
  await reader;
  return closedAt !== undefined && closedAt < stopAt ? closedAt - opened : Infinity;
}

e2e(
  "300 slow-loris connections are closed by the header deadline; real clients and /health carry on",
  async (relay) => {
    const stopAt = Date.now() + CLOSED_WITHIN_MS + 4_000;
    const attack = Promise.all(Array.from({ length: ATTACKERS }, () => dribble(relay.port, stopAt)));
    await sleep(1_000);

    // A legitimate publisher and viewer work during the attack.
    const pubConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "loris/cam");
    const viewerConn = await connect(relay.port, "anon");
    const track = await subscribe(viewerConn, "loris/cam", "video");
    const upstream = await pub.request();
    const healthMs: number[] = [];
    for (let g = 0; g < 5; g++) {
      writeGroup(upstream, [payload(1_000, g)]);
      const got = await readGroup(track);
      assert.deepEqual(got?.frames[0], payload(1_000, g), `group ${g} delivered during the attack`);
      const t0 = Date.now();
      const res = await fetch(`${relay.httpUrl}/health`);
      await res.body?.cancel();
      healthMs.push(Date.now() - t0);
      assert.equal(res.status, 200);
      await sleep(1_000);
    }
    assert.ok(Math.max(...healthMs) < 1_000, `/health took ${healthMs.join(", ")} ms`);

    const lifetimes = await attack;
    const open = lifetimes.filter((ms) => !(ms <= CLOSED_WITHIN_MS));
    assert.equal(
      open.length,
      0,
      `${open.length} of ${ATTACKERS} slow connections outlived ${CLOSED_WITHIN_MS} ms`,
    );
    report(
      `slow-loris: ${ATTACKERS} connections closed after max ${Math.max(...lifetimes)} ms; /health max ${
        Math.max(...healthMs)
      } ms`,
    );
    // Still serving afterwards.
    writeGroup(upstream, [payload(10, 99)]);
    assert.deepEqual((await readGroup(track))?.frames[0], payload(10, 99));
    pubConn.close();
    viewerConn.close();
  },
  { auth: `public = "anon"` },
);

/** Print a measured figure (`@moq/lite`'s console is silenced by testing/moq.ts). */
function report(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}
