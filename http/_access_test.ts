import assert from "node:assert/strict";
import type { AuthTransport, SessionGrant } from "../auth/mod.ts";
import { authenticatePath, BadPathError, decodeSegments, segmentsToPath } from "./_access.ts";

Deno.test("access: decodeSegments decodes, drops empty segments, rejects dots and bad escapes", () => {
  assert.deepEqual(decodeSegments("/a//b%20c/d%2Fe/"), ["a", "b c", "d/e"]);
  assert.deepEqual(decodeSegments(""), []);
  assert.throws(() => decodeSegments("/a/%2E%2E/b"), BadPathError);
  assert.throws(() => decodeSegments("/a/./b"), BadPathError);
  assert.throws(() => decodeSegments("/a/%E0%A4%A"), BadPathError);
  assert.equal(segmentsToPath(["a", "b c"]), "a/b c");
  assert.throws(() => segmentsToPath(Array.from({ length: 40 }, (_, i) => `s${i}`)), BadPathError);
});

/** An authenticator that prefixes a domain path, as `auth.domains` does, and records the URL. */
class DomainAuth {
  url: URL | undefined;
  authenticate(url: URL, _transport: AuthTransport): Promise<SessionGrant> {
    this.url = url;
    const path = url.pathname.replace(/^\/+|\/+$/g, "");
    const root = path === "" ? "customer" : `customer/${path}`;
    return Promise.resolve({ root, publish: [], subscribe: [""], internal: false, anonymous: true });
  }
}

Deno.test("access: authenticatePath passes the path, query and host; maps an encoded root back", async () => {
  const auth = new DomainAuth();
  const request = new URL("http://team.cdn.example:4443/fetch/x?jwt=abc&group=1");
  const access = await authenticatePath(auth, request, "live/café room");
  assert.equal(auth.url!.pathname, "/live/caf%C3%A9%20room");
  assert.equal(auth.url!.searchParams.get("jwt"), "abc");
  assert.equal(auth.url!.hostname, "team.cdn.example");
  assert.equal(access.path, "customer/live/café room");
  assert.ok(access.scope.canSubscribe("customer/live/café room/x"));
  assert.ok(!access.scope.canSubscribe("customer/other"));
  const root = await authenticatePath(auth, request, "");
  assert.equal(root.path, "customer");
});
