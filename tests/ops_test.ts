/**
 * Operations, end to end against real relay processes: graceful drain on SIGTERM (GOAWAY, `/health`
 * 503, in-flight groups finish, clean ends, exit 0), the second signal, `--help` / `--version`,
 * `--file` / `--config`, the shipped relay.toml and the embedded development default, a bundled
 * single file that runs the relay, and the renewal of the generated development certificate.
 */

import assert from "node:assert/strict";
import { baseConfig, KEYS, META_FLAGS, PROGRAM_NAME, VERSION } from "../config/mod.ts";
import { relayMetricFamilies } from "../http/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { RelayStats } from "../relay/mod.ts";
import { type CertificateRenewal, loadCertificates } from "../server/mod.ts";
import { generateSelfSignedCertificate, SELF_SIGNED_LIFETIME_MS } from "../transport/mod.ts";
import {
  connect,
  freePort,
  LEGACY_CLIENT_SETUP,
  payload,
  publish,
  RawClient,
  RawWebSocket,
  readGroup,
  RelayProcess,
  relayToml,
  sleep,
  startRelay,
  streamFrame,
  subscribe,
  within,
  writeGroup,
} from "../testing/mod.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const RELAY_TOML = new URL("../relay.toml", import.meta.url).pathname;
/** The unstable features the relay needs (also in deno.json and the `compile` task). */
const UNSTABLE = ["--unstable-net", "--unstable-no-legacy-abort"];
const HEX64 = /^[0-9a-f]{64}$/;

/** The parent environment without anything that configures the relay. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (!name.startsWith("MOQ_") && name !== "RUST_LOG") env[name] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Run `deno <args>` to completion. */
async function deno(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** GET a URL; the status and body, or null when nothing answers. */
async function get(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

/**
 * Spawn a relay process with raw arguments (`deno run -A <script> …args`) and wait until
 * `healthUrl` answers 200. Returns the process; its logs are collected.
 */
async function spawnRelay(
  script: string[],
  args: string[],
  healthUrl: string,
  options: { cwd?: string; port?: number; internalPort?: number } = {},
): Promise<RelayProcess> {
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-ops-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...script, ...args],
    cwd: options.cwd ?? ROOT,
    env: cleanEnv({ RUST_LOG: "info" }),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const relay = new RelayProcess(options.port ?? 0, options.internalPort, dir, child);
  const deadline = Date.now() + 30_000;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    const res = await get(healthUrl);
    if (res?.status === 200) return relay;
    await sleep(100);
  }
  await relay.stop("SIGKILL");
  throw new Error(`relay did not answer ${healthUrl}; logs:\n${relay.logs.join("\n")}`);
}

/** Send SIGTERM; resolve the exit status and how long the exit took. */
async function terminate(relay: RelayProcess): Promise<{ code: number; elapsedMs: number }> {
  const started = Date.now();
  relay.child.kill("SIGTERM");
  const status = await within(20_000, "the relay to exit after SIGTERM", relay.child.status);
  return { code: status.code, elapsedMs: Date.now() - started };
}

/** End-to-end tests keep client timers alive between steps: no op/resource sanitizers. */
function e2e(name: string, fn: () => Promise<void>) {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, fn);
}

// ---------------------------------------------------------------------------------------------
// Graceful drain

e2e("SIGTERM drains: /health 503, GOAWAY, in-flight group finishes, clean ends, exit 0", async () => {
  const DRAIN_TIMEOUT_MS = 3_000;
  const relay = await startRelay({ internal: true, toml: `[limits]\ndrain_timeout = "3s"` });
  try {
    const pubConn = await connect(relay.port, "anon");
    const subConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "drain");
    const track = await subscribe(subConn, "drain", "video");
    const upstream = await pub.request();
    writeGroup(upstream, [payload(1000, 1), payload(2000, 2)]);
    const first = await readGroup(track);
    assert.equal(first?.sequence, 0);

    // A group in flight: one frame sent, more to come after the signal.
    const open = upstream.appendGroup();
    open.writeFrame(payload(3000, 3));
    const inFlight = await within(5_000, "the in-flight group", track.recvGroup());
    assert.ok(inFlight, "the subscriber sees the in-flight group");
    assert.deepEqual(await inFlight.readFrame(), payload(3000, 3));

    // A lite-04 session (qmux-00 framing, no SETUP): it should get a GOAWAY.
    const lite04 = await RawClient.connect(`ws://127.0.0.1:${relay.port}/anon`, ["qmux-00.moq-lite-04"]);
    assert.equal(lite04.framing, "qmux-00");
    lite04.send({
      type: "transport_parameters",
      params: {
        initialMaxData: 1 << 20,
        initialMaxStreamDataBidiLocal: 1 << 18,
        initialMaxStreamDataBidiRemote: 1 << 18,
        initialMaxStreamDataUni: 1 << 18,
        initialMaxStreamsBidi: 100,
        initialMaxStreamsUni: 100,
      },
    });
    await sleep(400); // past the relay's SETUP grace: the session has started

    const { promise: exit, resolve: exited } = Promise.withResolvers<{ code: number; elapsedMs: number }>();
    terminate(relay).then(exited);

    // /health on the internal listener turns 503 while draining.
    let health: number | undefined;
    const healthDeadline = Date.now() + 1_500;
    while (Date.now() < healthDeadline) {
      health = (await get(`${relay.internalUrl}/health`))?.status;
      if (health === 503) break;
      await sleep(10);
    }
    assert.equal(health, 503, "internal /health answers 503 while draining");
    // New sessions are refused before the upgrade.
    const late = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(!(late instanceof RawWebSocket), "a new WebSocket session is refused while draining");
    assert.equal(late.status, 503);

    const goaway = await lite04.until(
      (f) => f.type === "stream" && f.id % 4 === 1 && f.data[0] === 0x05,
      "GOAWAY on a relay-opened bidi stream",
      2_000,
    );
    assert.equal(goaway.type, "stream");

    // The in-flight group may finish, even well after the signal: its remaining frames arrive.
    await sleep(700);
    open.writeFrame(payload(4000, 4));
    open.close();
    assert.deepEqual(await within(2_000, "the in-flight frame", inFlight.readFrame()), payload(4000, 4));
    assert.equal(await within(2_000, "the end of the in-flight group", inFlight.readFrame()), undefined);

    // Then the track ends cleanly (no error) for the subscriber.
    const end = await within(3_000, "the track to end", track.recvGroup());
    assert.equal(end, undefined, "the subscriber's track ends cleanly");

    // Sessions are closed with code 0: APPLICATION_CLOSE 0, then WebSocket close 1000.
    const close = await lite04.until((f) => f.type === "close", "APPLICATION_CLOSE", 3_000);
    assert.deepEqual(close.type === "close" && [close.code, close.application], [0, true]);
    const closeEvent = await within(3_000, "the WebSocket close", lite04.closed);
    assert.equal(closeEvent.code, 1000);

    const { code, elapsedMs } = await exit;
    assert.equal(code, 0, `exit status 0; logs:\n${relay.logs.join("\n")}`);
    assert.ok(elapsedMs < DRAIN_TIMEOUT_MS, `exited ${elapsedMs} ms after SIGTERM (drain timeout 3 s)`);
    assert.ok(
      relay.logs.some((l) => /drained/.test(l) && /in_flight_groups_finished=true/.test(l)),
      `the drain reports the in-flight group finished; logs:\n${relay.logs.join("\n")}`,
    );
    pubConn.close();
    subConn.close();
  } finally {
    await relay.stop("SIGKILL");
  }
});

e2e("SIGTERM: a raw legacy WebSocket session gets APPLICATION_CLOSE 0, then close 1000", async () => {
  const relay = await startRelay({ toml: `[limits]\ndrain_timeout = "2s"` });
  try {
    const raw = await RawWebSocket.connect(relay.port, "/anon", ["webtransport"]);
    assert.ok(raw instanceof RawWebSocket);
    await raw.send(streamFrame(0, LEGACY_CLIENT_SETUP));
    const reply = await raw.receive();
    assert.equal(reply?.payload[0], 0x08, "SERVER_SETUP on stream 0");
    const { promise: exit, resolve } = Promise.withResolvers<{ code: number; elapsedMs: number }>();
    terminate(relay).then(resolve);
    const closed = await raw.untilClosed(5_000);
    const appClose = closed.binary.find((m) => m[0] === 0x1d);
    assert.ok(appClose, "APPLICATION_CLOSE before the WebSocket close");
    assert.equal(appClose[1], 0, "close code 0");
    assert.ok(closed.close, "a WebSocket close frame");
    assert.equal((closed.close[0] << 8) | closed.close[1], 1000, "WebSocket close 1000");
    raw.drop();
    assert.equal((await exit).code, 0);
  } finally {
    await relay.stop("SIGKILL");
  }
});

e2e("a second SIGTERM exits at once, without waiting for the drain", async () => {
  const relay = await startRelay({ internal: true, toml: `[limits]\ndrain_timeout = "30s"` });
  try {
    const pubConn = await connect(relay.port, "anon");
    const subConn = await connect(relay.port, "anon");
    const pub = await publish(pubConn, "stuck");
    const track = await subscribe(subConn, "stuck", "t");
    const upstream = await pub.request();
    // A group that never finishes: the drain would wait the full 30 s for it.
    const open = upstream.appendGroup();
    open.writeFrame(payload(100, 1));
    assert.ok(await within(5_000, "the open group", track.recvGroup()));

    relay.child.kill("SIGTERM");
    await relay.waitForLog(/draining/, 5_000);
    await sleep(300);
    assert.equal((await get(`${relay.internalUrl}/health`))?.status, 503, "still draining");
    const started = Date.now();
    relay.child.kill("SIGTERM");
    const status = await within(5_000, "exit after the second SIGTERM", relay.child.status);
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs < 1_500, `exited ${elapsedMs} ms after the second signal`);
    assert.equal(status.code, 0);
    assert.ok(relay.logs.some((l) => /second signal/.test(l)), "the forced exit is logged");
    pubConn.close();
    subConn.close();
  } finally {
    await relay.stop("SIGKILL");
  }
});

e2e("SIGINT drains like SIGTERM and exits 0", async () => {
  const relay = await startRelay({ internal: true });
  try {
    relay.child.kill("SIGINT");
    const status = await within(12_000, "exit after SIGINT", relay.child.status);
    assert.equal(status.code, 0);
    assert.ok(relay.logs.some((l) => /shutting down/.test(l) && /signal=SIGINT/.test(l)));
  } finally {
    await relay.stop("SIGKILL");
  }
});

// ---------------------------------------------------------------------------------------------
// Command line and configuration files

Deno.test("--help lists every flag of the key table; --version and -V print the version", async () => {
  const help = await deno(["run", "-A", MAIN, "--help"]);
  assert.equal(help.code, 0);
  const flags = new Set([...help.stdout.matchAll(/--([a-z0-9-]+)/g)].map((m) => m[1]));
  const missing: string[] = [];
  for (const def of KEYS) for (const flag of def.flags) if (!flags.has(flag)) missing.push(`--${flag}`);
  for (const meta of META_FLAGS) {
    for (const flag of meta.flags) if (!flags.has(flag)) missing.push(`--${flag}`);
  }
  assert.deepEqual(missing, [], "flags missing from --help");
  for (const def of KEYS) {
    if (def.supported) {
      for (const env of def.env) assert.ok(help.stdout.includes(env), `${env} missing from --help`);
    }
  }
  assert.ok(help.stdout.includes("RUST_LOG"));
  assert.ok(help.stdout.includes("token"), "--help names the token subcommand");
  assert.equal((await deno(["run", "-A", MAIN, "-h"])).stdout, help.stdout);

  for (const flag of ["--version", "-V"]) {
    const version = await deno(["run", "-A", MAIN, flag]);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), `${PROGRAM_NAME} ${VERSION}`);
  }
});

e2e("--file and --config both name the config file", async () => {
  for (const flag of ["--file", "--config", "--file=", "--config="]) {
    const port = freePort();
    const dir = await Deno.makeTempDir({ prefix: "moq-relay-ops-" });
    const path = `${dir}/relay.toml`;
    await Deno.writeTextFile(path, relayToml(port));
    const args = flag.endsWith("=") ? [`${flag}${path}`] : [flag, path];
    const relay = await spawnRelay([MAIN], args, `http://127.0.0.1:${port}/health`, { port });
    try {
      assert.ok(
        relay.logs.some((l) => /relay ready/.test(l)),
        `${flag}: the relay started from the file; logs:\n${relay.logs.join("\n")}`,
      );
      const cert = await get(`http://127.0.0.1:${port}/certificate.sha256`);
      assert.match(cert?.body ?? "", HEX64, `${flag}: the generated certificate from the file is served`);
      assert.equal((await terminate(relay)).code, 0);
    } finally {
      await relay.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  }
});

e2e(
  "the shipped relay.toml starts (listen addresses overridden by flags) and stops with exit 0",
  async () => {
    const port = freePort();
    const internalPort = freePort();
    const relay = await spawnRelay(
      [MAIN],
      [
        RELAY_TOML,
        "--server-bind",
        `127.0.0.1:${port}`,
        "--web-http-listen",
        `127.0.0.1:${port}`,
        "--internal-listen",
        `127.0.0.1:${internalPort}`,
      ],
      `http://127.0.0.1:${internalPort}/health`,
      { port, internalPort },
    );
    try {
      assert.equal((await get(`http://127.0.0.1:${port}/health`))?.status, 200);
      assert.match((await get(`http://127.0.0.1:${port}/certificate.sha256`))?.body ?? "", HEX64);
      const metrics = await get(`http://127.0.0.1:${internalPort}/metrics`);
      assert.match(metrics?.body ?? "", /^# (HELP|TYPE) moq_relay_/m);
      assert.ok(!relay.logs.some((l) => / WARN /.test(l)), `no warnings:\n${relay.logs.join("\n")}`);
      // anon/ is public: a @moq/lite client connects.
      const conn = await connect(port, "anon");
      conn.close();
      assert.equal((await terminate(relay)).code, 0);
    } finally {
      await relay.stop("SIGKILL");
    }
  },
);

/** Whether the embedded default's ports (127.0.0.1:4443 TCP+UDP, 127.0.0.1:9090 TCP) are free. */
function devPortsFree(): boolean {
  const closers: Array<{ close(): void }> = [];
  try {
    closers.push(Deno.listen({ hostname: "127.0.0.1", port: 4443 }));
    closers.push(Deno.listen({ hostname: "127.0.0.1", port: 9090 }));
    closers.push(Deno.listenDatagram({ hostname: "127.0.0.1", port: 4443, transport: "udp" }));
    return true;
  } catch {
    return false;
  } finally {
    for (const c of closers) c.close();
  }
}

Deno.test({
  name: "the embedded development default starts with no arguments (skipped when 4443/9090 are busy)",
  ignore: !devPortsFree(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const relay = await spawnRelay([MAIN], [], "http://127.0.0.1:9090/health", {
      port: 4443,
      internalPort: 9090,
    });
    try {
      assert.ok(relay.logs.some((l) => /embedded development default/.test(l)));
      assert.equal((await get("http://127.0.0.1:4443/health"))?.body, "ok\n");
      assert.match((await get("http://127.0.0.1:4443/certificate.sha256"))?.body ?? "", HEX64);
      const conn = await connect(4443, "anon");
      conn.close();
      assert.equal((await terminate(relay)).code, 0);
    } finally {
      await relay.stop("SIGKILL");
    }
  },
});

// ---------------------------------------------------------------------------------------------
// Single file

e2e("deno check main.ts passes, and a bundle of main.ts runs the relay on its own", async () => {
  const check = await deno(["check", "main.ts"]);
  assert.equal(check.code, 0, `deno check main.ts failed:\n${check.stderr}`);

  const dir = await Deno.makeTempDir({ prefix: "moq-relay-bundle-" });
  try {
    const out = `${dir}/moq-relay.js`;
    const bundle = await deno(["bundle", "--platform", "deno", "-o", out, "main.ts"]);
    assert.equal(bundle.code, 0, `deno bundle failed:\n${bundle.stderr}`);
    // Run it from a directory without deno.json: the bundle must not need the project.
    const help = await deno(["run", "-A", ...UNSTABLE, out, "--help"], dir);
    assert.equal(help.code, 0, help.stderr);
    assert.ok(help.stdout.startsWith(`${PROGRAM_NAME} ${VERSION}`), help.stdout.slice(0, 200));
    const tokenHelp = await deno(["run", "-A", ...UNSTABLE, out, "token", "--help"], dir);
    assert.match(tokenHelp.stdout + tokenHelp.stderr, /generate/);

    const port = freePort();
    const internalPort = freePort();
    const relay = await spawnRelay(
      [...UNSTABLE, out],
      [
        "--server-bind",
        `127.0.0.1:${port}`,
        "--tls-generate",
        "localhost,127.0.0.1",
        "--web-http-listen",
        `127.0.0.1:${port}`,
        "--internal-listen",
        `127.0.0.1:${internalPort}`,
        "--auth-public",
        "anon",
      ],
      `http://127.0.0.1:${internalPort}/health`,
      { cwd: dir, port, internalPort },
    );
    try {
      assert.equal((await get(`http://127.0.0.1:${port}/health`))?.body, "ok\n");
      assert.match((await get(`http://127.0.0.1:${port}/certificate.sha256`))?.body ?? "", HEX64);
      assert.equal((await terminate(relay)).code, 0);
    } finally {
      await relay.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno.json's compile task builds one binary with the unstable features the relay needs", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const task: string = config.tasks.compile;
  assert.match(task, /^deno compile /);
  assert.match(task, / -A /);
  for (const feature of config.unstable as string[]) {
    assert.ok(task.includes(`--unstable-${feature}`), `compile task lacks --unstable-${feature}`);
  }
  assert.match(task, /--output moq-relay /);
  assert.match(task, / main\.ts$/);
});

// ---------------------------------------------------------------------------------------------
// Development certificate renewal

Deno.test("the generated certificate is renewed before it expires and onRenew listeners are told", async () => {
  const config = baseConfig();
  config.server.tls.generate = ["localhost", "127.0.0.1"];
  const stop = new AbortController();
  // Renew "long before expiry": the renewal is due at once (after the minimum delay).
  const certs = await loadCertificates(config, silentLogger(), stop.signal, {
    renewBeforeMs: SELF_SIGNED_LIFETIME_MS + 60_000,
    minRenewDelayMs: 50,
  });
  const first = certs.quic!;
  assert.equal(first.generated, true);
  assert.deepEqual(certs.hashes(), [first.sha256Hex]);
  const renewals: CertificateRenewal[] = [];
  const got = Promise.withResolvers<void>();
  const off = certs.onRenew((r) => {
    renewals.push(r);
    got.resolve();
  });
  certs.onRenew(() => {
    throw new Error("a failing listener must not stop the renewal");
  });
  await within(5_000, "a renewal", got.promise);
  const r = renewals[0];
  assert.equal(r.previous.sha256Hex, first.sha256Hex);
  assert.notEqual(r.current.sha256Hex, first.sha256Hex);
  assert.match(r.current.certPem, /BEGIN CERTIFICATE/);
  assert.match(r.current.keyPem, /BEGIN PRIVATE KEY/);
  assert.ok(r.current.notAfterMs! >= first.notAfterMs!);
  assert.equal(r.quic, r.current, "with no file certificate the renewed one is presented");
  assert.equal(certs.quic, r.current);
  assert.equal(certs.hashes()[0], r.current.sha256Hex, "/certificate.sha256 follows the renewal");
  off();
  const seen = renewals.length;
  await sleep(200);
  assert.equal(renewals.length, seen, "an unsubscribed listener hears no more renewals");
  stop.abort(); // the sanitizer checks the renewal timer is gone
});

Deno.test("renewal replaces only the generated certificate; file certificates stay first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-certs-" });
  const stop = new AbortController();
  try {
    const file = await generateSelfSignedCertificate(["relay.example"]);
    await Deno.writeTextFile(`${dir}/cert.pem`, file.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, file.keyPem);
    const config = baseConfig();
    config.server.tls.cert = [`${dir}/cert.pem`];
    config.server.tls.key = [`${dir}/key.pem`];
    config.server.tls.generate = ["localhost"];
    const certs = await loadCertificates(config, silentLogger(), stop.signal, {
      renewBeforeMs: SELF_SIGNED_LIFETIME_MS + 60_000,
      minRenewDelayMs: 50,
    });
    const before = certs.hashes();
    assert.equal(before.length, 2);
    assert.equal(before[0], file.sha256Hex);
    const renewal = await within(
      5_000,
      "a renewal",
      new Promise<CertificateRenewal>((resolve) => certs.onRenew(resolve)),
    );
    assert.equal(renewal.quic.sha256Hex, file.sha256Hex, "the file certificate is still presented");
    assert.equal(certs.quic?.sha256Hex, file.sha256Hex);
    assert.equal(certs.all.length, 2);
    assert.equal(certs.all[1].sha256Hex, renewal.current.sha256Hex);
    assert.notEqual(renewal.current.sha256Hex, before[1]);
  } finally {
    stop.abort();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no renewal timer runs when the certificate is not generated, or once stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-certs-" });
  const stop = new AbortController();
  try {
    const file = await generateSelfSignedCertificate(["relay.example"]);
    await Deno.writeTextFile(`${dir}/cert.pem`, file.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, file.keyPem);
    const config = baseConfig();
    config.server.tls.cert = [`${dir}/cert.pem`];
    config.server.tls.key = [`${dir}/key.pem`];
    const certs = await loadCertificates(config, silentLogger(), stop.signal, {
      renewBeforeMs: SELF_SIGNED_LIFETIME_MS + 60_000,
      minRenewDelayMs: 10,
    });
    let renewed = 0;
    certs.onRenew(() => void renewed++);
    await sleep(100);
    assert.equal(renewed, 0);
    assert.deepEqual(certs.hashes(), [file.sha256Hex]);
  } finally {
    stop.abort();
    await Deno.remove(dir, { recursive: true });
  }
  // With generate but an already-aborted signal: nothing is scheduled (the sanitizer would notice).
  const config = baseConfig();
  config.server.tls.generate = ["localhost"];
  const aborted = AbortSignal.abort();
  const certs = await loadCertificates(config, silentLogger(), aborted, { minRenewDelayMs: 10 });
  assert.match(certs.hashes()[0], HEX64);
});

// ---------------------------------------------------------------------------------------------
// Container (Docker is not available here: check what can be checked without it)

const DOCKERFILE = `${ROOT}Dockerfile`;

/** The TOML the Dockerfile writes to /etc/moq-relay/relay.toml (its `printf '%s\n' 'line' …`). */
function dockerDefaultConfig(dockerfile: string): string {
  const run = /printf '%s\\n' \\\n([\s\S]*?)> \/etc\/moq-relay\/relay\.toml/.exec(dockerfile);
  assert.ok(run, "the Dockerfile writes /etc/moq-relay/relay.toml with printf");
  return [...run[1].matchAll(/^\s*'([^']*)' \\$/gm)].map((m) => m[1]).join("\n") + "\n";
}

/** A `.dockerignore` pattern as a regular expression over `/`-separated relative paths. */
function dockerPattern(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      re += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += pattern[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether Docker's context would leave out `path` (it or one of its parent folders matches). */
function dockerIgnores(patterns: RegExp[], path: string): boolean {
  const parts = path.split("/");
  return parts.some((_, i) => patterns.some((p) => p.test(parts.slice(0, i + 1).join("/"))));
}

Deno.test("Dockerfile: official Deno image, non-root, dependency layer first, ports, health check, config path", async () => {
  const text = await Deno.readTextFile(DOCKERFILE);
  assert.match(text, /^FROM denoland\/deno:2\.9\.6$/m);
  assert.match(text, /^USER deno$/m);
  const deps = text.indexOf("COPY --chown=deno:deno deno.json deno.lock ./");
  const install = text.indexOf("RUN deno install");
  const sources = text.indexOf("COPY --chown=deno:deno . .");
  assert.ok(deps > 0 && deps < install && install < sources, "deno.json + deno.lock, install, then sources");
  assert.ok(text.indexOf("USER deno") < deps, "dependencies are installed as the deno user");
  assert.match(text, /^EXPOSE 4443\/udp 4443\/tcp$/m);
  assert.match(text, /^HEALTHCHECK .*\\\n\s+CMD \["deno", "eval", /m);
  assert.match(text, /^CMD \["run", "-A", "--cached-only", "main\.ts", "\/etc\/moq-relay\/relay\.toml"\]$/m);
});

e2e("Dockerfile: its default relay.toml starts, and its HEALTHCHECK command tells up from down", async () => {
  const text = await Deno.readTextFile(DOCKERFILE);
  const port = freePort();
  const internalPort = freePort();
  const toml = dockerDefaultConfig(text)
    .replaceAll("0.0.0.0:4443", `127.0.0.1:${port}`)
    .replace("127.0.0.1:9090", `127.0.0.1:${internalPort}`);
  assert.match(toml, /^\[internal\]\nlisten = /m);
  const dir = await Deno.makeTempDir({ prefix: "moq-relay-docker-" });
  const path = `${dir}/relay.toml`;
  await Deno.writeTextFile(path, toml);
  const healthCode = /CMD \["deno", "eval", "(.*)"\]$/m.exec(text)?.[1];
  assert.ok(healthCode, "the HEALTHCHECK evaluates a script");
  const check = async (url: string) =>
    (await new Deno.Command(Deno.execPath(), {
      args: ["eval", healthCode],
      env: { ...cleanEnv(), RELAY_HEALTH_URL: url },
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).output()).code;
  const relay = await spawnRelay([MAIN], [path], `http://127.0.0.1:${internalPort}/health`, {
    port,
    internalPort,
  });
  try {
    assert.equal(await check(`http://127.0.0.1:${internalPort}/health`), 0, "healthy relay");
    assert.equal((await terminate(relay)).code, 0);
    assert.notEqual(await check(`http://127.0.0.1:${internalPort}/health`), 0, "stopped relay");
  } finally {
    await relay.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(".dockerignore keeps every module main.ts loads and drops tests and secrets", async () => {
  const patterns = (await Deno.readTextFile(`${ROOT}.dockerignore`)).split("\n")
    .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map(dockerPattern);
  const info = await deno(["info", "--json", "main.ts"]);
  assert.equal(info.code, 0, info.stderr);
  const modules = (JSON.parse(info.stdout).modules as { specifier: string }[])
    .map((m) => m.specifier).filter((s) => s.startsWith(`file://${ROOT}`))
    .map((s) => s.slice(`file://${ROOT}`.length));
  assert.ok(modules.includes("main.ts") && modules.length > 20, `found ${modules.length} modules`);
  for (const m of [...modules, "deno.json", "deno.lock"]) {
    assert.ok(!dockerIgnores(patterns, m), `.dockerignore drops ${m}, which the relay needs`);
  }
  for (
    const p of [
      "tests/auth_test.ts",
      "testing/harness.ts",
      "config/cli_test.ts",
      ".git/HEAD",
      "root.jwk",
      "keys/a/b.jwk",
      "tls/key.pem",
    ]
  ) {
    assert.ok(dockerIgnores(patterns, p), `.dockerignore keeps ${p}`);
  }
});

// ---------------------------------------------------------------------------------------------
// README

Deno.test("README: the two quick-start commands, every metric and every [cluster] key are documented", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  assert.ok(readme.includes("\nnpm i -g deno@2.9.6 && deno task start\n"));
  assert.ok(readme.includes("\ndeno task test\n"));
  const families = relayMetricFamilies({
    stats: new RelayStats(),
    origin: {
      broadcasts: 0,
      tracks: 0,
      upstreamSubscriptions: 0,
      cacheBytes: 0,
      cacheGroups: 0,
      groupsEvicted: 0,
    },
    cacheCapacityBytes: 1,
  });
  for (const f of families) assert.ok(readme.includes(`\`${f.name}\``), `${f.name} missing from README`);
  for (const def of KEYS) {
    if (def.path.startsWith("cluster.") && def.supported) {
      const key = def.path.slice("cluster.".length);
      assert.ok(readme.includes(`| \`${key}\``), `[cluster] ${key} missing from README`);
    }
  }
  for (const route of ["/health", "/certificate.sha256", "/announced", "/fetch/", "/metrics", "/nodes"]) {
    assert.ok(readme.includes(route), `${route} missing from README`);
  }
});
