/**
 * Test support: a real {@link SessionContext} over one end of an in-memory transport pair, with
 * a real origin, so session-layer functions run unmodified in unit tests.
 *
 * @module
 */

import { type SessionGrant, SessionScope } from "../auth/mod.ts";
import type { LimitsConfig } from "../config/mod.ts";
import { silentLogger } from "../log/mod.ts";
import {
  type BroadcastSource,
  Origin,
  RelayStats,
  type Track,
  type UpstreamSubscription,
} from "../relay/mod.ts";
import type { TransportKind } from "../transport/mod.ts";
import { type MemoryTransport, memoryTransportPair } from "../testing/mod.ts";
import { DEFAULT_LIMITS, type SessionContext, SessionWarnings } from "./context.ts";
import { Version } from "./messages.ts";

/** Options of {@link testContext}. */
export interface TestContextOptions {
  version?: Version;
  grant?: Partial<SessionGrant>;
  limits?: Partial<LimitsConfig>;
  originId?: number;
  /** Unread bytes a stream holds before writes wait (a slow peer). */
  windowBytes?: number;
  /** The transport both ends report (default `websocket`). */
  kind?: TransportKind;
}

/** A context for the relay side and the peer's end of the transport. */
export interface TestContext {
  ctx: SessionContext;
  peer: MemoryTransport;
  origin: Origin;
  stats: RelayStats;
  /** Close codes the session layer asked for via `ctx.fail`. */
  failures: number[];
  /** End the session (aborts the context signal, closes the transport). */
  end(): void;
}

/** Build a relay-side context and the peer's transport. */
export function testContext(options: TestContextOptions = {}): TestContext {
  const [peer, relay] = memoryTransportPair({ windowBytes: options.windowBytes, kind: options.kind });
  const origin = new Origin({ logger: silentLogger(), warmMs: 20, lingerMs: 20 });
  const stats = new RelayStats();
  const abort = new AbortController();
  const failures: number[] = [];
  const grant: SessionGrant = {
    root: "",
    publish: [""],
    subscribe: [""],
    internal: false,
    anonymous: true,
    ...options.grant,
  };
  const ctx: SessionContext = {
    id: 1,
    transport: relay,
    version: options.version ?? Version.Lite04,
    scope: new SessionScope(grant),
    origin,
    stats,
    log: silentLogger(),
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    originId: options.originId ?? 0,
    signal: abort.signal,
    warnings: new SessionWarnings(),
    fail: (code) => {
      failures.push(code);
      relay.close(code, "test failure");
    },
  };
  return {
    ctx,
    peer,
    origin,
    stats,
    failures,
    end: () => {
      abort.abort();
      relay.close(0, "test over");
      origin.close();
    },
  };
}

/** A broadcast source the test drives: every subscribe is recorded and (by default) accepted. */
export class TestSource implements BroadcastSource {
  readonly label = "test source";
  readonly hops: bigint[];
  readonly tracks: Track[] = [];
  cancelled = 0;
  accept = true;

  constructor(hops: (number | bigint)[] = []) {
    this.hops = hops.map(BigInt);
  }

  subscribe(track: Track): UpstreamSubscription {
    this.tracks.push(track);
    if (this.accept) queueMicrotask(() => track.ready());
    return { cancel: () => this.cancelled++ };
  }
}
