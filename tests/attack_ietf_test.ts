/**
 * Attacks on the IETF moq-transport sessions (drafts 14–20) through a raw client: per-session caps
 * on what a peer can keep in flight.
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  publishGroups,
  RawIetfPeer,
  type RelayProcess,
  standaloneFetch,
  within,
} from "../testing/mod.ts";
import type { BidiStream, TransportSession } from "../transport/mod.ts";
import { Ietf } from "../session/mod.ts";

const DRAFT: Draft = 16;
const NS = ["attack", "fetch"];
const OPTS = { server: `version = ["moq-transport-${DRAFT}"]` };
const OBJECT_BYTES = 60_000;

/** A publisher whose track `video` has 4 groups of 4 large objects in the relay's cache. */
async function cachedPublisher(relay: RelayProcess): Promise<RawIetfPeer> {
  const groups = [0, 1, 2, 3].map(() => [0, 1, 2, 3].map((o) => new Uint8Array(OBJECT_BYTES).fill(o)));
  return (await publishGroups(relay, DRAFT, NS, "video", 9, groups)).peer;
}

/** A raw client that never accepts the relay's uni streams: every FETCH stream it gets stalls. */
async function stalledSubscriber(relay: RelayProcess): Promise<RawIetfPeer> {
  const transport = await RawIetfPeer.dialWebSocket(relay.port, DRAFT);
  const stalled = new Proxy(transport, {
    get(target, prop) {
      if (prop === "acceptUni") return () => new Promise<never>(() => {});
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as TransportSession;
  return await RawIetfPeer.over(stalled, DRAFT, 100);
}

e2e(
  "attack: FETCH flood with unread fetch streams is capped per session; the relay stays responsive",
  async (relay) => {
    const pub = await cachedPublisher(relay);
    const sub = await stalledSubscriber(relay);
    const FETCHES = 80;
    // The client reads none of the fetch streams: once the connection window is full every FETCH
    // holds a blocked stream write (an encoded object copy) and its queued answer on the relay.
    for (let i = 0; i < FETCHES; i++) {
      await sub.request(standaloneFetch(NS, "video", [0, 0], [3, 0]));
    }
    // Without a cap every one of them was served (and held); with it the excess is refused, loudly.
    await relay.waitForLog(/too many FETCHes/, 10_000);
    const health = await within(2_000, "/health", fetch(`${relay.httpUrl}/health`));
    await health.body?.cancel();
    assert.equal(health.status, 200);
    // A bystander still fetches the same range completely.
    const other = await RawIetfPeer.connect(relay.port, DRAFT);
    const req = await other.request(standaloneFetch(NS, "video", [0, 0], [0, 0]));
    assert.equal((await within(5_000, "bystander FETCH_OK", req.next()))?.kind, "fetchOk");
    await eventually("bystander fetch stream", () => other.fetches.length > 0);
    assert.equal(other.fetches[0].objects.length, 4);
    assert.ok(
      relay.logs.some((l) => /FETCH/.test(l) && /too many|quota|limit/i.test(l)),
      "a warn line names the cap",
    );
    pub.close();
    sub.close();
    other.close();
  },
  OPTS,
);

e2e(
  "attack: a draft-16 peer that stops reading its control stream and floods requests is closed",
  async (relay) => {
    const transport = await RawIetfPeer.dialWebSocket(relay.port, DRAFT);
    let stalled = false;
    // After SETUP the client reads nothing more on its control stream: the relay's replies queue up.
    const deaf = new Proxy(transport, {
      get(target, prop) {
        if (prop === "openBidi") {
          return async () => {
            const s: BidiStream = await target.openBidi();
            return {
              ...s,
              send: s.send,
              recv: {
                read: () => stalled ? new Promise<never>(() => {}) : s.recv.read(),
                stop: (code: number) => s.recv.stop(code),
              },
            };
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as TransportSession;
    const peer = await RawIetfPeer.over(deaf, DRAFT, 100);
    stalled = true;
    const REQUESTS = 30_000;
    let last: Promise<void> = Promise.resolve();
    for (let i = 0; i < REQUESTS; i++) {
      last = peer.writeControl({
        kind: "trackStatus",
        requestId: 2 * i,
        namespace: ["nobody", "here"],
        name: "video",
        params: [],
      });
      if (i % 1000 === 999) await Promise.race([last.catch(() => {}), transport.closed]);
    }
    await last.catch(() => {});
    // Without a cap the session stayed open, each unanswered request (and its queued reply) kept.
    const closed = await within(30_000, "the relay closes the deaf session", transport.closed);
    assert.equal(closed.code, Ietf.SessionCode.TooManyRequests);
    await relay.waitForLog(/requests open at once/, 5_000);
    const health = await within(2_000, "/health", fetch(`${relay.httpUrl}/health`));
    await health.body?.cancel();
    assert.equal(health.status, 200);
  },
  OPTS,
);
