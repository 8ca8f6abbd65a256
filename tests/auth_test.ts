/**
 * End-to-end tests of authentication against a real relay process with the real `@moq/lite` 0.2.2
 * client and a raw WebSocket client (docs/relay.md §2, §8 items 1, 2, 24, 25; docs/protocol.md
 * §16 items 1, 13, 14): scoped publish/subscribe tokens, other roots, anonymous public access,
 * refused tokens at the WebSocket upgrade, mid-session expiry, the reserved `.internal` namespace,
 * HTTP endpoints and the `token` subcommand.
 *
 * `@moq/lite` 0.2.2's `connect()` never settles after a 401 (docs/protocol.md §16 item 1), so every
 * refusal is checked with {@link RawWebSocket} and the client only dials URLs that must succeed.
 */

import assert from "node:assert/strict";
import { CompactSign } from "jose";
import {
  connect,
  eventually,
  LEGACY_CLIENT_SETUP as CLIENT_SETUP,
  payload,
  publish,
  RawWebSocket,
  readGroup,
  type RelayOptions,
  type RelayProcess,
  sleep,
  startRelay,
  streamFrame,
  subscribe,
  type UpgradeResult,
  watchAnnounced,
  within,
  writeGroup,
} from "../testing/mod.ts";
import {
  encodeBase64Url,
  importSignKey,
  type Jwk,
  parseKeyText,
  runTokenCommand,
  type SignClaims,
  signToken,
  type TokenIo,
} from "../auth/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;
const enc = new TextEncoder();

type Track = Awaited<ReturnType<typeof subscribe>>;

// ---------------------------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------------------------

/** A {@link TokenIo} that keeps the token tool's output (nothing reaches the test's console). */
function captureIo(): { io: TokenIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      stdin: () => Promise.resolve(""),
    },
    out: () => out,
    err: () => err,
  };
}

/** Run the token tool in-process; fails the test on a non-zero exit. */
async function tokenTool(args: string[]): Promise<string> {
  const c = captureIo();
  const code = await runTokenCommand(args, c.io);
  assert.equal(code, 0, `token ${args.join(" ")} failed: ${c.err()}`);
  return c.out();
}

/** `token generate --algorithm <alg> --out <path>`, read back. */
async function generateKeyFile(path: string, alg = "HS256", kid?: string): Promise<Jwk> {
  await tokenTool(["generate", "--algorithm", alg, "--out", path, ...(kid ? ["--id", kid] : [])]);
  return parseKeyText(await Deno.readTextFile(path), path);
}

/** Sign any header and payload (for tokens {@link signToken} refuses to make). */
async function signRaw(key: Jwk, header: Record<string, unknown>, claims: Record<string, unknown>) {
  const cryptoKey = await importSignKey(key, "test key");
  return await new CompactSign(enc.encode(JSON.stringify(claims)))
    .setProtectedHeader({ typ: "JWT", alg: key.alg, ...(key.kid ? { kid: key.kid } : {}), ...header })
    .sign(cryptoKey);
}

function b64json(value: unknown): string {
  return encodeBase64Url(enc.encode(JSON.stringify(value)));
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------------------------
// Relay, raw WebSocket and HTTP helpers
// ---------------------------------------------------------------------------------------------

/** What an auth test gets: the relay, a scratch dir, the relay's key and a signer for it. */
interface AuthContext {
  relay: RelayProcess;
  dir: string;
  /** The relay's signing key (with `keys: "none"`, a key the relay does not know). */
  key: Jwk;
  /** Sign claims with {@link AuthContext.key}. */
  token(claims: SignClaims): Promise<string>;
}

interface AuthTestOptions {
  /** `file`: `key = <dir>/relay.jwk`; `dir`: `key_dir = <dir>/keys`; `none`: public only. */
  keys?: "file" | "dir" | "none";
  /** The `public` line of `[auth]` (default `public = "anon"`). */
  public?: string;
  /** Extra relay options. */
  relay?: RelayOptions;
}

/** One relay per test; client timers outlive steps, so op/resource sanitizers are off. */
function authTest(name: string, fn: (ctx: AuthContext) => Promise<void>, options: AuthTestOptions = {}) {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const dir = await Deno.makeTempDir({ prefix: "moq-auth-e2e-" });
    let relay: RelayProcess | undefined;
    try {
      const keys = options.keys ?? "file";
      let key: Jwk;
      let keyLine = "";
      if (keys === "none") {
        key = await generateKeyFile(`${dir}/unknown-to-the-relay.jwk`);
      } else if (keys === "file") {
        key = await generateKeyFile(`${dir}/relay.jwk`);
        keyLine = `key = "${dir}/relay.jwk"`;
      } else {
        await tokenTool(["generate", "--algorithm", "HS256", "--out-dir", `${dir}/keys`]);
        const [entry] = [...Deno.readDirSync(`${dir}/keys`)];
        key = parseKeyText(await Deno.readTextFile(`${dir}/keys/${entry.name}`), entry.name);
        assert.equal(`${key.kid}.jwk`, entry.name, "key_dir file is named after the kid");
        keyLine = `key_dir = "${dir}/keys"`;
      }
      relay = await startRelay({
        ...options.relay,
        auth: [keyLine, options.public ?? `public = "anon"`].join("\n"),
      });
      const signer = key;
      await fn({ relay, dir, key: signer, token: (claims) => signToken(signer, claims) });
    } finally {
      await relay?.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}

/** Upgrade attempt with a raw client: the socket on 101 (dropped here), else the HTTP result. */
async function upgrade(relay: RelayProcess, target: string): Promise<number> {
  const res = await within(
    5_000,
    `upgrade ${target}`,
    RawWebSocket.connect(relay.port, target, ["webtransport"]),
  );
  if (res instanceof RawWebSocket) {
    res.drop();
    return 101;
  }
  return res.status;
}

/** Upgrade that must be refused; returns the HTTP result. */
async function refusedUpgrade(relay: RelayProcess, target: string): Promise<UpgradeResult> {
  const res = await within(
    5_000,
    `upgrade ${target}`,
    RawWebSocket.connect(relay.port, target, ["webtransport"]),
  );
  if (res instanceof RawWebSocket) {
    res.drop();
    assert.fail(`the relay accepted the WebSocket upgrade of ${target.slice(0, 80)}`);
  }
  return res;
}

async function httpGet(relay: RelayProcess, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${relay.httpUrl}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A `@moq/lite` connection at `/<path>` with `?jwt=<token>` (or none). */
function dial(relay: RelayProcess, path: string, token?: string) {
  return connect(relay.port, path, token === undefined ? "" : `?jwt=${token}`);
}

/**
 * Nothing may arrive on `track` within `ms`: a timeout, an end without groups or an error (the
 * relay refused the subscription) all pass; a group fails.
 */
async function assertNoDelivery(track: Track, ms: number, what: string): Promise<void> {
  let got;
  try {
    got = await readGroup(track, ms);
  } catch {
    return;
  }
  assert.equal(got, undefined, `${what}: a group was delivered`);
}

/** Wait for a log line matching `pattern` among the lines from `from` on. */
async function logLineAfter(relay: RelayProcess, from: number, pattern: RegExp): Promise<string> {
  try {
    await eventually(`log line ${pattern}`, () => relay.logs.slice(from).some((l) => pattern.test(l)), 5_000);
  } catch {
    assert.fail(`no log line matched ${pattern}; new lines:\n${relay.logs.slice(from).join("\n")}`);
  }
  return relay.logs.slice(from).find((l) => pattern.test(l))!;
}

async function publishAlice(ctx: AuthContext) {
  const conn = await dial(ctx.relay, "demo", await ctx.token({ root: "demo", put: ["alice"] }));
  const pub = await publish(conn, "alice");
  return { conn, pub };
}

// ---------------------------------------------------------------------------------------------
// 1. Scoped publish and subscribe tokens
// ---------------------------------------------------------------------------------------------

authTest(
  "publish-only token publishes; subscribe-only token sees it and gets its frames byte-exact",
  async (ctx) => {
    const { conn: pubConn, pub } = await publishAlice(ctx);
    const viewer = await dial(ctx.relay, "demo", await ctx.token({ root: "demo", get: [""] }));
    const events = await watchAnnounced(viewer, "");
    await eventually("the viewer sees alice announced", () => events.includes("+alice"));
    const track = await subscribe(viewer, "alice", "video");
    const upstream = await pub.request();
    assert.equal(upstream.name, "video");
    const sent: Uint8Array[][] = [];
    for (let g = 0; g < 3; g++) {
      const frames = [payload(100 + g * 5000, g), payload(30_000, g + 100), payload(1, g + 200)];
      sent.push(frames);
      writeGroup(upstream, frames);
    }
    for (let g = 0; g < 3; g++) {
      const got = await readGroup(track);
      assert.ok(got, `group ${g} arrived`);
      assert.equal(got.sequence, g);
      assert.deepEqual(got.frames, sent[g], `group ${g} byte-exact`);
    }
    assert.deepEqual(events, ["+alice"], "exactly one announcement");
    pubConn.close();
    viewer.close();
  },
);

// ---------------------------------------------------------------------------------------------
// 2. Another root sees nothing of demo/
// ---------------------------------------------------------------------------------------------

authTest("a viewer of another root neither sees nor receives demo/alice", async (ctx) => {
  const { conn: pubConn, pub } = await publishAlice(ctx);
  const legit = await dial(ctx.relay, "demo", await ctx.token({ root: "demo", get: [""] }));
  const legitTrack = await subscribe(legit, "alice", "video");
  const upstream = await pub.request();

  const otherToken = await ctx.token({ root: "other", get: [""] });
  const intruder = await dial(ctx.relay, "other", otherToken);
  const seen = await watchAnnounced(intruder, "");
  const seenUp = await watchAnnounced(intruder, "../demo");
  // Rooted at `/` but granted only `other`: the relay must filter what the prefix alone would show.
  const wide = await dial(ctx.relay, "", await ctx.token({ root: "", get: ["other"] }));
  const seenWide = await watchAnnounced(wide, "");
  const seenWideDemo = await watchAnnounced(wide, "demo");
  const attempts = [
    "../demo/alice",
    "../../demo/alice",
    "%2e%2e/demo/alice",
    "..%2Fdemo/alice",
    "/demo/alice",
  ];
  const tracks: [string, Track][] = [
    ["/ demo/alice video", await subscribe(wide, "demo/alice", "video")],
    ["/ demo/alice secret", await subscribe(wide, "demo/alice", "secret")],
  ];
  for (const path of attempts) {
    tracks.push([`${path} video`, await subscribe(intruder, path, "video")]);
    tracks.push([`${path} secret`, await subscribe(intruder, path, "secret")]);
  }
  // alice keeps publishing while the intruder waits.
  const writing = (async () => {
    for (let g = 0; g < 10; g++) {
      writeGroup(upstream, [payload(64, g)]);
      await sleep(100);
    }
  })();
  await Promise.all(tracks.map(([what, t]) => assertNoDelivery(t, 1_200, what)));
  await writing;
  assert.deepEqual(seen, [], "no announcement reaches the other root");
  assert.deepEqual(seenUp, [], "no announcement under ../demo either");
  assert.deepEqual(seenWide, [], "a root-wide session scoped to other sees nothing of demo");
  assert.deepEqual(seenWideDemo, [], "not even when asking for the demo prefix");
  assert.deepEqual(pub.requests.map((r) => r.track.name), ["video"], "the intruder caused no track request");
  const first = await readGroup(legitTrack);
  assert.equal(first?.sequence, 0, "the legitimate viewer still gets alice");

  // Path tricks at the upgrade do not leave the token's root either.
  for (const target of ["/other/../demo", "/other/%2e%2e/demo", "/demo"]) {
    assert.equal(await upgrade(ctx.relay, `${target}?jwt=${otherToken}`), 401, target);
  }
  for (const c of [pubConn, legit, intruder, wide]) c.close();
});

// ---------------------------------------------------------------------------------------------
// 3. Subscribe-only sessions cannot publish
// ---------------------------------------------------------------------------------------------

authTest("a subscribe-only session cannot publish, nor a publish-only one outside its put", async (ctx) => {
  const { conn: aliceConn, pub: alice } = await publishAlice(ctx);
  const rootViewer = await dial(ctx.relay, "", await ctx.token({ root: "", get: [""] }));
  const events = await watchAnnounced(rootViewer, "");
  await eventually("the root-wide viewer sees demo/alice", () => events.includes("+demo/alice"));

  const subOnly = await dial(ctx.relay, "demo", await ctx.token({ root: "demo", get: [""] }));
  const bob = await publish(subOnly, "bob");
  const mallory = await publish(aliceConn, "mallory");
  const bobTrack = await subscribe(rootViewer, "demo/bob", "video");
  const malloryTrack = await subscribe(rootViewer, "demo/mallory", "video");
  await Promise.all([
    assertNoDelivery(bobTrack, 1_200, "demo/bob"),
    assertNoDelivery(malloryTrack, 1_200, "demo/mallory"),
  ]);
  assert.deepEqual(events, ["+demo/alice"], "only alice is announced");
  assert.equal(bob.requests.length, 0, "the relay never asked the subscribe-only session for a track");
  assert.equal(mallory.requests.length, 0, "the relay never asked for mallory's tracks");
  assert.equal(alice.requests.length, 0);
  for (const c of [aliceConn, rootViewer, subOnly]) c.close();
});

// ---------------------------------------------------------------------------------------------
// 4. Anonymous access only under the public prefix
// ---------------------------------------------------------------------------------------------

authTest("anonymous access works under the public prefix only", async (ctx) => {
  const pubConn = await dial(ctx.relay, "anon");
  const viewer = await dial(ctx.relay, "anon");
  const rootViewer = await dial(ctx.relay, ""); // public "anon" overlaps "/" (docs/relay.md §2.9 #11)
  const events = await watchAnnounced(rootViewer, "");
  const pub = await publish(pubConn, "cam");
  const track = await subscribe(viewer, "cam", "video");
  const upstream = await pub.request();
  writeGroup(upstream, [payload(2_000, 4)]);
  assert.deepEqual((await readGroup(track))?.frames, [payload(2_000, 4)]);
  await eventually("the anonymous root viewer sees anon/cam", () => events.includes("+anon/cam"));

  for (const target of ["/demo", "/demo/alice", "/anonx", "/demo?jwt="]) {
    const res = await refusedUpgrade(ctx.relay, target);
    assert.equal(res.status, 401, `${target} without a token`);
  }
  assert.equal(await upgrade(ctx.relay, "/anon/deeper"), 101, "below the public prefix is public too");
  for (const c of [pubConn, viewer, rootViewer]) c.close();
});

// ---------------------------------------------------------------------------------------------
// 5. Every bad token form is refused at the upgrade, logged by reason, never logged itself
// ---------------------------------------------------------------------------------------------

authTest(
  "bad tokens get 401 with a warn line naming the reason; a good session keeps flowing",
  async (ctx) => {
    const { relay, key, dir } = ctx;
    const good = await ctx.token({ root: "demo", put: [""], get: [""] });
    const pubConn = await dial(relay, "demo", good);
    const viewer = await dial(relay, "demo", await ctx.token({ root: "demo", get: [""] }));
    const pub = await publish(pubConn, "live");
    const track = await subscribe(viewer, "live", "t");
    const upstream = await pub.request();

    // The good session streams the whole time the bad ones knock (at least MIN_GROUPS groups).
    const MIN_GROUPS = 20;
    const state = { written: 0, stop: false, done: false };
    const received: number[] = [];
    const writer = (async () => {
      while (!state.stop || state.written < MIN_GROUPS) {
        writeGroup(upstream, [payload(300, state.written)]);
        state.written++;
        await sleep(25);
      }
    })();
    const reader = (async () => {
      for (;;) {
        let g;
        try {
          g = await readGroup(track, 10_000);
        } catch (e) {
          if (state.done) return;
          throw e;
        }
        if (!g) {
          if (state.done) return;
          throw new Error("the good track ended");
        }
        assert.deepEqual(g.frames, [payload(300, g.sequence)], `group ${g.sequence} byte-exact`);
        received.push(g.sequence);
      }
    })();
    reader.catch(() => {}); // awaited below; keep an early failure from being unhandled meanwhile

    // Forged material.
    const other = await generateKeyFile(`${dir}/other.jwk`, "HS256", key.kid); // same kid, other secret
    const hs384 = await generateKeyFile(`${dir}/hs384.jwk`, "HS384", key.kid); // same kid, other alg
    const stranger = await generateKeyFile(`${dir}/stranger.jwk`, "HS256", "nosuchkid");
    const claims = { root: "demo", put: [""], get: [""] };
    const [h, p, s] = good.split(".");
    const now = nowSeconds();
    const rows: { what: string; reason: string; token?: string; query?: string }[] = [
      { what: "not a JWT at all", reason: "malformed", token: "this-is-not-a-jwt" },
      { what: "header is not JSON", reason: "malformed", token: "bm90IGpzb24.e30.c2lnbmF0dXJl" },
      { what: "two segments", reason: "malformed", token: `${h}.${p}` },
      { what: "four segments", reason: "malformed", token: `${h}.${p}.${s}.${s}` },
      {
        what: "wrong signature (other secret, same kid)",
        reason: "bad_signature",
        token: await signToken(other, claims),
      },
      {
        what: "tampered payload",
        reason: "bad_signature",
        token: `${h}.${b64json({ root: "", put: [""], get: [""] })}.${s}`,
      },
      {
        what: "alg none",
        reason: "alg_mismatch",
        token: `${b64json({ typ: "JWT", alg: "none", kid: key.kid })}.${b64json(claims)}.`,
      },
      { what: "HS384 token for an HS256 key", reason: "alg_mismatch", token: await signToken(hs384, claims) },
      { what: "expired", reason: "expired", token: await ctx.token({ ...claims, exp: now - 60 }) },
      {
        what: "nbf in the future",
        reason: "not_yet_valid",
        token: await signRaw(key, {}, { ...claims, nbf: now + 3600 }),
      },
      { what: "no put and no get", reason: "useless", token: await signRaw(key, {}, { root: "demo" }) },
      {
        what: "legacy pub/sub claims",
        reason: "useless",
        token: await signRaw(key, {}, { path: "demo", pub: "", sub: "" }),
      },
      {
        what: "root mismatch",
        reason: "root_mismatch",
        token: await ctx.token({ root: "other", get: [""] }),
      },
      {
        what: "nothing granted at this path",
        reason: "no_access",
        token: await ctx.token({ root: "", get: ["other"] }),
      },
      { what: "unknown kid", reason: "unknown_kid", token: await signToken(stranger, claims) },
      {
        what: "no kid with key_dir",
        reason: "unknown_kid",
        token: await signRaw(key, { kid: undefined }, claims),
      },
      {
        what: "kid with path traversal",
        reason: "unknown_kid",
        token: await signRaw(key, { kid: "../keys/" + key.kid }, claims),
      },
      { what: "last jwt wins (bad after good)", reason: "expired", query: `jwt=${good}&jwt=` },
    ];
    // The last row's bad token: a good one followed by an expired one.
    const expiredToken = rows.find((r) => r.reason === "expired")!.token!;
    rows[rows.length - 1].query = `jwt=${good}&jwt=${expiredToken}&jwt=`;

    for (const row of rows) {
      const from = relay.logs.length;
      const query = row.query ?? `jwt=${encodeURIComponent(row.token!)}`;
      const res = await refusedUpgrade(relay, `/demo?${query}`);
      assert.equal(res.status, 401, `${row.what}: status`);
      if (row.token) assert.ok(!res.body.includes(row.token), `${row.what}: the 401 body echoes the token`);
      const line = await logLineAfter(
        relay,
        from,
        new RegExp(`WARN .*authentication failed.* reason=${row.reason}\\b`),
      );
      assert.match(line, /transport=websocket/, row.what);
    }
    // The HTTP routes apply the same checks.
    for (const row of rows.filter((r) => r.token).slice(0, 6)) {
      const res = await httpGet(relay, `/announced/demo?jwt=${encodeURIComponent(row.token!)}`);
      assert.equal(res.status, 401, `${row.what} over HTTP`);
    }

    state.stop = true;
    await writer;
    const lastGroup = state.written - 1;
    await Promise.race([
      reader,
      eventually("the good subscriber reaches the last group", () => received.includes(lastGroup)),
    ]);
    state.done = true;
    track.close();
    await within(5_000, "the good reader stops", reader);
    assert.deepEqual(
      received,
      Array.from({ length: state.written }, (_, i) => i),
      "no group lost or reordered",
    );

    // No token (good or bad) ever reaches the log, not even at debug level.
    const tokens = [good, ...rows.map((r) => r.token).filter((t): t is string => t !== undefined)];
    for (const t of tokens) {
      const pieces = [t, ...t.split(".").filter((x) => x.length >= 16)];
      for (const piece of pieces) {
        const leak = relay.logs.find((l) => l.includes(piece));
        assert.equal(leak, undefined, `the log contains token text: ${leak}`);
      }
    }
    assert.ok(relay.logs.some((l) => / DEBUG /.test(l)), "debug logging was on (the leak check saw it)");
    pubConn.close();
    viewer.close();
  },
  { keys: "dir", relay: { log: "debug" } },
);

// ---------------------------------------------------------------------------------------------
// 6. Expiry mid-session
// ---------------------------------------------------------------------------------------------

authTest("a session is closed with code 6 when its token expires", async (ctx) => {
  const { relay } = ctx;
  const exp = nowSeconds() + 3;
  const expiring = await ctx.token({ root: "demo", put: [""], get: [""], exp });
  const lasting = await ctx.token({ root: "demo", put: [""], get: [""] });

  const raw = await RawWebSocket.connect(relay.port, `/demo?jwt=${expiring}`, ["webtransport"]);
  assert.ok(raw instanceof RawWebSocket, "a token that is still valid is accepted");
  try {
    await raw.send(streamFrame(0, CLIENT_SETUP));
    const reply = await within(5_000, "SERVER_SETUP", raw.receive());
    assert.equal(reply?.payload[0], 0x08, "SERVER_SETUP on stream 0");

    const client = await dial(relay, "demo", expiring);
    let clientClosedAt: number | undefined;
    const clientClosed = client.closed.then(
      () => void (clientClosedAt = Date.now()),
      () => void (clientClosedAt = Date.now()),
    );
    const control = await dial(relay, "demo", lasting);
    let controlClosed = false;
    control.closed.then(() => (controlClosed = true), () => (controlClosed = true));

    const closed = await within(10_000, "the relay closes the expired raw session", raw.untilClosed(10_000));
    const rawClosedAt = Date.now();
    assert.ok(rawClosedAt >= exp * 1000 - 50, `closed ${exp * 1000 - rawClosedAt} ms before exp`);
    assert.ok(rawClosedAt <= exp * 1000 + 3_000, `closed ${rawClosedAt - exp * 1000} ms after exp`);
    const appClose = closed.binary.find((m) => m[0] === 0x1d);
    assert.ok(appClose, "APPLICATION_CLOSE before the WebSocket close");
    assert.equal(appClose[1], 6, "close code 6 (unauthorized)");
    assert.notEqual(closed.close, null, "then a WebSocket close frame");
    await relay.waitForLog(/credential expired; closing session/, 2_000);

    await within(10_000, "@moq/lite sees its connection closed at expiry", clientClosed);
    assert.ok(clientClosedAt! >= exp * 1000 - 50, "the client's session outlived its token");
    await sleep(200);
    assert.equal(controlClosed, false, "a session whose token has no exp stays open");
    control.close();
  } finally {
    raw.drop();
  }
});

// ---------------------------------------------------------------------------------------------
// 7. A token sent to a public-only relay falls back to public access
// ---------------------------------------------------------------------------------------------

authTest(
  "public-only relay: a token is ignored and public access applies (docs/relay.md §8 #25)",
  async (ctx) => {
    const { relay } = ctx;
    assert.equal(await upgrade(relay, "/anon?jwt=garbage"), 101, "/anon?jwt=garbage is accepted");
    const pubConn = await dial(relay, "anon", "garbage");
    const viewer = await dial(relay, "anon", "also.not.valid");
    const pub = await publish(pubConn, "x");
    const track = await subscribe(viewer, "x", "t");
    const upstream = await pub.request();
    writeGroup(upstream, [payload(777, 7)]);
    assert.deepEqual((await readGroup(track))?.frames, [payload(777, 7)], "data flows with ignored tokens");
    const listed = await httpGet(relay, "/announced/anon?jwt=garbage");
    assert.deepEqual(listed, { status: 200, body: "x" });
    assert.equal((await refusedUpgrade(relay, "/demo?jwt=garbage")).status, 401, "outside public: still 401");
    assert.equal((await httpGet(relay, "/announced/demo?jwt=garbage")).status, 401);
    // A well-formed, signed token is not trusted either: the relay has no key to check it.
    const signed = await ctx.token({ root: "demo", put: [""], get: [""] });
    assert.equal(
      (await refusedUpgrade(relay, `/demo?jwt=${signed}`)).status,
      401,
      "signed token, no key: 401",
    );
    assert.equal(await upgrade(relay, `/anon?jwt=${signed}`), 101, "but public access still applies");
    pubConn.close();
    viewer.close();
  },
  { keys: "none" },
);

// ---------------------------------------------------------------------------------------------
// 8. The reserved .internal namespace
// ---------------------------------------------------------------------------------------------

authTest("everything public: anonymous clients cannot publish or list .internal", async (ctx) => {
  const { relay } = ctx;
  // A cluster credential (root "", put [""], get [""]) may use `.internal`: it is the witness that
  // would see a forged `.internal` broadcast, and it publishes a legitimate one as a control.
  const clusterToken = await ctx.token({ root: "", put: [""], get: [""] });
  const witness = await dial(relay, "", clusterToken);
  const witnessEvents = await watchAnnounced(witness, "");
  const legit = await publish(witness, ".internal/test/legit");

  const sneaky = await dial(relay, "");
  const forged = await publish(sneaky, ".internal/origins/x");
  const honest = await publish(sneaky, "ok/x");
  // Rooted at `/.internal` the session may be refused outright; if accepted it still cannot publish.
  const atInternal = await upgrade(relay, "/.internal");
  assert.ok(atInternal === 101 || atInternal === 401, `/.internal upgrade answered ${atInternal}`);
  const sneakyAtInternal = atInternal === 101 ? await dial(relay, ".internal") : undefined;
  const forged2 = sneakyAtInternal ? await publish(sneakyAtInternal, "origins/y") : undefined;

  const viewer = await dial(relay, "");
  const events = await watchAnnounced(viewer, "");
  const internalEvents = await watchAnnounced(viewer, ".internal");
  await eventually(
    "the witness sees the control broadcasts",
    () => witnessEvents.includes("+ok/x") && witnessEvents.includes("+.internal/test/legit"),
  );
  await eventually("the anonymous viewer sees ok/x", () => events.includes("+ok/x"));
  const t1 = await subscribe(viewer, ".internal/origins/x", "t");
  const t2 = await subscribe(viewer, ".internal/test/legit", "t");
  const t3 = await subscribe(witness, ".internal/origins/x", "t");
  await Promise.all([
    assertNoDelivery(t1, 1_000, "anonymous: .internal/origins/x"),
    assertNoDelivery(t2, 1_000, "anonymous: .internal/test/legit"),
    assertNoDelivery(t3, 1_000, "witness: .internal/origins/x"),
  ]);
  assert.deepEqual(events, ["+ok/x"], "anonymous viewers see no .internal broadcast");
  assert.deepEqual(internalEvents, []);
  assert.deepEqual(
    witnessEvents.filter((e) => e.includes("origins")),
    [],
    `an anonymous .internal broadcast was accepted: ${witnessEvents.join(" ")}`,
  );
  assert.equal(forged.requests.length + (forged2?.requests.length ?? 0), 0, "no forged track requested");
  assert.equal(legit.requests.length, 0, "an anonymous subscriber reached an .internal publisher");
  assert.equal(honest.requests.length, 0);

  const all = await httpGet(relay, "/announced");
  assert.deepEqual(all, { status: 200, body: "ok/x" }, "anonymous /announced lists no .internal path");
  for (const path of ["/announced/.internal", "/announced/%2Einternal", "/announced/.internal/test"]) {
    const res = await httpGet(relay, path);
    assert.ok(!/origins|legit/.test(res.body), `${path} listed: ${res.body}`);
  }
  const asCluster = await httpGet(relay, `/announced?jwt=${clusterToken}`);
  assert.deepEqual(
    asCluster,
    { status: 200, body: ".internal/test/legit\nok/x" },
    "a cluster credential lists it",
  );
  for (const c of [witness, sneaky, sneakyAtInternal, viewer]) c?.close();
}, { keys: "file", public: `public = ""` });

authTest(
  "only the cluster credential announces under .internal/origins; explicit grants only read",
  async (ctx) => {
    const { relay } = ctx;
    const witness = await dial(relay, "", await ctx.token({ root: "", put: [""], get: [""] }));
    const witnessEvents = await watchAnnounced(witness, ".internal");
    await publish(witness, ".internal/origins/https:/legit.example");

    // Each may publish everything (put = "" or .internal), none is the cluster credential.
    const forgers: Array<[string, string]> = [
      ["", await ctx.token({ root: "", put: [""], get: ["demo"] })],
      ["", await ctx.token({ root: "", put: [""], get: [".internal/stats"] })],
      ["", await ctx.token({ root: "", put: [".internal"], get: [".internal"] })],
      [".internal/origins", await ctx.token({ root: ".internal/origins", put: [""] })],
    ];
    const conns = [witness];
    for (const [path, token] of forgers) {
      const conn = await dial(relay, path, token);
      conns.push(conn);
      const wire = path === ""
        ? `.internal/origins/https:/forged-${conns.length}.example`
        : `https:/forged-${conns.length}.example`;
      await publish(conn, wire);
      await publish(conn, path === "" ? `.internal/other-${conns.length}` : `x-${conns.length}`);
    }
    // A grant naming .internal unlocks reading it, per prefix: it sees the cluster's advertisement.
    const reader = await dial(relay, "", await ctx.token({ root: "", get: [".internal/origins"] }));
    conns.push(reader);
    const readerEvents = await watchAnnounced(reader, "");
    await eventually("the witness sees the legitimate advertisement", () => witnessEvents.length > 0);
    await eventually("the .internal/origins reader sees it too", () => readerEvents.length > 0);
    await sleep(1_000);
    assert.deepEqual(
      witnessEvents,
      ["+.internal/origins/https:/legit.example"],
      "no forged .internal broadcast",
    );
    assert.deepEqual(readerEvents, ["+.internal/origins/https:/legit.example"]);
    for (const c of conns) c.close();
  },
  { keys: "file", public: `public = ""` },
);

// ---------------------------------------------------------------------------------------------
// 9. HTTP endpoints follow the same rules
// ---------------------------------------------------------------------------------------------

authTest("GET /announced/demo needs a subscribe token", async (ctx) => {
  const { relay } = ctx;
  const { conn } = await publishAlice(ctx);
  const subscribeToken = await ctx.token({ root: "demo", get: [""] });
  let listed = { status: 0, body: "" };
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    listed = await httpGet(relay, `/announced/demo?jwt=${subscribeToken}`);
    if (listed.body !== "") break;
    await sleep(50);
  }
  assert.deepEqual(listed, { status: 200, body: "alice" }, "the subscribe token lists alice");
  assert.equal((await httpGet(relay, "/announced/demo")).status, 401, "no token");
  assert.equal((await httpGet(relay, "/announced/de%6Do")).status, 401, "no token, percent-encoded path");
  assert.equal(
    (await httpGet(relay, `/announced/demo?jwt=${await ctx.token({ root: "demo", put: ["alice"] })}`)).status,
    401,
    "a publish-only token may not list",
  );
  assert.equal((await httpGet(relay, `/announced/other?jwt=${subscribeToken}`)).status, 401, "other root");
  const rootWide = await httpGet(relay, `/announced?jwt=${await ctx.token({ root: "", get: ["demo"] })}`);
  assert.deepEqual(rootWide, { status: 200, body: "demo/alice" });
  assert.equal((await httpGet(relay, "/fetch/demo/alice/video")).status, 401, "/fetch without a token");
  conn.close();
});

// ---------------------------------------------------------------------------------------------
// 10. The token subcommand end to end
// ---------------------------------------------------------------------------------------------

async function cli(
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(enc.encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "`main.ts token generate|sign|verify` makes a key and tokens the relay accepts",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-auth-cli-" });
  let relay: RelayProcess | undefined;
  try {
    const keyPath = `${dir}/k.jwk`;
    const gen = await cli(["token", "generate", "--out", keyPath]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.equal((await Deno.stat(keyPath)).mode! & 0o777, 0o600, "private key file is 0600");
    const key = parseKeyText(await Deno.readTextFile(keyPath), keyPath);
    assert.equal(key.alg, "HS256", "default algorithm");

    const signed = await cli(["token", "sign", "--key", keyPath, "--root", "demo", "--publish", "alice"]);
    assert.equal(signed.code, 0, signed.stderr);
    const jwt = signed.stdout.trim();
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/, "a compact JWT on stdout");
    const viewerSigned = await cli(["token", "sign", "--key", keyPath, "--root", "demo", "--subscribe", ""]);
    assert.equal(viewerSigned.code, 0, viewerSigned.stderr);
    const viewerJwt = viewerSigned.stdout.trim();

    const verified = await cli(["token", "verify", "--key", keyPath], jwt + "\n");
    assert.equal(verified.code, 0, verified.stderr);
    assert.deepEqual(JSON.parse(verified.stdout), { root: "demo", put: ["alice"], get: [] });
    const tampered = await cli(["token", "verify", "--key", keyPath], viewerJwt.slice(0, -2) + "AA");
    assert.equal(tampered.code, 1, "verify rejects a bad signature");

    relay = await startRelay({ auth: `key = "${keyPath}"` });
    assert.equal(await upgrade(relay, `/demo?jwt=${jwt}`), 101, "the relay accepts the CLI token");
    assert.equal(await upgrade(relay, `/other?jwt=${jwt}`), 401, "but only at its root");
    const pubConn = await dial(relay, "demo", jwt);
    const viewer = await dial(relay, "demo", viewerJwt);
    const events = await watchAnnounced(viewer, "");
    const pub = await publish(pubConn, "alice");
    const track = await subscribe(viewer, "alice", "video");
    const upstream = await pub.request();
    writeGroup(upstream, [payload(1234, 5)]);
    assert.deepEqual((await readGroup(track))?.frames, [payload(1234, 5)]);
    assert.deepEqual(events, ["+alice"]);
    pubConn.close();
    viewer.close();
  } finally {
    await relay?.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
