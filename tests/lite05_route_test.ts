/**
 * A route change under a lite-05 viewer: relays A (publisher), B and D (both linked to A) and C
 * (linked to B and D; viewers). The viewer on C watches announcements on a raw moq-lite-05 QUIC
 * session. Killing the relay that carries the route moves C to the other route; on lite-05 that is
 * at most a repeated `active` (a restart, draft-lcurley-moq-lite-05), never an ended → active flap.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Role } from "../session/mod.ts";
import type { TransportSession } from "../transport/mod.ts";
import {
  type ClusterKit,
  clusterTest,
  connect,
  dialLite05,
  eventually,
  metric,
  payload,
  publish,
  readGroup,
  type RelayProcess,
  sleep,
  startDiamond,
  subscribe,
  watchAnnounces05,
  writeGroup,
} from "../testing/mod.ts";

/** Relays here run with a 3 s QUIC idle timeout (1 s keep-alive), so a killed relay is noticed quickly. */
const SHORT_IDLE = `quic.idle_timeout = "3s"\nquic.keep_alive = "1s"`;

/** A raw lite-05 subscriber session on `relay`, watching every announcement; `events` grows as they arrive. */
async function watch05(relay: RelayProcess): Promise<{ session: TransportSession; events: string[] }> {
  const session = await dialLite05(relay, { role: Role.Subscriber });
  return { session, events: (await watchAnnounces05(session)).events };
}

clusterTest(
  "lite-05 route change across relays: the viewer's announce stream sees no ended → active flap",
  async (kit: ClusterKit) => {
    const { a, b, c, d } = await startDiamond(kit);
    // The links between our relays speak lite-05.
    await c.waitForLog(/negotiated version.*moq-lite-05/);

    const pubConn = await connect(a.port, "");
    const pub = await publish(pubConn, "route/x");
    const watcher = await watch05(c);
    await eventually("C's lite-05 viewer sees the broadcast", () => watcher.events.includes("+route/x"));
    // A subscription shows which route carries the broadcast (the one learned first).
    const viewer = await connect(c.port, "");
    const track = await subscribe(viewer, "route/x", "t");
    const upstream = await pub.request();
    let written = 0;
    const writer = setInterval(() => writeGroup(upstream, [payload(100, written++)]), 50);
    try {
      assert.ok(await readGroup(track), "the first group arrived");
      const viaB = await metric(b, "moq_relay_upstream_subscriptions");
      const viaD = await metric(d, "moq_relay_upstream_subscriptions");
      assert.equal(viaB + viaD, 1, "exactly one of B and D carries the track");
      const [victim, survivor] = viaB > 0 ? [b, d] : [d, b];
      await victim.stop("SIGKILL");
      await eventually(
        "the other route took over",
        async () => (await metric(survivor, "moq_relay_upstream_subscriptions")) === 1,
        15_000,
      );
      const after = written;
      for (;;) {
        const got = await readGroup(track, 10_000);
        assert.ok(got, "the subscription survived the route change");
        if (got.sequence > after) break;
      }
      await sleep(500);
      assert.ok(watcher.events.length >= 1, watcher.events.join(","));
      assert.ok(
        watcher.events.every((e) => e === "+route/x"),
        `only active (a restart at most), never ended: ${watcher.events.join(",")}`,
      );
    } finally {
      clearInterval(writer);
      pubConn.close();
      await sleep(200);
      viewer.close();
      watcher.session.close(0, "done");
    }
  },
  SHORT_IDLE,
);
