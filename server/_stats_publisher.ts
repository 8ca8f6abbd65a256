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
  type RelayStats,
  type TierCounters,
  type Track,
} from "../relay/mod.ts";

/** Reset code for a track this broadcast does not have (moq-lite "not found"). */
const CODE_NOT_FOUND = 13;
const TRACK_KINDS = ["publisher.json", "subscriber.json", "sessions.json"] as const;
type TrackKind = typeof TRACK_KINDS[number];

/** The stats broadcast path for a configuration. */
export function statsBroadcastPath(config: StatsConfig): string {
  return joinPath(joinPath(config.prefix, "node"), config.node);
}

/** Split a track name into tier and kind: `publisher.json` → ["", …], `a/b/sessions.json` → ["a/b", …]. */
function parseTrackName(name: string): { tier: string; kind: TrackKind } | undefined {
  for (const kind of TRACK_KINDS) {
    if (name === kind) return { tier: "", kind };
    if (name.endsWith(`/${kind}`)) return { tier: name.slice(0, -kind.length - 1), kind };
  }
  return undefined;
}

function snapshot(counters: TierCounters, kind: TrackKind): string {
  const map = kind === "publisher.json"
    ? counters.publisher
    : kind === "subscriber.json"
    ? counters.subscriber
    : counters.sessions;
  return JSON.stringify(Object.fromEntries(map));
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
  tier: string;
  kind: TrackKind;
  sequence: number;
}

/** Publish the stats broadcast until `signal` aborts. Returns the broadcast path. */
export function startStatsPublisher(
  config: StatsConfig,
  origin: Origin,
  stats: RelayStats,
  logger: Logger,
  signal: AbortSignal,
): string {
  const path = statsBroadcastPath(config);
  const log = logger.child("stats");
  stats.tiers.exclude = config.prefix;
  const served = new Map<Track, Served>();
  const known = (tier: string) => stats.tiers.list().some(([name]) => name === tier);

  const emit = (track: Track, entry: Served) => {
    const group = track.startGroup(entry.sequence++);
    group.append(encodeFrame(snapshot(stats.tiers.tier(entry.tier), entry.kind)));
    group.finish();
  };

  const source: BroadcastSource = {
    label: "stats",
    hops: [],
    subscribe: (track) => {
      const parsed = parseTrackName(track.name);
      if (parsed === undefined || !known(parsed.tier)) {
        queueMicrotask(() => track.upstreamEnded(CODE_NOT_FOUND));
        return { cancel: () => {} };
      }
      const entry: Served = { ...parsed, sequence: 0 };
      served.set(track, entry);
      queueMicrotask(() => {
        if (!served.has(track)) return;
        track.ready();
        emit(track, entry);
      });
      return { cancel: () => void served.delete(track) };
    },
  };

  const publication = origin.publish(path, source);
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
  }, config.intervalMs);
  signal.addEventListener("abort", () => {
    clearInterval(timer);
    publication.end(false);
  }, { once: true });
  log.info("stats publishing enabled", { path, interval_ms: config.intervalMs });
  return path;
}
