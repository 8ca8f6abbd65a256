import assert from "node:assert/strict";
import { ConfigError, defaultDevConfig, type FileInfo, loadConfig, type LoadResult } from "./load.ts";

/** A minimal valid file: generated certificate + anonymous access. */
const MIN = `[server.tls]\ngenerate = "localhost"\n[auth]\npublic = "anon"\n`;
/** The same as flags. */
const MIN_FLAGS = ["--tls-generate", "localhost", "--auth-public", "anon"];

interface FakeFs {
  files?: Record<string, string>;
  dirs?: string[];
}

/** Load with an in-memory file system; `toml` (if given) is `relay.toml`, passed positionally. */
function load(
  toml: string | undefined,
  args: string[] = [],
  env: Record<string, string> = {},
  fs: FakeFs = {},
): Promise<LoadResult> {
  const files: Record<string, string> = { ...fs.files };
  if (toml !== undefined) files["relay.toml"] = toml;
  const dirs = new Set(fs.dirs ?? []);
  return loadConfig(toml === undefined ? args : ["relay.toml", ...args], env, {
    readFile: (path) =>
      path in files ? Promise.resolve(files[path]) : Promise.reject(new Deno.errors.NotFound(`no ${path}`)),
    stat: (path): Promise<FileInfo> => {
      if (path in files) return Promise.resolve({ isFile: true, isDirectory: false });
      if (dirs.has(path)) return Promise.resolve({ isFile: false, isDirectory: true });
      return Promise.reject(new Deno.errors.NotFound(`no ${path}`));
    },
    memoryBytes: 1000,
  });
}

/** Assert a ConfigError naming `key` (and the file when `file` is true), one line. */
async function rejects(
  promise: Promise<unknown>,
  key: string | undefined,
  pattern?: RegExp,
  file = true,
): Promise<ConfigError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${key}, got ${caught}`);
  assert.equal(caught.name, "ConfigError");
  assert.equal(caught.key, key, caught.message);
  assert.ok(!caught.message.includes("\n"), `one line: ${caught.message}`);
  if (file) assert.ok(caught.message.startsWith("relay.toml"), `names the file: ${caught.message}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

// ---------------------------------------------------------------------------------------------
// Precedence

interface PrecedenceCase {
  name: string;
  /** TOML snippet setting the key (appended to MIN; may need its own table header). */
  file: string;
  env: Record<string, string>;
  flag: string[];
  read: (r: LoadResult) => unknown;
  values: { default: unknown; file: unknown; env: unknown; flag: unknown };
}

const PRECEDENCE: PrecedenceCase[] = [
  {
    name: "server.bind (string)",
    file: `[server]\nbind = "127.0.0.1:1001"\n`,
    env: { MOQ_SERVER_BIND: "127.0.0.1:1002" },
    flag: ["--listen", "127.0.0.1:1003"],
    read: (r) => r.config.server.bind,
    values: { default: "[::]:443", file: "127.0.0.1:1001", env: "127.0.0.1:1002", flag: "127.0.0.1:1003" },
  },
  {
    name: "server.version (comma list)",
    file: `[server]\nversion = ["moq-lite-01"]\n`,
    env: { MOQ_SERVER_VERSION: "moq-lite-02,moq-lite-03" },
    flag: ["--server-version", "moq-lite-04"],
    read: (r) => r.config.server.versions,
    values: {
      default: [],
      file: ["moq-lite-01"],
      env: ["moq-lite-02", "moq-lite-03"],
      flag: ["moq-lite-04"],
    },
  },
  {
    name: "server.quic.max_streams (int)",
    file: `[server.quic]\nmax_streams = 11\n`,
    env: { MOQ_SERVER_QUIC_MAX_STREAMS: "12" },
    flag: ["--server-quic-max-streams=13"],
    read: (r) => r.config.server.quic.maxStreams,
    values: { default: 1024, file: 11, env: 12, flag: 13 },
  },
  {
    name: "log.level (TOML not clobbered by the flag default)",
    file: `[log]\nlevel = "debug"\n`,
    env: { MOQ_LOG_LEVEL: "warn" },
    flag: ["--log-level", "ERROR"],
    read: (r) => r.config.log.level,
    values: { default: "info", file: "debug", env: "warn", flag: "error" },
  },
  {
    name: "web.ws (bool; TOML false honoured)",
    file: `[web]\nws = false\n`,
    env: { MOQ_WEB_WS: "true" },
    flag: ["--web-ws=false"],
    read: (r) => r.config.web.ws,
    values: { default: true, file: false, env: true, flag: false },
  },
  {
    name: "web.http.listen",
    file: `[web.http]\nlisten = "127.0.0.1:2001"\n`,
    env: { MOQ_WEB_HTTP_LISTEN: "127.0.0.1:2002" },
    flag: ["--web-http-listen", "[::1]:2003"],
    read: (r) => r.config.web.http?.listen,
    values: { default: undefined, file: "127.0.0.1:2001", env: "127.0.0.1:2002", flag: "[::1]:2003" },
  },
  {
    name: "internal.listen",
    file: `[internal]\nlisten = "127.0.0.1:3001"\n`,
    env: { MOQ_INTERNAL_LISTEN: "127.0.0.1:3002" },
    flag: ["--internal-listen=127.0.0.1:3003"],
    read: (r) => r.config.internal?.listen,
    values: { default: undefined, file: "127.0.0.1:3001", env: "127.0.0.1:3002", flag: "127.0.0.1:3003" },
  },
  {
    name: "auth.public family (one source wins as a whole)",
    file: `[auth.public]\nsubscribe = ["s1"]\npublish = "p1"\n`,
    env: { MOQ_AUTH_PUBLIC_SUBSCRIBE: "s2" },
    flag: ["--auth-public", "both3", "--auth-public-publish", "/p3/"],
    read: (r) => r.config.auth.public,
    values: {
      default: { subscribe: ["anon"], publish: ["anon"] },
      file: { subscribe: ["s1"], publish: ["p1"] },
      env: { subscribe: ["s2"], publish: [] },
      flag: { subscribe: ["both3"], publish: ["both3", "p3"] },
    },
  },
  {
    name: "auth.domains (MOQ_AUTH_DOMAIN, --auth-domain)",
    file: `domains = "a.example.com"\n`, // MIN ends inside [auth]
    env: { MOQ_AUTH_DOMAIN: "B.example.com" },
    flag: ["--auth-domain", "c.example.com", "--auth-domain", "d.example.com"],
    read: (r) => r.config.auth.domains,
    values: {
      default: [],
      file: ["a.example.com"],
      env: ["b.example.com"],
      flag: ["c.example.com", "d.example.com"],
    },
  },
  {
    name: "cluster.linger (duration)",
    file: `[cluster]\nlinger = "1s"\n`,
    env: { MOQ_CLUSTER_LINGER: "2s" },
    flag: ["--cluster-linger", "0"],
    read: (r) => r.config.cluster.lingerMs,
    values: { default: 5000, file: 1000, env: 2000, flag: 0 },
  },
  {
    name: "cluster.id (int)",
    file: `[cluster]\nid = 7\n`,
    env: { MOQ_CLUSTER_ID: "8" },
    flag: ["--cluster-id", "9007199254740991"],
    read: (r) => r.config.cluster.id,
    values: { default: undefined, file: 7, env: 8, flag: 9007199254740991 },
  },
  {
    name: "cluster.connect (comma list)",
    file: `[cluster]\nconnect = "https://a.example/"\n`,
    env: { MOQ_CLUSTER_CONNECT: "https://b.example/,https://c.example/?cost=2" },
    flag: ["--cluster-connect", "https://d.example/"],
    read: (r) => r.config.cluster.connect,
    values: {
      default: [],
      file: ["https://a.example/"],
      env: ["https://b.example/", "https://c.example/?cost=2"],
      flag: ["https://d.example/"],
    },
  },
  {
    name: "client.timeout (MOQ_CLIENT_CONNECT_TIMEOUT)",
    file: `[client]\ntimeout = "2m"\n`,
    env: { MOQ_CLIENT_CONNECT_TIMEOUT: "3s" },
    flag: ["--client-connect-timeout", "0"],
    read: (r) => r.config.client.timeoutMs,
    values: { default: 30000, file: 120000, env: 3000, flag: 0 },
  },
  {
    name: "client.tls.disable_verify (bool flag)",
    file: `[client.tls]\ndisable_verify = true\n`,
    env: { MOQ_CLIENT_TLS_DISABLE_VERIFY: "false" },
    flag: ["--client-tls-disable-verify"],
    read: (r) => r.config.client.tls.disableVerify,
    values: { default: false, file: true, env: false, flag: true },
  },
  {
    name: "cache.capacity (size, percent)",
    file: `[cache]\ncapacity = "1KiB"\n`,
    env: { MOQ_CACHE_CAPACITY: "50%" },
    flag: ["--cache-capacity", "2KB"],
    read: (r) => r.config.cache.capacityBytes,
    values: { default: undefined, file: 1024, env: 500, flag: 2000 },
  },
  {
    name: "limits.subscriber_queue (size)",
    file: `[limits]\nsubscriber_queue = "1MiB"\n`,
    env: { MOQ_LIMITS_SUBSCRIBER_QUEUE: "2MiB" },
    flag: ["--limits-subscriber-queue", "3MiB"],
    read: (r) => r.config.limits.subscriberQueueBytes,
    values: { default: 4 * 2 ** 20, file: 2 ** 20, env: 2 * 2 ** 20, flag: 3 * 2 ** 20 },
  },
  {
    name: "limits.max_broadcasts_per_session (int)",
    file: `[limits]\nmax_broadcasts_per_session = 1\n`,
    env: { MOQ_LIMITS_MAX_BROADCASTS_PER_SESSION: "2" },
    flag: ["--limits-max-broadcasts-per-session", "3"],
    read: (r) => r.config.limits.maxBroadcastsPerSession,
    values: { default: 256, file: 1, env: 2, flag: 3 },
  },
];

for (const c of PRECEDENCE) {
  Deno.test(`precedence flag > env > file > default: ${c.name}`, async () => {
    // The env/flag values for the public family replace the file's [auth] public, so keep MIN's
    // public only when the case is not about it.
    const base = c.name.startsWith("auth.public") ? MIN.replace('public = "anon"\n', "") : MIN;
    const fallback = c.name.startsWith("auth.public") ? MIN : base;
    assert.deepEqual(c.read(await load(fallback)), c.values.default, "default");
    assert.deepEqual(c.read(await load(base + c.file)), c.values.file, "file");
    assert.deepEqual(c.read(await load(base + c.file, [], c.env)), c.values.env, "env over file");
    assert.deepEqual(c.read(await load(base + c.file, c.flag, c.env)), c.values.flag, "flag over env");
    assert.deepEqual(c.read(await load(base + c.file, c.flag)), c.values.flag, "flag over file");
  });
}

Deno.test("flags + env without a file build from defaults (no dev default)", async () => {
  const r = await load(undefined, ["--server-bind", "127.0.0.1:5"], {
    MOQ_SERVER_TLS_GENERATE: "localhost",
    MOQ_AUTH_PUBLIC: "x",
  });
  assert.equal(r.development, false);
  assert.equal(r.config.server.bind, "127.0.0.1:5");
  assert.deepEqual(r.config.server.tls.generate, ["localhost"]);
  assert.deepEqual(r.config.auth.public, { subscribe: ["x"], publish: ["x"] });
  assert.equal(r.config.web.http, undefined);
  assert.equal(r.config.file, undefined);
  const minimal = await load(undefined, MIN_FLAGS);
  assert.equal(minimal.development, false);
  assert.equal(minimal.config.server.bind, "[::]:443", "upstream's default bind");
  assert.deepEqual(minimal.warnings, []);
});

// ---------------------------------------------------------------------------------------------
// Development default

Deno.test("no file, no flags, no MOQ_* env: the embedded development config", async () => {
  const r = await load(undefined);
  assert.equal(r.development, true);
  assert.deepEqual(r.config, defaultDevConfig());
  assert.equal(r.config.server.bind, "127.0.0.1:4443");
  assert.equal(r.config.web.http?.listen, "127.0.0.1:4443");
  assert.equal(r.config.internal?.listen, "127.0.0.1:9090");
  assert.deepEqual(r.config.server.tls.generate, ["localhost", "127.0.0.1"]);
  assert.deepEqual(r.config.auth.public, { subscribe: ["anon"], publish: ["anon"] });

  const logged = await load(undefined, ["--log-level", "debug"], {
    RUST_LOG: "relay=trace,info",
    HOME: "/x",
  });
  assert.equal(logged.development, true, "log settings keep the dev default");
  assert.equal(logged.config.log.level, "debug");
  assert.equal(logged.config.log.filter, "relay=trace,info");
  assert.equal((await load(undefined, [], { MOQ_LOG_LEVEL: "warn" })).config.log.level, "warn");

  const typo = await load(undefined, [], { MOQ_SEVRER_BIND: "x" });
  assert.equal(typo.development, true);
  assert.equal(typo.warnings.length, 1);

  // Any other setting turns the dev default off (and this one alone is incomplete).
  await rejects(load(undefined, ["--auth-public", "anon"]), "server.tls.cert", /no certificate/, false);
});

// ---------------------------------------------------------------------------------------------
// Layouts

const CURRENT = `
[log]
level = "warn"
[server]
bind = "[::]:4443"
version = ["moq-lite-04", "moq-lite-03"]
[server.tls]
cert = ["a.pem", "b.pem"]
key = ["a.key", "b.key"]
generate = ["localhost", "::1"]
[server.quic]
max_streams = 500
idle_timeout = "10s"
keep_alive = "2s"
[web]
ws = false
[web.http]
listen = "0.0.0.0:80"
[web.https]
listen = "[::]:443"
cert = "web.pem"
key = "web.key"
[internal]
listen = "127.0.0.1:9000"
[auth]
key = "root.jwk"
public = ["anon", "/demo/"]
domains = ["CDN.example.com"]
[cluster]
connect = ["https://peer.example:4443/?cost=3", "peer2.example:4443"]
node = "https://self.example:4443/"
mesh = true
token = "cluster.jwt"
id = 12345
linger = "1h 30m"
[client]
timeout = "10s"
[client.tls]
fingerprint = "AA:${"bb".repeat(31)}"
cert = "client.pem"
key = "client.key"
[cache]
capacity = "8GiB"
duration = "30s"
[limits]
max_broadcasts_per_session = 1
max_subscriptions_per_session = 2
max_streams_per_session = 3
subscriber_queue = "1MiB"
subscribe_wait = "500ms"
warm = "0"
drain_timeout = "1m"
`;

Deno.test("current layout: every supported key is converted", async () => {
  const r = await load(CURRENT, [], {}, { files: { "root.jwk": "{}", "cluster.jwt": "eyJ.x.y\n" } });
  const c = r.config;
  assert.equal(c.file, "relay.toml");
  assert.equal(c.log.level, "warn");
  assert.deepEqual(c.server, {
    bind: "[::]:4443",
    versions: ["moq-lite-04", "moq-lite-03"],
    tls: { cert: ["a.pem", "b.pem"], key: ["a.key", "b.key"], generate: ["localhost", "::1"], root: [] },
    quic: { maxStreams: 500, idleTimeoutMs: 10_000, keepAliveMs: 2000 },
  });
  assert.deepEqual(c.web, {
    ws: false,
    http: { listen: "0.0.0.0:80" },
    https: { listen: "[::]:443", cert: ["web.pem"], key: ["web.key"], root: [] },
  });
  assert.deepEqual(c.internal, { listen: "127.0.0.1:9000" });
  assert.deepEqual(c.auth, {
    key: "root.jwk",
    keyDir: undefined,
    public: { subscribe: ["anon", "demo"], publish: ["anon", "demo"] },
    domains: ["cdn.example.com"],
  });
  assert.deepEqual(c.cluster, {
    connect: ["https://peer.example:4443/?cost=3", "https://peer2.example:4443/"],
    node: "https://self.example:4443/",
    mesh: true,
    token: "cluster.jwt",
    id: 12345,
    lingerMs: 5_400_000,
  });
  assert.deepEqual(c.client, {
    timeoutMs: 10_000,
    tls: {
      disableVerify: false,
      root: [],
      fingerprint: ["aa" + "bb".repeat(31)],
      cert: "client.pem",
      key: "client.key",
    },
  });
  assert.deepEqual(c.cache, { capacityBytes: 8 * 2 ** 30, durationMs: 30_000 });
  assert.deepEqual(c.limits, {
    maxBroadcastsPerSession: 1,
    maxSubscriptionsPerSession: 2,
    maxStreamsPerSession: 3,
    subscriberQueueBytes: 2 ** 20,
    subscribeWaitMs: 500,
    warmMs: 0,
    drainTimeoutMs: 60_000,
  });
  assert.deepEqual(r.warnings, [
    `relay.toml: cluster.connect: a bare host "peer2.example:4443" is deprecated; write "https://peer2.example:4443/"`,
  ]);
});

Deno.test("legacy layout: [tls], server.listen, cluster.mesh = URL", async () => {
  const legacy = `
[server]
listen = "127.0.0.1:4443"
[tls]
cert = "a.pem"
key = "a.key"
[auth]
public = "anon"
key_dir = "keys"
[cluster]
mesh = "https://self.example/"
`;
  const r = await load(legacy, [], {}, { dirs: ["keys"] });
  assert.equal(r.config.server.bind, "127.0.0.1:4443");
  assert.deepEqual(r.config.server.tls.cert, ["a.pem"]);
  assert.deepEqual(r.config.server.tls.key, ["a.key"]);
  assert.equal(r.config.cluster.mesh, true);
  assert.equal(r.config.cluster.node, "https://self.example/");
  assert.equal(r.config.auth.keyDir, "keys");
  assert.equal(r.warnings.length, 2, r.warnings.join("\n"));
  assert.ok(r.warnings.some((w) => /\[tls\] table is deprecated/.test(w)));
  assert.ok(r.warnings.some((w) => /cluster\.mesh = "<url>" is deprecated/.test(w)));

  // [tls] and [server.tls] with the same values: accepted (still warned).
  const same = await load(
    `[tls]\ncert = "a.pem"\nkey = "a.key"\n[server.tls]\ncert = ["a.pem"]\nkey = "a.key"\n[auth]\npublic = ""\n`,
  );
  assert.deepEqual(same.config.server.tls.cert, ["a.pem"]);
  assert.deepEqual(
    same.config.auth.public,
    { subscribe: [""], publish: [""] },
    `public = "" means everything`,
  );
  // A legacy mesh URL equal to node is fine.
  const mesh = await load(MIN + `[cluster]\nmesh = "https://n.example/"\nnode = "https://n.example/"\n`);
  assert.equal(mesh.config.cluster.node, "https://n.example/");
  // A flag overrides the legacy file value.
  const flagged = await load(legacy, ["--tls-cert", "b.pem", "--tls-key", "b.key"], {}, { dirs: ["keys"] });
  assert.deepEqual(flagged.config.server.tls.cert, ["b.pem"]);
});

// ---------------------------------------------------------------------------------------------
// Unknown and unsupported keys

Deno.test("unknown keys: fatal naming key and file, except [auth] / [auth.public] (warning)", async () => {
  await rejects(
    load(MIN + `[server]\nbindd = "x:1"\n`),
    "server.bindd",
    /unknown key in \[server\].*did you mean bind/,
  );
  await rejects(load(MIN + `[web]\nfoo = 1\n`), "web.foo", /unknown key/);
  await rejects(load(`stray = 1\n` + MIN), "stray", /unknown key at the top level/);
  await rejects(load(MIN + `[cluster]\nroot = "x"\n`), "cluster.root", /unknown key/);
  await rejects(load(MIN + `[cluster]\nadvertise = "x"\n`), "cluster.advertise", /unknown key/);
  await rejects(load(MIN + `[tls]\nfoo = "x"\n`), "tls.foo", /unknown key in \[tls\]/);
  await rejects(load(MIN + `[nonsense]\n`), "nonsense", /unknown key/);

  const lenient = await load(MIN.replace('public = "anon"', 'pubilc = "x"\npublic = "anon"'));
  assert.ok(
    lenient.warnings.some((w) => /unknown key auth\.pubilc ignored \(did you mean public\?\)/.test(w)),
  );
  const table = await load(
    `[server.tls]\ngenerate = "localhost"\n[auth.public]\nsubscribe = "a"\nsubcribe = "b"\n`,
  );
  assert.deepEqual(table.config.auth.public, { subscribe: ["a"], publish: [] });
  assert.ok(table.warnings.some((w) => /auth\.public\.subcribe ignored/.test(w)));
});

Deno.test("upstream features this relay lacks parse with a warning", async () => {
  const r = await load(
    MIN + `
[server]
backend = "quinn"
[server.quic]
gso = true
qlog = "/tmp"
quic_lb_id = 3
[iroh]
enabled = true
[client]
bind = "[::]:0"
[client.quic]
anything = "goes"
[client.backoff]
initial = "1s"
[cache]
headroom = "10%"
`,
    [],
  );
  const expected = [
    "server.backend",
    "server.quic.gso",
    "server.quic.qlog",
    "server.quic.quic_lb_id",
    "iroh.enabled",
    "client.bind",
    "[client.quic]",
    "[client.backoff]",
    "cache.headroom",
  ];
  for (const what of expected) {
    assert.ok(
      r.warnings.some((w) => w.includes(what) && w.endsWith("is not supported by this relay; ignored")),
      `${what}: ${r.warnings.join("\n")}`,
    );
  }
  assert.equal(r.warnings.length, expected.length);
  // auth_api etc. are kept in the config (for logs) but warned.
  const api = await load(MIN + `[cluster]\nconnect_api = "https://api.example/peers"\n`);
  assert.equal(api.config.cluster.connectApi, "https://api.example/peers");
  assert.ok(!api.warnings.some((w) => w.includes("cluster.connect_api")), "connect_api is supported");
  // Version names upstream knows but this relay lacks are dropped with a warning.
  const versions = await load(
    MIN + `[server]\nversion = ["moq-lite-06-wip", "moq-transport-17", "moq-lite-03"]\n`,
  );
  assert.deepEqual(versions.config.server.versions, ["moq-transport-17", "moq-lite-03"]);
  assert.ok(versions.warnings.some((w) => /moq-lite-06-wip is not supported/.test(w)));
});

// ---------------------------------------------------------------------------------------------
// Fatal cases of docs/relay.md §1.5

Deno.test("fatal: unreadable file, TOML syntax and type errors", async () => {
  const missing = await rejects(
    loadConfig(["nope.toml"], {}, { readFile: () => Promise.reject(new Deno.errors.NotFound("x")) }),
    "file",
    /cannot read config file nope\.toml: no such file/,
    false,
  );
  assert.equal(missing.file, "nope.toml");
  const syntax = await rejects(load(`[server]\nbind = \n`), undefined, /^relay\.toml:2:\d+: invalid TOML/);
  assert.equal(syntax.file, "relay.toml");
  await rejects(load(MIN + `[server]\nbind = 443\n`), "server.bind", /expected a string, got 443/);
  await rejects(load(`server = "x"\n[auth]\npublic = "anon"\n`), "server", /expected a table \[server\]/);
  await rejects(load(MIN + `[web]\nws = "yes"\n`), "web.ws", /expected true or false/);
  await rejects(load(MIN + `[server.tls]\n`), undefined, /invalid TOML/);
  await rejects(load(MIN + `[server]\nversion = [1]\n`), "server.version", /a string or an array of strings/);
  await rejects(
    load(MIN + `[server]\nversion = ["moq-lite-09"]\n`),
    "server.version",
    /unknown version "moq-lite-09"/,
  );
  await rejects(
    load(MIN + `[server]\nversion = ["moq-lite-06-wip"]\n`),
    "server.version",
    /none of the listed versions/,
  );
  await rejects(load(MIN + `[log]\nlevel = "loud"\n`), "log.level", /invalid log level "loud"/);
  await rejects(load(MIN, [], { RUST_LOG: "relay=loud" }), "RUST_LOG", /RUST_LOG: invalid log level/, false);
});

Deno.test("fatal: listeners", async () => {
  await rejects(
    load(MIN + `[server]\nbind = "[::]:443"\nlisten = "[::]:443"\n`),
    "server.bind",
    /same setting/,
  );
  await rejects(load(MIN + `[server]\nbind = "nowhere"\n`), "server.bind", /expected "host:port"/);
  await rejects(load(MIN + `[web.http]\nlisten = "localhost:80"\n`), "web.http.listen", /not a host name/);
  await rejects(load(MIN + `[internal]\nlisten = "9090"\n`), "internal.listen", /IP:port/);
  await rejects(load(MIN + `[server]\nbind = ""\n`), "server.bind", /nothing to listen on/);
  const wsOnly = await load(MIN + `[server]\nbind = ""\n[web.http]\nlisten = "127.0.0.1:80"\n`);
  assert.equal(wsOnly.config.server.bind, undefined, `bind = "" disables QUIC`);
});

Deno.test("fatal: TLS", async () => {
  await rejects(
    load(`[auth]\npublic = "anon"\n`),
    "server.tls.cert",
    /no certificate.*server\.tls\.generate/,
  );
  await rejects(
    load(`[server.tls]\ncert = ["a.pem", "b.pem"]\nkey = "a.key"\n[auth]\npublic = "anon"\n`),
    "server.tls.cert",
    /server\.tls\.cert lists 2 file\(s\) but server\.tls\.key lists 1/,
  );
  await rejects(
    load(MIN, ["--tls-cert", "a.pem"]),
    "server.tls.cert",
    /--tls-cert lists 1 file\(s\) but server\.tls\.key lists 0/,
    false,
  );
  await rejects(
    load(
      `[tls]\ncert = "a.pem"\nkey = "a.key"\n[server.tls]\ncert = "b.pem"\nkey = "a.key"\n[auth]\npublic = "a"\n`,
    ),
    "server.tls.cert",
    /tls\.cert: conflicts with server\.tls\.cert/,
  );
  await rejects(load(MIN + `[web.https]\nlisten = "[::]:443"\n`), "web.https.listen", /needs a certificate/);
  await rejects(
    load(MIN + `[web.https]\nlisten = "[::]:443"\ncert = ["a", "b"]\nkey = "a"\n`),
    "web.https.cert",
    /paired by position/,
  );
  await rejects(load(MIN, ["--tls-generate", "a b"]), "server.tls.generate", /invalid host name/, false);
});

Deno.test("fatal: auth", async () => {
  const tls = `[server.tls]\ngenerate = "localhost"\n`;
  await rejects(load(tls), "auth.key", /no authentication configured.*auth\.public = "anon"/);
  await rejects(
    load(tls + `[auth]\nkey = "k.jwk"\nkey_dir = "d"\n`, [], {}, { files: { "k.jwk": "" }, dirs: ["d"] }),
    "auth.key",
    /auth\.key and auth\.key_dir are both set/,
  );
  await rejects(
    load(tls + `[auth]\nkey = "missing.jwk"\n`),
    "auth.key",
    /cannot use JWK file "missing\.jwk" \(no such file\).*token generate/,
  );
  await rejects(load(tls + `[auth]\nkey = "d"\n`, [], {}, { dirs: ["d"] }), "auth.key", /not a regular file/);
  await rejects(
    load(tls + `[auth]\nkey_dir = "k.jwk"\n`, [], {}, { files: { "k.jwk": "" } }),
    "auth.key_dir",
    /not a directory/,
  );
  await rejects(load(tls + `[auth]\nkey_dir = "nodir"\n`), "auth.key_dir", /no such file/);
  await rejects(
    load(tls + `[auth]\nauth_api = "https://a.example/"\npublic = "anon"\n`),
    "auth.auth_api",
    /cannot be combined with auth\.public/,
  );
  await rejects(load(tls + `[auth]\nauth_api = "not a url"\n`), "auth.auth_api", /http\(s\) URL/);
  // auth_api alone is a complete authentication setup.
  const api = await load(tls + `[auth]\nauth_api = "https://a.example/auth"\n`);
  assert.equal(api.config.auth.authApi, "https://a.example/auth");
  assert.ok(!api.warnings.some((w) => w.includes("auth_api")));
  await rejects(load(tls + `[auth]\npublic = "a"\n[auth.public]\n`), undefined, /invalid TOML/);
  await rejects(
    load(tls + `[auth.public]\nsubscribe = "a"\napi = "ftp://x"\n`),
    "auth.public.api",
    /http\(s\) URL/,
  );
  await rejects(load(MIN, ["--auth-domain", " "]), "auth.domains", /empty entry/, false);
  await rejects(
    load(tls + `[auth]\npublic = "a"\ndomains = ["ok.example", "bad domain"]\n`),
    "auth.domains",
    /invalid domain/,
  );
  // Remote forms are not checked on disk.
  const remote = await load(tls + `[auth]\nkey = "https://keys.example/root.jwk"\n`);
  assert.equal(remote.config.auth.key, "https://keys.example/root.jwk");
  const remoteDir = await load(tls + `[auth]\nkey_dir = "https://keys.example/"\n`);
  assert.equal(remoteDir.config.auth.keyDir, "https://keys.example/");
  assert.match(remoteDir.warnings.join("\n"), /URL form of auth\.key_dir is deprecated/);
});

Deno.test("fatal: auth.key / key_dir against the real file system", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/root.jwk`;
    await Deno.writeTextFile(key, "{}");
    const base = ["--tls-generate", "localhost"];
    assert.equal((await loadConfig([...base, "--auth-key", key], {})).config.auth.key, key);
    assert.equal((await loadConfig([...base, "--auth-key-dir", dir], {})).config.auth.keyDir, dir);
    assert.equal(
      (await loadConfig([...base, "--auth-key", `file://${key}`], {})).config.auth.key,
      `file://${key}`,
    );
    await rejects(
      loadConfig([...base, "--auth-key", dir], {}),
      "auth.key",
      /^--auth-key: .*not a regular file/,
      false,
    );
    await rejects(loadConfig([...base, "--auth-key-dir", key], {}), "auth.key_dir", /not a directory/, false);
    await rejects(
      loadConfig([...base], { MOQ_AUTH_KEY: `${dir}/nope.jwk` }),
      "auth.key",
      /^MOQ_AUTH_KEY: /,
      false,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fatal: cluster", async () => {
  await rejects(load(MIN + `[cluster]\nid = 0\n`), "cluster.id", /from 1 to 9007199254740991/);
  await rejects(load(MIN + `[cluster]\nid = 9007199254740992\n`), "cluster.id", /< 2\^53/);
  await rejects(load(MIN + `[cluster]\nid = 4611686018427387904\n`), "cluster.id", /< 2\^53/);
  await rejects(load(MIN + `[cluster]\nid = -1\n`), "cluster.id");
  await rejects(load(MIN, ["--cluster-id", "12x"]), "cluster.id", /whole number/, false);
  await rejects(load(MIN + `[cluster]\nmesh = true\n`), "cluster.mesh", /cluster\.mesh needs cluster\.node/);
  await rejects(
    load(MIN + `[cluster]\nmesh = "https://a.example/"\nnode = "https://b.example/"\n`),
    "cluster.mesh",
    /conflicts with cluster\.node/,
  );
  await rejects(
    load(MIN + `[cluster]\ntoken = "missing.jwt"\n`),
    "cluster.token",
    /cannot read token file "missing\.jwt"/,
  );
  await rejects(
    load(MIN + `[cluster]\ntoken = "empty.jwt"\n`, [], {}, { files: { "empty.jwt": " \n" } }),
    "cluster.token",
    /is empty/,
  );
  await rejects(load(MIN + `[cluster]\nconnect = "https://[bad/"\n`), "cluster.connect", /invalid URL/);
  await rejects(
    load(MIN + `[cluster]\nconnect = "https://a.example/?cost=1.5"\n`),
    "cluster.connect",
    /cost=1\.5/,
  );
  await rejects(load(MIN + `[cluster]\nconnect = "has space"\n`), "cluster.connect", /invalid URL/);
  await rejects(
    load(MIN + `[cluster]\nlinger = "5 parsecs"\n`),
    "cluster.linger",
    /invalid duration "5 parsecs"/,
  );
  await rejects(load(MIN + `[cluster]\nlinger = 5\n`), "cluster.linger", /duration string/);
  const zero = await load(MIN + `[cluster]\nlinger = 0\n`);
  assert.equal(zero.config.cluster.lingerMs, 0);
});

Deno.test("fatal: client TLS contradictions", async () => {
  await rejects(
    load(MIN + `[client.tls]\nroot = "ca.pem"\ndisable_verify = true\n`),
    "client.tls.disable_verify",
    /cannot be combined with client\.tls\.root/,
  );
  await rejects(
    load(MIN + `[client.tls]\nroot = "ca.pem"\nfingerprint = "${"ab".repeat(32)}"\n`),
    "client.tls.fingerprint",
    /cannot be combined with client\.tls\.root/,
  );
  await rejects(
    load(MIN + `[client.tls]\ncert = "c.pem"\n`),
    "client.tls.cert",
    /client\.tls\.cert needs client\.tls\.key/,
  );
  await rejects(
    load(MIN + `[client.tls]\nkey = "c.key"\n`),
    "client.tls.key",
    /client\.tls\.key needs client\.tls\.cert/,
  );
  await rejects(load(MIN + `[client.tls]\nfingerprint = "abc"\n`), "client.tls.fingerprint", /64 hex digits/);
  await rejects(load(MIN + `[client]\ntimeout = "soon"\n`), "client.timeout", /invalid duration/);
});

Deno.test("fatal: cache and limits", async () => {
  await rejects(load(MIN + `[cache]\ncapacity = "lots"\n`), "cache.capacity", /invalid size "lots"/);
  await rejects(load(MIN + `[cache]\ncapacity = "0%"\n`), "cache.capacity", /greater than 0%/);
  await rejects(load(MIN + `[cache]\ncapacity = "101%"\n`), "cache.capacity", /at most 100%/);
  await rejects(load(MIN + `[cache]\nheadroom = "0"\n`), "cache.headroom", /greater than 0/);
  await rejects(load(MIN + `[cache]\nduration = "x"\n`), "cache.duration", /invalid duration/);
  await rejects(
    load(MIN + `[limits]\nmax_streams_per_session = 0\n`),
    "limits.max_streams_per_session",
    /at least 1/,
  );
  await rejects(
    load(MIN + `[limits]\nsubscriber_queue = "0"\n`),
    "limits.subscriber_queue",
    /greater than 0/,
  );
  await rejects(
    load(MIN + `[limits]\nsubscriber_queue = "10%"\n`),
    "limits.subscriber_queue",
    /percentage is not accepted/,
  );
  await rejects(load(MIN + `[limits]\nwarm = "forever"\n`), "limits.warm", /invalid duration/);
  await rejects(load(MIN + `[server.quic]\nmax_streams = 1.5\n`), "server.quic.max_streams", /whole number/);
  await rejects(
    load(MIN, [], { MOQ_LIMITS_SUBSCRIBE_WAIT: "2" }),
    "limits.subscribe_wait",
    /^MOQ_LIMITS_SUBSCRIBE_WAIT: .*missing unit/,
    false,
  );
});

Deno.test("[stats], [server.tcp], [server.unix] are read; [server.unix.allow] fails naming the key", async () => {
  const r = await load(
    MIN + `[stats]\nenabled = true\nnode = "sjc/1"\n[server.tcp]\nbind = "0.0.0.0:4444"\n` +
      `[server.unix]\nbind = "/run/moq.sock"\n`,
  );
  assert.deepEqual(r.config.stats, {
    enabled: true,
    prefix: ".stats",
    intervalMs: 1_000,
    node: "sjc/1",
    depth: 0,
  });
  assert.deepEqual(r.config.streams, { tcp: "0.0.0.0:4444", unix: "/run/moq.sock" });
  assert.ok(r.warnings.some((w) => /server\.tcp\.bind.*not on loopback/.test(w)));
  await rejects(
    load(MIN + `[server.unix]\nbind = "/run/moq.sock"\n[server.unix.allow]\nuid = [1001]\n`),
    "server.unix.allow.uid",
    /file permissions/,
  );
  // No [server] bind with a stream listener: stream-only, no QUIC (and no certificate needed).
  const streamOnly = await loadConfig([], { MOQ_SERVER_TCP_BIND: "127.0.0.1:4444", MOQ_AUTH_PUBLIC: "anon" });
  assert.equal(streamOnly.config.server.bind, undefined);
  assert.equal(streamOnly.config.streams?.tcp, "127.0.0.1:4444");
  const depth = await load(MIN + `[stats]\nenabled = true\ndepth = 1\n`);
  assert.equal(depth.config.stats?.depth, 1);
  assert.ok(!depth.warnings.some((w) => /stats\.depth/.test(w)));
  await assert.rejects(load(MIN + `[stats]\nenabled = true\ndepth = 99\n`), /stats\.depth/);
});

Deno.test("stats.interval takes bare seconds like upstream", async () => {
  const r = await load(MIN + `[stats]\ninterval = 5\n`);
  assert.equal(r.config.stats?.intervalMs, 5_000);
  await rejects(load(MIN + `[stats]\ninterval = "soon"\n`), "stats.interval", /invalid duration/);
});
