/**
 * Sessions that come and go leave nothing behind (issue 15): rounds of subscribers over raw QUIC and
 * WebSocket connect, subscribe to one broadcast and leave; after every round the relay's gauges on
 * `/metrics` are back where they started (sessions, tracks, upstream subscriptions, broadcasts) and
 * every subscription and viewer it counted opening it also counted closing. RSS is not asserted here
 * (see bench/README.md, memory and churn figures).
 *
 * @module
 */

import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import {
  e2e,
  type ParsedFamily,
  parseMetrics,
  RawMoqPeer,
  type RelayProcess,
  sleep,
  within,
} from "../testing/mod.ts";
import { dialQuic } from "../transport/mod.ts";

/** Sum of every sample of `name` (all label sets); 0 when absent. */
function total(families: Map<string, ParsedFamily>, name: string): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const sample of family.samples) if (sample.name === name) sum += sample.value;
  }
  return sum;
}

async function metrics(relay: RelayProcess): Promise<Map<string, ParsedFamily>> {
  const res = await fetch(`${relay.internalUrl}/metrics`);
  return parseMetrics(await res.text());
}

const GAUGES = [
  "moq_relay_sessions",
  "moq_relay_tracks",
  "moq_relay_upstream_subscriptions",
  "moq_relay_broadcasts",
];
const ROUNDS = 3;
const PER_TRANSPORT = 8;

e2e(
  "churn: rounds of QUIC and WebSocket subscribers leave the relay's gauges where they started",
  async (relay) => {
    const pub = await RawMoqPeer.connect(relay.port);
    await pub.announce("churn");
    // A first subscriber (kept) brings the track upstream, so every round sees the same baseline.
    const keeper = await RawMoqPeer.connect(relay.port);
    await within(5_000, "the keeper's SUBSCRIBE_OK", keeper.subscribe(1n, "churn", "t"));
    await sleep(300);
    const before = await metrics(relay);
    const baseline = GAUGES.map((name) => total(before, name));
    assert.equal(total(before, "moq_relay_sessions"), 2);
    for (let round = 0; round < ROUNDS; round++) {
      const peers: RawMoqPeer[] = [];
      for (let i = 0; i < PER_TRANSPORT; i++) {
        peers.push(await RawMoqPeer.connect(relay.port));
        const quic = await dialQuic(new URL(`http://127.0.0.1:${relay.port}/`), {
          logger: silentLogger(),
          alpns: ["moq-lite-04"],
        });
        peers.push(RawMoqPeer.over(quic));
      }
      // Raw QUIC carries no path: its session root is "", so it names the broadcast in full.
      await within(
        10_000,
        "every SUBSCRIBE_OK",
        Promise.all(
          peers.map((p) => p.subscribe(1n, p.transport.kind === "quic" ? "anon/churn" : "churn", "t")),
        ),
      );
      const during = await metrics(relay);
      assert.equal(
        total(during, "moq_relay_sessions"),
        2 + 2 * PER_TRANSPORT,
        `round ${round}: all connected`,
      );
      for (const p of peers) p.close();
      let now = GAUGES.map(() => -1);
      let after = during;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        after = await metrics(relay);
        now = GAUGES.map((name) => total(after, name));
        const opened = total(after, "moq_relay_subscriptions_opened_total");
        const closed = total(after, "moq_relay_subscriptions_closed_total");
        if (now.every((v, i) => v === baseline[i]) && opened - closed === 1) break;
        await sleep(100);
      }
      assert.deepEqual(
        Object.fromEntries(GAUGES.map((name, i) => [name, now[i]])),
        Object.fromEntries(GAUGES.map((name, i) => [name, baseline[i]])),
        `round ${round}: the gauges are back to their baseline`,
      );
      const opened = total(after, "moq_relay_subscriptions_opened_total");
      const closed = total(after, "moq_relay_subscriptions_closed_total");
      assert.equal(opened - closed, 1, `round ${round}: only the keeper's subscription is open`);
      const viewersOpen = total(after, "moq_relay_viewers_opened_total") -
        total(after, "moq_relay_viewers_closed_total");
      assert.equal(viewersOpen, 1, `round ${round}: only the keeper is a viewer`);
      assert.ok(opened >= 1 + (round + 1) * 2 * PER_TRANSPORT, "every subscription was counted");
    }
    keeper.close();
    pub.close();
  },
  { internal: true, log: "warn" },
);
