import assert from "node:assert/strict";
import { RelayStats } from "../relay/mod.ts";
import { escapeLabelValue, formatMetrics, MetricsFormatError, renderRelayMetrics } from "./metrics.ts";
import { MetricsParseError, parseMetrics, sampleValue } from "../testing/mod.ts";

const ORIGIN_STATS = {
  broadcasts: 2,
  tracks: 3,
  upstreamSubscriptions: 1,
  cacheBytes: 4096,
  cacheGroups: 5,
  groupsEvicted: 6,
};

Deno.test("metrics: format escapes label values and HELP text, sorts families and samples", () => {
  const text = formatMetrics([
    {
      name: "b_total",
      help: "back\\slash\nnewline",
      type: "counter",
      samples: [{ labels: { v: 'z"q' }, value: 2 }, { labels: { v: "a\\b\nc" }, value: 1 }],
    },
    {
      name: "a",
      help: "gauge",
      type: "gauge",
      samples: [{ value: 1.5 }, { labels: { x: "" }, value: -Infinity }],
    },
  ]);
  assert.equal(
    text,
    '# HELP a gauge\n# TYPE a gauge\na 1.5\na{x=""} -Inf\n' +
      "# HELP b_total back\\\\slash\\nnewline\n# TYPE b_total counter\n" +
      'b_total{v="a\\\\b\\nc"} 1\nb_total{v="z\\"q"} 2\n',
  );
  const parsed = parseMetrics(text);
  assert.equal(parsed.get("b_total")!.help, "back\\slash\nnewline");
  assert.equal(sampleValue(parsed, "b_total", { v: "a\\b\nc" }), 1);
  assert.equal(sampleValue(parsed, "b_total", { v: 'z"q' }), 2);
  assert.equal(sampleValue(parsed, "a", { x: "" }), -Infinity);
  assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
});

Deno.test("metrics: format refuses bad names, counters without _total, duplicates", () => {
  assert.throws(
    () => formatMetrics([{ name: "1bad", help: "", type: "gauge", samples: [] }]),
    MetricsFormatError,
  );
  assert.throws(
    () => formatMetrics([{ name: "c", help: "", type: "counter", samples: [] }]),
    MetricsFormatError,
  );
  assert.throws(
    () =>
      formatMetrics([{
        name: "g",
        help: "",
        type: "gauge",
        samples: [{ labels: { "a-b": "x" }, value: 1 }],
      }]),
    MetricsFormatError,
  );
  assert.throws(
    () => formatMetrics([{ name: "g", help: "", type: "gauge", samples: [{ value: 1 }, { value: 2 }] }]),
    MetricsFormatError,
  );
});

Deno.test("metrics: the parser rejects malformed exposition text", () => {
  const good = '# HELP x_total a\n# TYPE x_total counter\nx_total{a="b"} 1\n';
  assert.equal(sampleValue(parseMetrics(good), "x_total", { a: "b" }), 1);
  const bad: Array<[string, RegExp]> = [
    ["# HELP x a\n# TYPE x gauge\nx 1", /newline/],
    ["x 1\n", /no HELP\/TYPE/],
    ["# TYPE x gauge\nx 1\n", /no HELP/],
    ["# HELP x a\nx 1\n", /no TYPE/],
    ["# HELP 9x a\n# TYPE 9x gauge\n", /invalid metric name/],
    ["# HELP x a\n# TYPE x gauge\nx-y 1\n", /expected a space/],
    ["# HELP x a\n# TYPE x gauge\nx one\n", /not a number/],
    ["# HELP x a\n# TYPE x gauge\nx 0x10\n", /not a number/],
    ['# HELP x a\n# TYPE x gauge\nx{a="\\t"} 1\n', /bad escape/],
    ['# HELP x a\n# TYPE x gauge\nx{a="b} 1\n', /unterminated|expected/],
    ['# HELP x a\n# TYPE x gauge\nx{a="b",a="c"} 1\n', /twice/],
    ['# HELP x a\n# TYPE x gauge\nx{__a="b"} 1\n', /reserved/],
    ["# HELP x a\n# TYPE x gauge\nx 1\nx 2\n", /duplicate series/],
    ["# HELP x a\n# TYPE x counter\n", /_total/],
    ["# HELP x_total a\n# TYPE x_total counter\nx_total -1\n", /negative/],
    ['# HELP x a\n# TYPE x gauge\n# HELP y b\n# TYPE y gauge\nx 1\ny 1\nx{a="1"} 2\n', /contiguous/],
    ["# HELP x a\n# TYPE x gauge\nx 1\n# TYPE x gauge\n", /after its samples|second TYPE/],
    ["# HELP x a\n# TYPE x bogus\n", /unknown metric type/],
    ["# HELP x a\\q\n# TYPE x gauge\n", /bad escape/],
    ["# HELP x a\n# TYPE x gauge\nx 1 2 3\n", /too many fields/],
    ["# HELP x a\n", /lacks a HELP or TYPE/],
  ];
  for (const [text, message] of bad) {
    assert.throws(() => parseMetrics(text), (e: unknown) => {
      assert.ok(e instanceof MetricsParseError, `${JSON.stringify(text)}: ${e}`);
      assert.match(e.message, message, JSON.stringify(text));
      return true;
    });
  }
  // Accepted variants: timestamps, special values, comments, blank lines, histograms.
  const ok = '# a comment\n\n# HELP h a\n# TYPE h histogram\nh_bucket{le="+Inf"} 3 1700000000000\n' +
    "h_sum 1.5e3\nh_count 3\n# HELP g b\n# TYPE g gauge\ng NaN\n";
  const parsed = parseMetrics(ok);
  assert.equal(sampleValue(parsed, "h_sum"), 1500);
  assert.ok(Number.isNaN(sampleValue(parsed, "g")));
});

Deno.test("metrics: the relay page validates and every family has HELP and TYPE", () => {
  const stats = new RelayStats();
  stats.sessionOpened("websocket", "lite-03");
  stats.sessionOpened("quic", "lite-04");
  stats.sessionOpened("quic", "lite-04");
  const text = renderRelayMetrics({
    stats,
    origin: ORIGIN_STATS,
    cacheCapacityBytes: 1 << 20,
    authFailures: new Map([["expired", 4], ['weird"reason', 1]]),
  });
  const parsed = parseMetrics(text);
  for (const family of parsed.values()) {
    assert.match(family.name, /^moq_relay_/);
    assert.notEqual(family.help, "");
    if (family.type === "counter") assert.match(family.name, /_total$/);
  }
  assert.equal(sampleValue(parsed, "moq_relay_sessions", { transport: "quic", version: "lite-04" }), 2);
  assert.equal(sampleValue(parsed, "moq_relay_sessions", { transport: "websocket", version: "lite-03" }), 1);
  assert.equal(sampleValue(parsed, "moq_relay_sessions_opened_total", { tier: "" }), 3);
  assert.equal(sampleValue(parsed, "moq_relay_auth_failures_total", { reason: "expired" }), 4);
  assert.equal(sampleValue(parsed, "moq_relay_auth_failures_total", { reason: "missing" }), 0);
  assert.equal(sampleValue(parsed, "moq_relay_auth_failures_total", { reason: 'weird"reason' }), 1);
  assert.equal(sampleValue(parsed, "moq_relay_cache_bytes"), 4096);
  assert.equal(sampleValue(parsed, "moq_relay_cache_groups"), 5);
  assert.equal(sampleValue(parsed, "moq_relay_groups_evicted_total"), 6);
  assert.equal(sampleValue(parsed, "moq_relay_cache_capacity_bytes"), 1 << 20);
  assert.equal(sampleValue(parsed, "moq_relay_draining"), 0);
  // Stable output: rendering twice gives the same text.
  assert.equal(
    renderRelayMetrics({ stats, origin: ORIGIN_STATS, cacheCapacityBytes: 1 << 20 }),
    renderRelayMetrics({ stats, origin: ORIGIN_STATS, cacheCapacityBytes: 1 << 20 }),
  );
});
