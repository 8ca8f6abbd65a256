/**
 * `[stats]` (docs/relay.md §1.3, §4): the relay publishes one broadcast `<prefix>/node[/<node>]`
 * through its own origin, as a local broadcast source. Per tier it carries `publisher.json`
 * (egress), `subscriber.json` (ingress) and `sessions.json` (on a named tier
 * `<tier>/publisher.json`, …); each `interval` every subscribed track gets a new group holding one
 * frame: a JSON object of cumulative counters, keyed by broadcast path on the traffic tracks and
 * by auth root on `sessions.json`, as upstream. An entry is reported while live and once more with
 * its final values, then dropped. Traffic on the stats prefix itself gets no entries. Compressed
 * `.z` siblings are not published. Any MoQ client whose grant covers the path can subscribe.
 *
 * @module
 */

import { putVarint, varintSize } from "../codec/mod.ts";
import type { StatsConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import {
  type BroadcastSource,
  joinPath,
  type Origin,
  type Publication,
  type RelayStats,
  type TierCounters,
  type Track,
} from "../relay/mod.ts";

/** Reset code for a track this broadcast does not have (moq-lite "not found"). */
const CODE_NOT_FOUND = 13;
/** Group broadcasts published at once (depth > 0); entries of further groups are not published. */
export const MAX_STATS_GROUPS = 4096;
const TRACK_KINDS = ["publisher.json", "subscriber.json", "sessions.json"] as const;
type TrackKind = typeof TRACK_KINDS[number];

/** The stats broadcast path of `group` ("" at depth 0): `<prefix>[/<group>]/node[/<node>]`. */
export function statsBroadcastPath(config: StatsConfig, group = ""): string {
  return joinPath(joinPath(joinPath(config.prefix, group), "node"), config.node);
}

/** The first `depth` segments of `path` (all of it when shorter; "" at depth 0). */
export function statsGroupKey(path: string, depth: number): string {
  if (depth <= 0) return "";
  let seen = 0;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 0x2f && ++seen === depth) return path.slice(0, i);
  }
  return path;
}

/** Split a track name into tier and kind: `publisher.json` → ["", …], `a/b/sessions.json` → ["a/b", …]. */
function parseTrackName(name: string): { tier: string; kind: TrackKind } | undefined {
  for (const kind of TRACK_KINDS) {
    if (name === kind) return { tier: "", kind };
    if (name.endsWith(`/${kind}`)) return { tier: name.slice(0, -kind.length - 1), kind };
  }
  return undefined;
}

function entriesOf(counters: TierCounters, kind: TrackKind): Map<string, unknown> {
  return kind === "publisher.json"
    ? counters.publisher
    : kind === "subscriber.json"
    ? counters.subscriber
    : counters.sessions;
}

/** The JSON frame of one track: the entries of `group` (all of them at depth 0). */
function snapshot(counters: TierCounters, kind: TrackKind, group: string, depth: number): string {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entriesOf(counters, kind)) {
    if (depth === 0 || statsGroupKey(key, depth) === group) out[key] = value;
  }
  return JSON.stringify(out);
}

function encodeFrame(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const prefix = varintSize(body.length);
  const out = new Uint8Array(prefix + body.length);
  putVarint(out, 0, body.length);
  out.set(body, prefix);
  return out;
}

interface Served {
  group: string;
  tier: string;
  kind: TrackKind;
  sequence: number;
}

/**
 * Publish the stats broadcast(s) until `signal` aborts: at depth 0 one broadcast for the node,
 * else one per group of leading path segments that has entries, announced while it has them.
 * Returns the depth-0 broadcast path (the group-0 path pattern otherwise).
 */
export function startStatsPublisher(
  config: StatsConfig,
  origin: Origin,
  stats: RelayStats,
  logger: Logger,
  signal: AbortSignal,
): string {
  const depth = config.depth ?? 0;
  const log = logger.child("stats");
  stats.tiers.exclude = config.prefix;
  const served = new Map<Track, Served>();
  const known = (tier: string) => stats.tiers.list().some(([name]) => name === tier);

  const emit = (track: Track, entry: Served) => {
    const group = track.startGroup(entry.sequence++);
    group.append(encodeFrame(snapshot(stats.tiers.tier(entry.tier), entry.kind, entry.group, depth)));
    group.finish();
  };

  const source = (group: string): BroadcastSource => ({
    label: "stats",
    hops: [],
    subscribe: (track) => {
      const parsed = parseTrackName(track.name);
      if (parsed === undefined || !known(parsed.tier)) {
        queueMicrotask(() => track.upstreamEnded(CODE_NOT_FOUND));
        return { cancel: () => {} };
      }
      const entry: Served = { ...parsed, group, sequence: 0 };
      served.set(track, entry);
      queueMicrotask(() => {
        if (!served.has(track)) return;
        track.ready();
        emit(track, entry);
      });
      return { cancel: () => void served.delete(track) };
    },
  });

  /** Published broadcasts by group ("" = the node's only one at depth 0). */
  const publications = new Map<string, Publication>();
  if (depth === 0) publications.set("", origin.publish(statsBroadcastPath(config), source("")));
  /** Announce the groups with entries, withdraw the others (depth > 0). */
  const regroup = () => {
    const live = new Set<string>();
    for (const [, counters] of stats.tiers.list()) {
      for (const kind of TRACK_KINDS) {
        for (const key of entriesOf(counters, kind).keys()) {
          if (live.size >= MAX_STATS_GROUPS) break;
          live.add(statsGroupKey(key, depth));
        }
      }
    }
    for (const group of live) {
      if (!publications.has(group)) {
        publications.set(group, origin.publish(statsBroadcastPath(config, group), source(group)));
      }
    }
    for (const [group, publication] of publications) {
      if (!live.has(group)) {
        publication.end(false);
        publications.delete(group);
      }
    }
  };
  if (depth > 0) regroup();

  const timer = setInterval(() => {
    for (const [track, entry] of served) {
      if (track.state === "closed") {
        served.delete(track);
        continue;
      }
      emit(track, entry);
    }
    // Idle entries were just reported with their final values.
    for (const [, counters] of stats.tiers.list()) counters.prune();
    if (depth > 0) regroup();
  }, config.intervalMs);
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    for (const publication of publications.values()) publication.end(false);
    publications.clear();
  }, { once: true });
  const path = statsBroadcastPath(config, depth === 0 ? "" : "<group>");
  log.info("stats publishing enabled", { path, interval_ms: config.intervalMs, depth });
  return path;
}
