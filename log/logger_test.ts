import assert from "node:assert/strict";
import {
  BufferedLogWriter,
  createLogger,
  LogFilter,
  LogFilterError,
  Logger,
  parseLogLevel,
  WARN_BURST,
  WarnRateLimiter,
} from "./logger.ts";

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {1,2}(TRACE|DEBUG|INFO|WARN|ERROR) [\w.]+: /;

function capture(filter = "trace", limiter?: WarnRateLimiter): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = new Logger("main", LogFilter.parse(filter), (l) => void lines.push(l), {}, { limiter });
  return { logger, lines };
}

Deno.test("log lines keep the RUST_LOG-style format: time, padded level, target, message, fields", () => {
  const { logger, lines } = capture();
  logger.child("relay", { session: 7 }).info("session accepted", { root: "/", note: "two words", e: "" });
  logger.child("quic").warn("x");
  assert.match(lines[0], LINE);
  assert.match(lines[0], / {2}INFO relay: session accepted session=7 root=\/ note="two words" e=""$/);
  assert.match(lines[1], / {2}WARN quic: x$/);
});

Deno.test("filters follow RUST_LOG syntax; bad levels name the accepted ones", () => {
  const f = LogFilter.parse("relay=trace,auth=off,warn");
  assert.ok(f.enabled("relay.track", "trace"));
  assert.ok(!f.enabled("auth", "error"));
  assert.ok(!f.enabled("http", "info"));
  assert.ok(f.enabled("http", "warn"));
  assert.throws(() => parseLogLevel("loud"), LogFilterError);
  assert.throws(() => LogFilter.parse("=debug"), /empty target/);
});

Deno.test("every line is redacted: jwt query values, bearer tokens and JWTs never reach the sink", () => {
  const { logger, lines } = capture();
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb290IjoiIn0.c2lnbmF0dXJl";
  logger.warn(`cannot dial wss://peer:443/?jwt=${jwt}`, { url: `https://x/?jwt=abc`, auth: `Bearer ${jwt}` });
  logger.info("token", { t: jwt });
  for (const line of lines) {
    assert.ok(!line.includes(jwt) && !line.includes("jwt=abc"), line);
    assert.match(line, /\[redacted\]/);
  }
});

Deno.test("repeated WARN lines per peer are rate-limited and summarised", () => {
  let now = 1_000_000;
  const limiter = new WarnRateLimiter({ now: () => now });
  const { logger, lines } = capture("info", limiter);
  const a = logger.child("session", { peer: "10.0.0.1:5000" });
  for (let i = 0; i < 100; i++) a.warn("bad frame", { n: i });
  // Another peer and another message are limited separately; INFO lines are never limited.
  for (let i = 0; i < 3; i++) logger.child("session").warn("bad frame", { peer: "10.0.0.2:1" });
  for (let i = 0; i < 20; i++) a.info("fine");
  assert.equal(lines.filter((l) => l.includes("bad frame peer=10.0.0.1:5000 n=")).length, WARN_BURST);
  assert.equal(lines.filter((l) => l.includes("peer=10.0.0.2:1")).length, 3);
  assert.equal(lines.filter((l) => l.includes("fine")).length, 20);
  assert.ok(!lines.some((l) => l.includes("suppressed")), "no summary before the window ends");
  now += 1_000;
  a.warn("bad frame", { n: 100 });
  const summary = lines.find((l) => l.includes("suppressed"));
  assert.ok(summary);
  assert.match(summary, LINE);
  assert.match(
    summary,
    / {2}WARN session: suppressed 90 similar lines message="bad frame" peer=10\.0\.0\.1:5000$/,
  );
  assert.match(lines.at(-1)!, /bad frame peer=10\.0\.0\.1:5000 n=100$/, "the new window passes again");
  // A window that ends with no new line is summarised by a sweep (run by a timer, or flush()).
  for (let i = 0; i < 15; i++) a.warn("other");
  now += 1_000;
  limiter.sweep();
  assert.match(lines.at(-1)!, /suppressed 5 similar lines message=other/);
});

Deno.test("the buffered writer batches lines, keeps their order and flushes errors at once", async () => {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  const writer = new BufferedLogWriter({
    write: (b) => (writes.push(decoder.decode(b)), b.length),
    flushIntervalMs: 5,
  });
  const logger = new Logger("main", LogFilter.parse("info"), writer.sink, {}, { writer });
  for (let i = 0; i < 50; i++) logger.info(`line ${i}`);
  assert.equal(writes.length, 0, "nothing is written synchronously per line");
  assert.equal(writer.pendingLines, 50);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(writes.length, 1, "one write for the whole batch");
  logger.info("before error");
  logger.error("boom");
  assert.equal(writes.length, 2, "an ERROR line is written at once, with what came before it");
  const all = writes.join("").trimEnd().split("\n");
  assert.deepEqual(all.map((l) => l.replace(LINE, "")), [
    ...Array.from({ length: 50 }, (_, i) => `line ${i}`),
    "before error",
    "boom",
  ]);
});

Deno.test("the buffered writer is bounded: past its budget lines are dropped and counted", () => {
  const out: string[] = [];
  const writer = new BufferedLogWriter({
    write: (b) => (out.push(new TextDecoder().decode(b)), b.length),
    maxBufferedBytes: 1_000,
  });
  for (let i = 0; i < 100; i++) writer.push(`${"x".repeat(90)} ${i}`);
  writer.flush();
  const lines = out.join("").trimEnd().split("\n");
  assert.ok(lines.length <= 11, `${lines.length} lines`);
  assert.match(lines.at(-1)!, /dropped 90 log lines/);
  // Partial writes continue where they stopped.
  const chunks: number[] = [];
  const partial = new BufferedLogWriter({
    write: (b) => (chunks.push(Math.min(b.length, 7)), Math.min(b.length, 7)),
  });
  partial.push("0123456789abcdef");
  partial.flush();
  assert.equal(chunks.reduce((a, b) => a + b, 0), 17);
});

Deno.test("a process that logs a burst and exits at once loses no line and keeps the order", async () => {
  const logger = new URL("./logger.ts", import.meta.url).href;
  const code = `
    import { createLogger, LogFilter } from "${logger}";
    const log = createLogger(LogFilter.parse("info"));
    for (let i = 0; i < 2000; i++) log.child("relay").info("burst", { i });
    Deno.exit(3);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 3);
  const lines = new TextDecoder().decode(out.stderr).trimEnd().split("\n");
  assert.equal(lines.length, 2000);
  lines.forEach((l, i) => assert.match(l, new RegExp(`  INFO relay: burst i=${i}$`)));
});

Deno.test("createLogger without a sink writes to stderr through the buffered writer", () => {
  const logger = createLogger(LogFilter.parse("off"));
  logger.info("nothing");
  logger.flush();
});

Deno.test("WARN lines with different `reason` fields are limited separately", () => {
  const { logger, lines } = capture("info", new WarnRateLimiter({ now: () => 0 }));
  for (const reason of ["expired", "bad_signature", "unknown_kid"]) {
    for (let i = 0; i < WARN_BURST + 5; i++) logger.warn("authentication failed", { reason });
  }
  assert.equal(lines.length, 3 * WARN_BURST);
});
