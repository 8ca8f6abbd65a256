import assert from "node:assert/strict";
import type { RelayConfig } from "../config/mod.ts";
import { GossipPolicy } from "./_gossip_policy.ts";
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
