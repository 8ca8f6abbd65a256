import assert from "node:assert/strict";
import {
  connectionPath,
  domainPrefix,
  type Grants,
  isClusterCredential,
  type ScopedAccess,
  scopeGrants,
  scopeInternalSubscribe,
  scopePublic,
  SessionScope,
} from "./scope.ts";
import { AuthError, type AuthFailureReason } from "./types.ts";
import type { PublicAccess } from "../config/mod.ts";

function reasonOf(fn: () => unknown): AuthFailureReason {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AuthError, `expected AuthError, got ${e}`);
    return e.reason;
  }
  assert.fail("expected a rejection");
}

const DEMO: Grants = { root: "demo", put: ["my-stream"], get: [""] };

// docs/relay.md §2.9 worked examples 1–10 (token rows).
const TOKEN_CASES: Array<{ n: number; grants: Grants; url: string; want: ScopedAccess | AuthFailureReason }> =
  [
    { n: 1, grants: DEMO, url: "/demo", want: { publish: ["my-stream"], subscribe: [""] } },
    { n: 2, grants: DEMO, url: "/", want: { publish: ["demo/my-stream"], subscribe: ["demo"] } },
    { n: 3, grants: DEMO, url: "/demo/my-stream", want: { publish: [""], subscribe: [""] } },
    { n: 4, grants: DEMO, url: "/demo/room", want: { publish: [], subscribe: [""] } },
    { n: 5, grants: DEMO, url: "/other", want: "root_mismatch" },
    { n: 5, grants: DEMO, url: "/demox", want: "root_mismatch" },
    {
      n: 6,
      grants: { root: "rooms/123", put: ["alice"], get: [""] },
      url: "/rooms",
      want: { publish: ["123/alice"], subscribe: ["123"] },
    },
    {
      n: 7,
      grants: { root: "", put: [], get: ["demo"] },
      url: "/demo/live",
      want: { publish: [], subscribe: [""] },
    },
    { n: 8, grants: { root: "", put: [], get: ["demo"] }, url: "/other", want: "no_access" },
    {
      n: 9,
      grants: { root: "demo", put: ["a", "b/c"], get: [] },
      url: "/demo/b",
      want: { publish: ["c"], subscribe: [] },
    },
    { n: 10, grants: { root: "", put: [""], get: [""] }, url: "/", want: { publish: [""], subscribe: [""] } },
    // Extra rows: normalisation and segment awareness.
    {
      n: 101,
      grants: { root: "/demo/", put: ["//a//"], get: [] },
      url: "//demo///",
      want: { publish: ["a"], subscribe: [] },
    },
    { n: 102, grants: { root: "demo", put: ["a"], get: [] }, url: "/demo/ab", want: "no_access" },
    {
      n: 103,
      grants: { root: "demo", put: ["a", "a/b", "a"], get: [] },
      url: "/demo",
      want: { publish: ["a"], subscribe: [] },
    },
    {
      n: 104,
      grants: { root: "a/b/c", put: [""], get: [] },
      url: "/a",
      want: { publish: ["b/c"], subscribe: [] },
    },
  ];

Deno.test("scopeGrants follows docs/relay.md §2.5 on the worked examples of §2.9", () => {
  for (const c of TOKEN_CASES) {
    const path = connectionPath(new URL(`https://relay.example${c.url}`).pathname);
    if (typeof c.want === "string") {
      assert.equal(reasonOf(() => scopeGrants(path, c.grants)), c.want, `example ${c.n} ${c.url}`);
    } else {
      assert.deepEqual(scopeGrants(path, c.grants), c.want, `example ${c.n} ${c.url}`);
    }
  }
});

const ANON: PublicAccess = { publish: ["anon"], subscribe: ["anon"] };
const PUBLIC_CASES: Array<{ n: number; access: PublicAccess; url: string; want: ScopedAccess | undefined }> =
  [
    { n: 11, access: ANON, url: "/", want: { publish: ["anon"], subscribe: ["anon"] } },
    { n: 12, access: ANON, url: "/anon/x", want: { publish: [""], subscribe: [""] } },
    { n: 13, access: ANON, url: "/demo", want: undefined },
    {
      n: 14,
      access: { subscribe: ["anon", "demo"], publish: ["anon", "demo/viewer"] },
      url: "/demo",
      want: { publish: ["viewer"], subscribe: [""] },
    },
    {
      n: 111,
      access: { publish: [""], subscribe: [""] },
      url: "/any/thing",
      want: { publish: [""], subscribe: [""] },
    },
    {
      n: 112,
      access: { publish: [], subscribe: ["live"] },
      url: "/live",
      want: { publish: [], subscribe: [""] },
    },
    { n: 113, access: { publish: [], subscribe: [] }, url: "/", want: undefined },
  ];

Deno.test("scopePublic follows docs/relay.md §2.6 (examples 11-14)", () => {
  for (const c of PUBLIC_CASES) {
    const path = connectionPath(c.url);
    assert.deepEqual(scopePublic(path, c.access), c.want, `example ${c.n} ${c.url}`);
  }
});

Deno.test("connection paths: dot segments refused, encodings never decoded", () => {
  // The WHATWG parser resolves literal and %2e dot segments itself; what remains cannot widen scope.
  assert.equal(connectionPath(new URL("https://h/demo/../other").pathname), "other");
  assert.equal(connectionPath(new URL("https://h/demo/%2e%2e/other").pathname), "other");
  // Raw paths (e.g. from a SETUP message) with dot segments are refused.
  for (const raw of ["/demo/../other", "/demo/./x", "/demo/%2e%2E/x", "/.%2e/x", "..", "/a/%2E"]) {
    assert.equal(reasonOf(() => connectionPath(raw)), "malformed", raw);
  }
  // Encoded slashes stay one literal segment: "demo%2Fmy-stream" is not under "demo".
  const encoded = connectionPath(new URL("https://h/demo%2Fmy-stream").pathname);
  assert.equal(encoded, "demo%2Fmy-stream");
  assert.equal(reasonOf(() => scopeGrants(encoded, DEMO)), "root_mismatch");
  // Trailing and repeated slashes normalise to the same path, never a wider one.
  assert.equal(connectionPath("/demo/"), "demo");
  assert.equal(connectionPath("//demo//room//"), "demo/room");
  // Unicode look-alikes are percent-encoded by the parser and match nothing granted to ASCII names.
  const fullwidth = connectionPath(new URL("https://h/ｄemo").pathname);
  assert.notEqual(fullwidth, "demo");
  assert.equal(reasonOf(() => scopeGrants(fullwidth, DEMO)), "root_mismatch");
  const dots = connectionPath(new URL("https://h/demo/．．/other").pathname);
  assert.equal(dots, "demo/%EF%BC%8E%EF%BC%8E/other");
  // Still inside demo/: subscribe (granted for all of demo) applies, publish of my-stream does not.
  assert.deepEqual(scopeGrants(dots, DEMO), { publish: [], subscribe: [""] });
  // More than 32 segments.
  assert.equal(reasonOf(() => connectionPath("/" + Array(33).fill("a").join("/"))), "malformed");
  assert.equal(connectionPath("/" + Array(32).fill("a").join("/")).split("/").length, 32);
});

Deno.test("isClusterCredential: only the full cluster token, whatever other claims say", () => {
  assert.equal(isClusterCredential({ root: "", put: [""], get: [""] }), true, "upstream's cluster token");
  assert.equal(isClusterCredential({ root: "/", put: ["/"], get: ["", "demo"] }), true);
  assert.equal(isClusterCredential({ root: "", put: [""], get: [] }), false, "publish-only root token");
  assert.equal(isClusterCredential({ root: "", put: [""], get: ["demo"] }), false);
  assert.equal(isClusterCredential({ root: "", put: ["demo"], get: [""] }), false);
  assert.equal(isClusterCredential({ root: "", put: [".internal"], get: [".internal"] }), false);
  assert.equal(isClusterCredential({ root: ".internal", put: [""], get: [""] }), false);
  assert.equal(isClusterCredential({ root: "demo", put: [""], get: [""] }), false);
});

function scope(
  publish: string[],
  subscribe: string[],
  internal = false,
  root = "",
  internalSubscribe?: string[],
) {
  return new SessionScope({ root, publish, subscribe, internalSubscribe, internal, anonymous: false });
}

Deno.test("scopeInternalSubscribe keeps only get grants naming a path inside .internal", () => {
  const grants = { root: "", put: [""], get: ["", ".internal/stats", ".internalx"] };
  assert.deepEqual(scopeInternalSubscribe("", grants), [".internal/stats"]);
  assert.deepEqual(scopeInternalSubscribe(".internal", grants), ["stats"]);
  assert.deepEqual(scopeInternalSubscribe(".internal/stats/a", grants), [""]);
  assert.deepEqual(scopeInternalSubscribe(".internal/origins", grants), []);
  assert.deepEqual(scopeInternalSubscribe("", { root: ".internal", put: [], get: ["origins"] }), [
    ".internal/origins",
  ]);
  assert.deepEqual(scopeInternalSubscribe("", { root: "", put: [".internal"], get: [] }), []);
});

Deno.test("SessionScope: .internal is unlocked per prefix; only the cluster credential publishes there", () => {
  const cluster = scope([""], [""], true);
  assert.equal(cluster.canPublish(".internal/origins/https:/a"), true);
  assert.equal(cluster.canSubscribe(".internal/origins/https:/a"), true);
  assert.equal(cluster.canPublish("demo/x"), true);

  // put covers everything, but this is not the cluster credential.
  const wide = scope([""], ["demo"]);
  assert.equal(wide.canPublish(".internal/origins/https:/evil"), false);
  assert.equal(wide.canPublish(".internal"), false);
  assert.equal(wide.canPublish("demo/x"), true);
  assert.equal(wide.canPublish(".internalx/y"), true, "segment-aware");

  // Explicit .internal grants: subscribe under exactly that prefix, publish nowhere inside.
  const explicit = scope([".internal", ".internal/origins"], [".internal/stats", ""], false, "", [
    ".internal/stats",
  ]);
  assert.equal(explicit.canPublish(".internal/origins/https:/evil"), false);
  assert.equal(explicit.canPublish(".internal/x"), false);
  assert.equal(explicit.canSubscribe(".internal/stats/a"), true);
  assert.equal(explicit.canSubscribe(".internal/origins/a"), false, 'the "" grant does not reach in');
  assert.equal(explicit.canSubscribe("demo/a"), true);

  // Rooted inside .internal by the connection path alone: nothing there is unlocked.
  const rooted = scope([""], [""], false, ".internal");
  assert.equal(rooted.canPublish(".internal/origins/x"), false);
  assert.equal(rooted.canSubscribe(".internal/origins/x"), false);
  // Rooted there with a grant naming it: subscribe only.
  const named = scope(["origins"], ["origins"], false, ".internal", ["origins"]);
  assert.equal(named.canPublish(".internal/origins/x"), false);
  assert.equal(named.canSubscribe(".internal/origins/x"), true);

  const anonymous = new SessionScope({
    root: "",
    publish: [""],
    subscribe: [""],
    internal: false,
    anonymous: true,
  });
  assert.equal(anonymous.canSubscribe(".internal/origins/x"), false);
  assert.equal(anonymous.canPublish(".internal/origins/x"), false);
});

Deno.test("domainPrefix maps subdomains to reversed path labels", () => {
  const domains = ["cdn.example", "eu.cdn.example"];
  assert.equal(domainPrefix("team.customer.cdn.example", domains), "customer/team");
  assert.equal(domainPrefix("TEAM.eu.cdn.example", domains), "team");
  assert.equal(domainPrefix("cdn.example", domains), "");
  assert.equal(domainPrefix("evilcdn.example", domains), undefined);
  assert.equal(domainPrefix("other.test", domains), undefined);
});
