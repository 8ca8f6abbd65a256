/**
 * Helpers shared by the HTTP tests (not part of the relay): a stub authenticator, a scripted
 * broadcast source, frame encoding and a real listener on 127.0.0.1.
 *
 * @module
 */

import { type Authenticator, AuthError, type AuthTransport, type SessionGrant } from "../auth/mod.ts";
import { silentLogger } from "../log/mod.ts";
import {
  type BroadcastSource,
  normalizePath,
  Origin,
  type Track,
  type UpstreamSubscription,
} from "../relay/mod.ts";
import { type HttpHandler, serveHttp } from "../http/mod.ts";

/**
 * Stub authenticator. Root = the URL path. Tokens: none ⇒ public subscribe-all except under
 * `private` (401 missing); `internal` ⇒ internal full access; `bad` ⇒ 401 bad_signature; `down` ⇒
 * 502 key_unavailable; `nosub` ⇒ publish-only; `narrow` ⇒ may subscribe only `only/`.
 */
export class StubAuthenticator implements Authenticator {
  /** Every call, for assertions. */
  readonly calls: Array<{ root: string; transport: AuthTransport }> = [];

  authenticate(url: URL, transport: AuthTransport): Promise<SessionGrant> {
    const root = normalizePath(url.pathname);
    this.calls.push({ root, transport });
    const token = url.searchParams.get("jwt");
    const grant = (subscribe: string[], internal = false): SessionGrant => ({
      root,
      publish: [""],
      subscribe,
      internal,
      anonymous: token === null,
    });
    switch (token) {
      case null:
        if (root === "private" || root.startsWith("private/")) {
          return Promise.reject(new AuthError("missing", "no token, and no public access at this path"));
        }
        return Promise.resolve(grant([""]));
      case "internal":
        return Promise.resolve(grant([""], true));
      case "bad":
        return Promise.reject(new AuthError("bad_signature", "token signature does not verify"));
      case "down":
        return Promise.reject(new AuthError("key_unavailable", "key server unreachable", 502, 566));
      case "nosub":
        return Promise.resolve(grant([]));
      case "narrow":
        return Promise.resolve(grant(["only"]));
      default:
        return Promise.reject(new AuthError("malformed", "unknown test token"));
    }
  }
}

/** A scripted publisher: `onSubscribe` decides what happens to each upstream subscription. */
export class TestSource implements BroadcastSource {
  readonly label = "test-source";
  readonly hops: bigint[] = [];
  /** Tracks subscribed, by name (latest subscription). */
  readonly tracks = new Map<string, Track>();
  /** Upstream subscriptions cancelled so far. */
  cancelled = 0;
  onSubscribe: (track: Track) => void;

  constructor(onSubscribe: (track: Track) => void = (track) => track.ready()) {
    this.onSubscribe = onSubscribe;
  }

  subscribe(track: Track, _priority: number): UpstreamSubscription {
    this.tracks.set(track.name, track);
    this.onSubscribe(track);
    return { cancel: () => void this.cancelled++ };
  }
}

/** An origin without timers (no linger, no warm period). */
export function testOrigin(): Origin {
  return new Origin({ logger: silentLogger(), lingerMs: 0, warmMs: 0 });
}

/** A real listener on 127.0.0.1 with an OS-chosen port. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  close(): Promise<void>;
}

/** Serve `handler` on 127.0.0.1:0 until `close()`. */
export async function startServer(handler: HttpHandler): Promise<TestServer> {
  const abort = new AbortController();
  const listener = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    signal: abort.signal,
    logger: silentLogger(),
  });
  return {
    base: `http://127.0.0.1:${listener.addr.port}`,
    port: listener.addr.port,
    close: async () => {
      abort.abort();
      await listener.finished;
    },
  };
}
