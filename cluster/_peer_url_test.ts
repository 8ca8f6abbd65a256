import assert from "node:assert/strict";
import { nodeFromPath, nodePath, parsePeerUrl, PeerUrlError } from "./_peer_url.ts";

Deno.test("peer URLs: canonical identity without query, default port or upper-case host", () => {
  const p = parsePeerUrl("https://Relay.Example:443/eu?jwt=abc&cost=3");
  assert.equal(p.canonical, "https://relay.example/eu/");
  assert.equal(p.token, "abc");
  assert.equal(p.dial.search, "", "jwt and cost are stripped before dialing");
  assert.equal(parsePeerUrl("relay.example:4443").canonical, "https://relay.example:4443/");
  assert.equal(parsePeerUrl("http://127.0.0.1:4443/?jwt=").token, undefined, "empty inline token = none");
});

Deno.test("peer URLs: gossip paths round-trip through path normalisation", () => {
  const node = "http://127.0.0.1:4443/";
  const path = nodePath(node);
  assert.equal(path, ".internal/origins/http://127.0.0.1:4443");
  assert.equal(nodeFromPath(path.replace("//", "/")), node, "`scheme:/host` is restored");
  assert.equal(nodeFromPath("elsewhere/x"), undefined);
});

Deno.test("peer URLs: errors name the URL but never the token", () => {
  assert.throws(() => parsePeerUrl("ftp://x/?jwt=SECRET"), (err: Error) => {
    assert.ok(err instanceof PeerUrlError);
    assert.ok(!err.message.includes("SECRET"), err.message);
    assert.match(err.message, /https:\/\//);
    return true;
  });
});
