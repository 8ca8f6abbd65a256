/**
 * Builders of `[cache]` and `[limits]`: the cache budget and the per-session quotas and timings.
 *
 * @module
 */

import type { SettingsReader } from "./_reader.ts";
import type { RelayConfig } from "./types.ts";

/** Fill `config.cache` from `[cache]`. */
export function buildCache(reader: SettingsReader, config: RelayConfig): void {
  const capacity = reader.size("cache.capacity", true);
  if (capacity !== undefined) config.cache.capacityBytes = capacity;
  const duration = reader.duration("cache.duration");
  if (duration !== undefined) config.cache.durationMs = duration;
}

/** Fill `config.limits` from `[limits]`. */
export function buildLimits(reader: SettingsReader, config: RelayConfig): void {
  const limits = config.limits;
  limits.maxBroadcastsPerSession = reader.count(
    "limits.max_broadcasts_per_session",
    limits.maxBroadcastsPerSession,
  );
  limits.maxSubscriptionsPerSession = reader.count(
    "limits.max_subscriptions_per_session",
    limits.maxSubscriptionsPerSession,
  );
  limits.maxStreamsPerSession = reader.count("limits.max_streams_per_session", limits.maxStreamsPerSession);
  const queue = reader.size("limits.subscriber_queue", false);
  if (queue !== undefined) {
    if (queue < 1) reader.fail("limits.subscriber_queue", "must be greater than 0");
    limits.subscriberQueueBytes = queue;
  }
  limits.subscribeWaitMs = reader.duration("limits.subscribe_wait") ?? limits.subscribeWaitMs;
  limits.warmMs = reader.duration("limits.warm") ?? limits.warmMs;
  limits.drainTimeoutMs = reader.duration("limits.drain_timeout") ?? limits.drainTimeoutMs;
}
