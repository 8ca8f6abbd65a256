import assert from "node:assert/strict";
import { CONNECT_API_MAX_PEERS, parsePeerList, PeerListError } from "./_connect_api.ts";
import { linkIdentity, parsePeerUrl, PeerUrlError } from "./_peer_url.ts";

Deno.test("peer list: a JSON array of peer URLs; anything else is refused whole", () => {
  assert.deepEqual(parsePeerList(`["https://a.example/", " b.example:4443 "]`), [
    "https://a.example/",
    "b.example:4443",
  ]);
  assert.deepEqual(parsePeerList("[]"), []);
  assert.throws(() => parsePeerList(`{"peers": []}`), PeerListError);
  assert.throws(() => parsePeerList(`["https://a.example/", 7]`), PeerListError);
  assert.throws(() => parsePeerList(`["ftp://a.example/"]`), PeerUrlError);
  assert.throws(() => parsePeerList(`[`), PeerListError);
  const many = JSON.stringify(
    Array.from({ length: CONNECT_API_MAX_PEERS + 1 }, (_, i) => `https://n${i}.example/`),
  );
  assert.throws(() => parsePeerList(many), /at most/);
});

Deno.test("peer URLs: ?cost= is parsed and stripped; a changed cost or credential is a new link identity", () => {
  const plain = parsePeerUrl("https://a.example/");
  const priced = parsePeerUrl("https://a.example/?cost=5");
  assert.equal(priced.cost, 5);
  assert.equal(priced.dial.href, "https://a.example/");
  assert.equal(priced.canonical, plain.canonical);
  assert.notEqual(linkIdentity(priced), linkIdentity(plain));
  assert.notEqual(linkIdentity(parsePeerUrl("https://a.example/?jwt=x")), linkIdentity(plain));
  assert.equal(linkIdentity(parsePeerUrl("https://A.example:443/")), linkIdentity(plain));
  assert.throws(() => parsePeerUrl("https://a.example/?cost=-1"), PeerUrlError);
  assert.throws(() => parsePeerUrl("https://a.example/?cost=x"), PeerUrlError);
});
