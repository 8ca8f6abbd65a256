/**
 * Start a relay from a normalised configuration: authentication, TLS, the relay core, the QUIC
 * listener, the web and internal listeners and the cluster. Everything is bound before the relay
 * reports ready (docs/relay.md §8 item 12); any bind or file error is a {@link StartupError}.
 *
 * @module
 */

import { JwtAuthenticator, KeyError, type SessionGrant } from "../auth/mod.ts";
import type { RelayConfig } from "../config/mod.ts";
import {
  createInternalHandler,
  createWebHandler,
  errorResponse,
  ListenError,
  serveHttp,
} from "../http/mod.ts";
import type { Logger } from "../log/mod.ts";
import { acceptWebSocket } from "../transport/mod.ts";
import { RelayCore } from "./_relay_server.ts";
import { QuicStartError, startQuic } from "./_quic_listener.ts";
import { loadCertificates, noCertificates, type ServedCertificates } from "./certificates.ts";
import { ListenerSupervisor } from "./_supervisor.ts";
import { startStatsPublisher } from "./_stats_publisher.ts";
import { startStreamListener, StreamListenError } from "./_stream_listener.ts";
import { resolveOriginId, startCluster } from "../cluster/mod.ts";
import { parseHostPort } from "../util/mod.ts";

/** A fatal start-up problem (printed as one `Error:` line, exit 1). */
export class StartupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StartupError";
  }
}

/** After the drain, how long the listeners get to stop before shutdown resolves anyway. */
export const LISTENER_STOP_GRACE_MS = 1_000;

/** A running relay. */
export interface RunningRelay {
  readonly core: RelayCore;
  /** Bound addresses by listener name. */
  readonly addresses: Record<string, string>;
  /** Graceful drain, then stop every listener. */
  shutdown(): Promise<void>;
  /** Stop at once. */
  stopNow(): void;
  /**
   * Rejects never; resolves with an error when a listener dies while the relay runs (`/health`
   * then answers 503; the process should log it and exit 1).
   */
  readonly fatal: Promise<Error>;
}

function split(hostPort: string): { hostname: string; port: number } {
  const parsed = parseHostPort(hostPort.trim());
  if (parsed === undefined) {
    throw new StartupError(
      `invalid listen address "${hostPort}": expected host:port, e.g. [::]:443 or 0.0.0.0:80`,
    );
  }
  return { hostname: parsed.host, port: parsed.port };
}

/** Start everything; throws {@link StartupError} for anything fatal. */
export async function startRelay(config: RelayConfig, logger: Logger): Promise<RunningRelay> {
  const stopAll = new AbortController();
  const supervisor = new ListenerSupervisor(stopAll.signal, logger);
  const addresses: Record<string, string> = {};

  let auth: JwtAuthenticator;
  try {
    auth = await JwtAuthenticator.create(config.auth, logger, stopAll.signal);
  } catch (err) {
    if (err instanceof KeyError) throw new StartupError(err.message, { cause: err });
    throw err;
  }
  const originId = await resolveOriginId(config);
  logger.child("cluster").info("cluster initialized", {
    origin_id: originId,
    configured: config.cluster.id !== undefined,
  });
  const core = new RelayCore({ config, logger, auth, originId });
  if (config.stats?.enabled) {
    startStatsPublisher(config.stats, core.origin, core.stats, logger, stopAll.signal);
  }

  let certs: ServedCertificates = noCertificates();
  if (config.server.bind) {
    try {
      certs = await loadCertificates(config, logger, stopAll.signal);
    } catch (err) {
      stopAll.abort();
      throw new StartupError((err as Error).message, { cause: err });
    }
  }

  const accept = (transport: Parameters<RelayCore["accept"]>[0], grant: SessionGrant) =>
    core.accept(transport, grant);
  const webSocket = (req: Request, grant: SessionGrant, info: Deno.ServeHandlerInfo) => {
    // Draining: refuse new sessions before upgrading (a load balancer retries elsewhere).
    if (core.draining) return errorResponse(503, "service unavailable: the relay is shutting down");
    const addr = info.remoteAddr as Deno.NetAddr;
    const result = acceptWebSocket(req, {
      logger,
      peer: `${addr.hostname}:${addr.port}`,
      versions: config.server.versions.length > 0 ? config.server.versions : undefined,
      maxStreams: config.limits.maxStreamsPerSession,
    });
    if ("error" in result) return result.error;
    result.session.then((t) => accept(t, grant), (err) => {
      core.stats.connectionErrors++;
      logger.child("websocket").debug("websocket session failed to open", { error: String(err) });
    });
    return result.response;
  };

  const listeners: Promise<void>[] = [];
  try {
    if (config.server.bind) {
      const quic = await startQuic({ config, logger, core, certs, signal: stopAll.signal });
      addresses.quic = quic.address;
      listeners.push(quic.finished);
      supervisor.watch("quic", quic.finished);
    }
    const webHandler = createWebHandler({
      origin: core.origin,
      stats: core.stats,
      auth,
      logger,
      certificateHashes: () => certs.hashes(),
      draining: () => core.draining,
      unhealthy: () => supervisor.unhealthy,
      webSocket: config.web.ws ? webSocket : undefined,
    });
    if (config.web.http) {
      const { hostname, port } = split(config.web.http.listen);
      // The web handler upgrades with acceptWebSocket: WebSockets run on the gate's connection.
      const s = await serveHttp({
        hostname,
        port,
        handler: webHandler,
        signal: stopAll.signal,
        logger,
        directWebSocket: true,
      });
      addresses.http = `${s.addr.hostname}:${s.addr.port}`;
      listeners.push(s.finished);
      supervisor.watch("http", s.finished);
      logger.child("http").info("listening", {
        addr: addresses.http,
        transport: "tcp",
        serves: "http+websocket",
      });
    }
    if (config.web.https) {
      const { hostname, port } = split(config.web.https.listen);
      const cert = await Deno.readTextFile(config.web.https.cert[0]);
      const key = await Deno.readTextFile(config.web.https.key[0]);
      const s = await serveHttp({
        hostname,
        port,
        handler: webHandler,
        signal: stopAll.signal,
        logger,
        cert,
        key,
      });
      addresses.https = `${s.addr.hostname}:${s.addr.port}`;
      listeners.push(s.finished);
      supervisor.watch("https", s.finished);
      logger.child("http").info("listening", {
        addr: addresses.https,
        transport: "tcp+tls",
        serves: "https+wss",
      });
    }
    for (const [kind, bind] of [["tcp", config.streams?.tcp], ["unix", config.streams?.unix]] as const) {
      if (bind === undefined) continue;
      const s = await startStreamListener(kind, bind, config, core, logger, stopAll.signal);
      addresses[kind] = s.address;
      listeners.push(s.finished);
      supervisor.watch(kind, s.finished);
    }
    const cluster = await startCluster({ config, logger, host: core, signal: stopAll.signal });
    if (config.internal) {
      const { hostname, port } = split(config.internal.listen);
      const s = await serveHttp({
        hostname,
        port,
        signal: stopAll.signal,
        logger,
        handler: createInternalHandler({
          origin: core.origin,
          stats: core.stats,
          logger,
          draining: () => core.draining,
          unhealthy: () => supervisor.unhealthy,
          authFailures: () => auth.authFailures,
          nodes: () => cluster.nodes(),
          signal: stopAll.signal,
        }),
      });
      addresses.internal = `${s.addr.hostname}:${s.addr.port}`;
      listeners.push(s.finished);
      supervisor.watch("internal", s.finished);
      logger.child("http").info("listening", {
        addr: addresses.internal,
        transport: "tcp",
        serves: "internal",
      });
    }
  } catch (err) {
    stopAll.abort();
    core.stopNow();
    if (
      err instanceof ListenError || err instanceof StartupError || err instanceof QuicStartError ||
      err instanceof StreamListenError
    ) {
      throw new StartupError(err.message, { cause: err });
    }
    throw err;
  }
  logger.info("relay ready", { ...addresses, certificate_sha256: certs.hashes()[0] ?? "-" });

  return {
    core,
    addresses,
    fatal: supervisor.fatal,
    async shutdown() {
      await core.drain(config.limits.drainTimeoutMs);
      stopAll.abort();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(listeners),
        new Promise((resolve) => (timer = setTimeout(resolve, LISTENER_STOP_GRACE_MS))),
      ]);
      clearTimeout(timer);
    },
    stopNow() {
      core.stopNow();
      stopAll.abort();
    },
  };
}
