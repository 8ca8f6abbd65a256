import assert from "node:assert/strict";
import type { RelayConfig } from "../config/mod.ts";
import { gossipDialer, GossipPolicy } from "./_gossip_policy.ts";
import { parsePeerUrl } from "./_peer_url.ts";

function config(
  connect: string[],
  node: string | undefined,
  tls: Partial<RelayConfig["client"]["tls"]> = {},
): Pick<RelayConfig, "cluster" | "client"> {
  return {
    cluster: { connect, node, mesh: true, lingerMs: 0 },
    client: { tls: { disableVerify: false, root: [], fingerprint: [], ...tls }, timeoutMs: 0 },
  };
}

const refusal = (policy: GossipPolicy, url: string) => policy.refusal(parsePeerUrl(url));

Deno.test("gossip policy: only configured scheme + host pairs, any port", () => {
  const policy = new GossipPolicy(config(["https://seed.example:4443/"], "https://node-a.example/"));
  assert.equal(refusal(policy, "https://seed.example:5555/"), undefined);
  assert.equal(refusal(policy, "https://NODE-A.example:9/"), undefined);
  assert.equal(refusal(policy, "https://evil.example/"), "not allow-listed");
  assert.equal(refusal(policy, "http://seed.example:4443/"), "not allow-listed", "no downgrade to http://");
  assert.equal(refusal(policy, "wss://seed.example/"), "not allow-listed");
});

Deno.test("gossip policy: ws:// is never dialed, even on a configured host", () => {
  const policy = new GossipPolicy(config(["ws://127.0.0.1:4443/"], "ws://127.0.0.1:4444/"));
  assert.equal(refusal(policy, "ws://127.0.0.1:5000/"), "clear-text ws:// target");
});

Deno.test("gossip policy: unverified TLS needs a fingerprint pin", () => {
  const off = new GossipPolicy(config(["https://seed.example/"], undefined, { disableVerify: true }));
  assert.match(refusal(off, "https://seed.example:1/") ?? "", /unverified/);
  const pinned = new GossipPolicy(
    config(["https://seed.example/"], undefined, { disableVerify: true, fingerprint: ["ab".repeat(32)] }),
  );
  assert.equal(refusal(pinned, "https://seed.example:1/"), undefined);
});

Deno.test("gossip policy: http:// only on a host the operator configured as http://", () => {
  const dev = new GossipPolicy(config(["http://127.0.0.1:4443/"], "http://127.0.0.1:4444/"));
  assert.equal(refusal(dev, "http://127.0.0.1:5000/"), undefined);
  assert.equal(refusal(dev, "http://localhost:5000/"), "not allow-listed");
  const none = new GossipPolicy(config([], undefined));
  assert.equal(refusal(none, "http://127.0.0.1:5000/"), "not allow-listed");
});

Deno.test("gossip dialing: one side per pair, symmetric, and balanced (not the lowest URL dialing all)", () => {
  const urls = Array.from({ length: 25 }, (_, i) => `https://relay${i}.example:4443/`);
  const outbound = new Map(urls.map((u) => [u, 0]));
  for (const a of urls) {
    for (const b of urls) {
      if (a >= b) continue;
      const dialer = gossipDialer(a, b);
      assert.equal(gossipDialer(b, a), dialer, "both sides agree");
      assert.ok(dialer === a || dialer === b);
      outbound.set(dialer, outbound.get(dialer)! + 1);
    }
  }
  const counts = [...outbound.values()];
  assert.equal(counts.reduce((x, y) => x + y, 0), (25 * 24) / 2, "every pair dialed once");
  // Each node has 24 peers: about 12 outbound each (a full sort would give 24 … 0).
  assert.ok(Math.max(...counts) <= 19 && Math.min(...counts) >= 5, `outbound per node: ${counts.join(" ")}`);
});
