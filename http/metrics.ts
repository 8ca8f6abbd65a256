/**
 * The `/metrics` page: relay counters rendered in the Prometheus text exposition format 0.0.4
 * (docs/relay.md §4.2). Every family has `# HELP` and `# TYPE` lines, counters end in
 * `_total`, label values are escaped, and families and samples are sorted so the output is stable.
 *
 * Traffic counters are always collected (docs/relay.md §8 item 9: upstream leaves them empty unless
 * `[stats] enabled`).
 *
 * @module
 */

import type { AuthFailureReason } from "../auth/mod.ts";
import {
  ACCEPT_FAILURE_CLASSES,
  type OriginStats,
  type RelayStats,
  type TierTotals,
  tierTotals,
  type Traffic,
} from "../relay/mod.ts";

/** The `Content-Type` of the metrics page. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A Prometheus metric type this relay emits. */
export type MetricType = "counter" | "gauge";

/** One sample (time series value) of a family. */
export interface MetricSample {
  /** Label names to values; omitted or empty = no labels. */
  labels?: Record<string, string>;
  value: number;
}

/** A metric family: one name, one HELP text, one type, any number of samples. */
export interface MetricFamily {
  /** Metric name; counters must end in `_total`. */
  name: string;
  /** One-line description. */
  help: string;
  type: MetricType;
  samples: MetricSample[];
}

/** Raised when a family cannot be rendered (a programming error: bad name or label). */
export class MetricsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetricsFormatError";
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escape a label value: `\` → `\\`, `"` → `\"`, newline → `\n`. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Escape HELP text: `\` → `\\`, newline → `\n`. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** Render a sample value as Prometheus expects (`NaN`, `+Inf`, `-Inf`, or a decimal number). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return "";
  const names = Object.keys(labels).sort();
  if (names.length === 0) return "";
  const parts: string[] = [];
  for (const name of names) {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) {
      throw new MetricsFormatError(`invalid label name "${name}": use [a-zA-Z_][a-zA-Z0-9_]*`);
    }
    parts.push(`${name}="${escapeLabelValue(labels[name])}"`);
  }
  return `{${parts.join(",")}}`;
}

/**
 * Render families in the text format 0.0.4. Families are sorted by name and samples by their
 * label text; each family gets HELP and TYPE lines even when it has no samples.
 */
export function formatMetrics(families: readonly MetricFamily[]): string {
  const sorted = [...families].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const seen = new Set<string>();
  let out = "";
  for (const family of sorted) {
    if (!METRIC_NAME.test(family.name)) {
      throw new MetricsFormatError(`invalid metric name "${family.name}"`);
    }
    if (seen.has(family.name)) throw new MetricsFormatError(`metric "${family.name}" defined twice`);
    seen.add(family.name);
    if (family.type === "counter" && !family.name.endsWith("_total")) {
      throw new MetricsFormatError(`counter "${family.name}" must end in _total`);
    }
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
    out += `# TYPE ${family.name} ${family.type}\n`;
    const rows = family.samples.map((s) => [formatLabels(s.labels), formatValue(s.value)]);
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && rows[i][0] === rows[i - 1][0]) {
        throw new MetricsFormatError(`metric "${family.name}" has two samples with labels ${rows[i][0]}`);
      }
      out += `${family.name}${rows[i][0]} ${rows[i][1]}\n`;
    }
  }
  return out;
}

/** Every {@link AuthFailureReason}, so each `auth_failures_total` row exists from the start. */
export const AUTH_FAILURE_REASONS = [
  "missing",
  "malformed",
  "bad_signature",
  "alg_mismatch",
  "unknown_kid",
  "expired",
  "not_yet_valid",
  "useless",
  "scope",
  "root_mismatch",
  "no_access",
  "no_key",
  "key_unavailable",
] as const satisfies readonly AuthFailureReason[];

/** What the relay metrics are computed from. */
export interface RelayMetricsInput {
  stats: RelayStats;
  origin: OriginStats;
  /** Cache byte budget (gauge `moq_relay_cache_capacity_bytes`), if known. */
  cacheCapacityBytes?: number;
  /** Authentication refusals by reason. */
  authFailures?: ReadonlyMap<string, number>;
  /** True while the relay drains (gauge `moq_relay_draining`). */
  draining?: boolean;
}

function counter(name: string, help: string, samples: MetricSample[]): MetricFamily {
  return { name, help, type: "counter", samples };
}

function gauge(name: string, help: string, samples: MetricSample[]): MetricFamily {
  return { name, help, type: "gauge", samples };
}

/** Per tier two rows: `role="publisher"` (egress, to subscribers) and `role="subscriber"` (ingress). */
function byRole(tiers: readonly TierTotals[], field: keyof Traffic): MetricSample[] {
  return tiers.flatMap((t) => [
    { labels: { tier: t.tier, role: "publisher" }, value: t.publisher[field] },
    { labels: { tier: t.tier, role: "subscriber" }, value: t.subscriber[field] },
  ]);
}

/** Build the relay's metric families (upstream's names where they fit, plus ours). */
export function relayMetricFamilies(input: RelayMetricsInput): MetricFamily[] {
  const { stats, origin } = input;
  const tiers = tierTotals(stats);
  const sessions: MetricSample[] = [];
  for (const [key, value] of stats.sessionsOpen) {
    const slash = key.indexOf("/");
    const transport = slash < 0 ? key : key.slice(0, slash);
    const version = slash < 0 ? "" : key.slice(slash + 1);
    sessions.push({ labels: { transport, version }, value });
  }
  const reasons = new Map<string, number>(AUTH_FAILURE_REASONS.map((r) => [r, 0]));
  for (const [reason, n] of input.authFailures ?? []) reasons.set(reason, n);
  const authFailures = [...reasons].map(([reason, value]) => ({ labels: { reason }, value }));

  const families: MetricFamily[] = [
    counter(
      "moq_relay_sessions_opened_total",
      "Sessions accepted since start.",
      tiers.map((t) => ({ labels: { tier: t.tier }, value: t.sessions.sessions })),
    ),
    counter(
      "moq_relay_sessions_closed_total",
      "Sessions ended since start.",
      tiers.map((t) => ({ labels: { tier: t.tier }, value: t.sessions.sessions_closed })),
    ),
    gauge("moq_relay_sessions", "Sessions currently open, by transport and protocol version.", sessions),
    counter(
      "moq_relay_session_errors_total",
      "Sessions closed because the peer broke the protocol.",
      [{ value: stats.sessionErrors }],
    ),
    counter(
      "moq_relay_subscriptions_opened_total",
      "Subscriptions opened (publisher = served to subscribers).",
      tiers.map((t) => ({ labels: { tier: t.tier, role: "publisher" }, value: t.publisher.subscriptions })),
    ),
    counter(
      "moq_relay_subscriptions_closed_total",
      "Subscriptions closed (publisher = served to subscribers).",
      tiers.map((t) => ({
        labels: { tier: t.tier, role: "publisher" },
        value: t.publisher.subscriptions_closed,
      })),
    ),
    counter(
      "moq_relay_groups_total",
      "Groups relayed (publisher = sent to subscribers, subscriber = received from publishers).",
      byRole(tiers, "groups"),
    ),
    counter(
      "moq_relay_frames_total",
      "Frames relayed (publisher = sent to subscribers, subscriber = received from publishers).",
      byRole(tiers, "frames"),
    ),
    counter(
      "moq_relay_bytes_total",
      "Bytes relayed (publisher = sent to subscribers, subscriber = received from publishers).",
      byRole(tiers, "bytes"),
    ),
    counter(
      "moq_relay_datagrams_total",
      "Single-frame groups carried over unreliable QUIC datagrams; a subset of groups.",
      byRole(tiers, "datagrams"),
    ),
    counter("moq_relay_fetches_total", "One-shot group fetches requested.", byRole(tiers, "fetches")),
    counter(
      "moq_relay_announcements_total",
      "Broadcasts announced active (publisher = sent to peers and subscribers, subscriber = received).",
      byRole(tiers, "announced"),
    ),
    counter(
      "moq_relay_viewers_opened_total",
      "Distinct (broadcast, session) subscriptions opened.",
      byRole(tiers, "broadcasts"),
    ),
    counter(
      "moq_relay_viewers_closed_total",
      "Distinct (broadcast, session) subscriptions closed; subtract from opened for live viewers.",
      byRole(tiers, "broadcasts_closed"),
    ),
    counter(
      "moq_relay_accept_failures_total",
      "Failed accept() calls on a plaintext listener, by class.",
      [...stats.listeners].flatMap(([listener, health]) =>
        ACCEPT_FAILURE_CLASSES.map((cls) => ({
          labels: { listener, class: cls },
          value: health.failures[cls],
        }))
      ),
    ),
    gauge(
      "moq_relay_accept_stalled_seconds",
      "How long a plaintext listener has been unable to accept a connection; 0 when it is serving.",
      [...stats.listeners].map(([listener, health]) => ({
        labels: { listener },
        value: health.stalledSeconds(),
      })),
    ),
    gauge("moq_relay_broadcasts", "Broadcasts announced (live or lingering).", [{
      value: origin.broadcasts,
    }]),
    gauge("moq_relay_tracks", "Tracks open in the origin tree.", [{ value: origin.tracks }]),
    gauge(
      "moq_relay_upstream_subscriptions",
      "Deduplicated subscriptions open towards publishers.",
      [{ value: origin.upstreamSubscriptions }],
    ),
    gauge("moq_relay_cache_bytes", "Bytes of frames held in the group cache.", [{
      value: origin.cacheBytes,
    }]),
    gauge("moq_relay_cache_groups", "Groups held in the group cache.", [{ value: origin.cacheGroups }]),
    counter(
      "moq_relay_groups_evicted_total",
      "Groups evicted from the cache to stay within its byte budget.",
      [{ value: origin.groupsEvicted }],
    ),
    counter(
      "moq_relay_groups_dropped_total",
      "Groups a subscriber did not get because it was too slow.",
      [{ value: stats.groupsDropped }],
    ),
    counter(
      "moq_relay_connection_errors_total",
      "Connections that failed before or outside a session (handshake errors, garbage).",
      [{ value: stats.connectionErrors }],
    ),
    counter("moq_relay_auth_failures_total", "Refused credentials, by reason.", authFailures),
    gauge("moq_relay_draining", "1 while the relay is shutting down, else 0.", [
      { value: input.draining ? 1 : 0 },
    ]),
  ];
  if (input.cacheCapacityBytes !== undefined) {
    families.push(
      gauge("moq_relay_cache_capacity_bytes", "Byte budget of the group cache.", [
        { value: input.cacheCapacityBytes },
      ]),
    );
  }
  return families;
}

/** Render the complete `/metrics` page. */
export function renderRelayMetrics(input: RelayMetricsInput): string {
  return formatMetrics(relayMetricFamilies(input));
}
