/**
 * Built-in defaults and the embedded development configuration.
 *
 * @module
 */

import type { LimitsConfig, RelayConfig } from "./types.ts";
import {
  DEFAULT_CLIENT_TIMEOUT_MS,
  DEFAULT_CLUSTER_LINGER_MS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_MAX_BROADCASTS_PER_SESSION,
  DEFAULT_MAX_STREAMS_PER_SESSION,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION,
  DEFAULT_QUIC_IDLE_TIMEOUT_MS,
  DEFAULT_QUIC_KEEP_ALIVE_MS,
  DEFAULT_QUIC_MAX_STREAMS,
  DEFAULT_SERVER_BIND,
  DEFAULT_SUBSCRIBE_WAIT_MS,
  DEFAULT_SUBSCRIBER_QUEUE_BYTES,
  DEFAULT_WARM_MS,
} from "./keys.ts";

/** Default per-session limits (`[limits]`, docs/relay.md §8 item 21). */
export function defaultLimits(): LimitsConfig {
  return {
    maxBroadcastsPerSession: DEFAULT_MAX_BROADCASTS_PER_SESSION,
    maxSubscriptionsPerSession: DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION,
    maxStreamsPerSession: DEFAULT_MAX_STREAMS_PER_SESSION,
    subscriberQueueBytes: DEFAULT_SUBSCRIBER_QUEUE_BYTES,
    subscribeWaitMs: DEFAULT_SUBSCRIBE_WAIT_MS,
    warmMs: DEFAULT_WARM_MS,
    drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
  };
}

/**
 * The configuration every key falls back to (what an empty relay.toml means before validation).
 * Note that it is not runnable on its own: QUIC on `[::]:443` needs a certificate and there is
 * no auth source.
 */
export function baseConfig(): RelayConfig {
  return {
    log: { level: "info" },
    server: {
      bind: DEFAULT_SERVER_BIND,
      versions: [],
      tls: { cert: [], key: [], generate: [], root: [] },
      quic: {
        maxStreams: DEFAULT_QUIC_MAX_STREAMS,
        idleTimeoutMs: DEFAULT_QUIC_IDLE_TIMEOUT_MS,
        keepAliveMs: DEFAULT_QUIC_KEEP_ALIVE_MS,
      },
    },
    web: { ws: true },
    auth: { public: { subscribe: [], publish: [] }, domains: [] },
    cluster: { connect: [], mesh: false, lingerMs: DEFAULT_CLUSTER_LINGER_MS },
    client: {
      tls: { disableVerify: false, root: [], fingerprint: [] },
      timeoutMs: DEFAULT_CLIENT_TIMEOUT_MS,
    },
    cache: {},
    limits: defaultLimits(),
  };
}

/** UDP (QUIC) and TCP (HTTP/WebSocket) address of the development relay. */
export const DEV_LISTEN = "127.0.0.1:4443";
/** TCP address of the development relay's internal ops listener. */
export const DEV_INTERNAL_LISTEN = "127.0.0.1:9090";

/**
 * The embedded development configuration, used when the relay is started with no config file,
 * no flags (other than `--log-level`) and no `MOQ_*` variables (other than `MOQ_LOG_LEVEL`):
 *
 * - QUIC (WebTransport + raw QUIC) on UDP `127.0.0.1:4443`, with a fresh self-signed certificate
 *   for `localhost` and `127.0.0.1` (`tls.generate`; browsers pin it via `/certificate.sha256`);
 * - HTTP endpoints and WebSocket sessions on TCP `127.0.0.1:4443` (`web.http`);
 * - the internal ops listener (`/health`, `/metrics`) on TCP `127.0.0.1:9090`;
 * - anonymous publish and subscribe under `anon/` (`auth.public = "anon"`), nothing else.
 *
 * Everything binds to loopback only, so this is safe to run on a workstation. It is equivalent to:
 *
 * ```toml
 * [server]
 * bind = "127.0.0.1:4443"
 * [server.tls]
 * generate = ["localhost", "127.0.0.1"]
 * [web.http]
 * listen = "127.0.0.1:4443"
 * [internal]
 * listen = "127.0.0.1:9090"
 * [auth]
 * public = "anon"
 * ```
 */
export function defaultDevConfig(): RelayConfig {
  const config = baseConfig();
  config.server.bind = DEV_LISTEN;
  config.server.tls.generate = ["localhost", "127.0.0.1"];
  config.web.http = { listen: DEV_LISTEN };
  config.internal = { listen: DEV_INTERNAL_LISTEN };
  config.auth.public = { subscribe: ["anon"], publish: ["anon"] };
  return config;
}
