/**
 * Clusters of real relay processes on loopback for end-to-end tests: a shared signing key and
 * cluster credential, relays dialing each other over WebTransport (`http://` peers pinned by
 * `/certificate.sha256`), their `/nodes` and `/metrics` on the internal listener.
 *
 * @module
 */

import assert from "node:assert/strict";
import { signToken } from "../auth/mod.ts";
import type { NodeInfo } from "../cluster/mod.ts";
import { freePort, type RelayProcess, startRelay } from "./harness.ts";
import { sleep } from "./timing.ts";
import { parseMetrics, sampleValue } from "./metrics.ts";
import { generateTestKey } from "./auth.ts";

/** A cluster of relay processes sharing one signing key and one cluster credential. */
export interface ClusterKit {
  dir: string;
  /** `[auth]` body: the shared key, everything public (except `.internal`). */
  auth: string;
  /** The cluster credential file (`root="" put=[""] get=[""]`). */
  tokenFile: string;
  /** The cluster credential itself (what {@link tokenFile} holds). */
  token: string;
  relays: RelayProcess[];
  /** `[server]` body of every relay (default: none, i.e. default QUIC idle timeout and keep-alive). */
  server: string;
}

/** A fresh kit: key, cluster credential, temp dir. `server` is every relay's `[server]` body. */
export async function makeKit(server = ""): Promise<ClusterKit> {
  const dir = await Deno.makeTempDir({ prefix: "moq-cluster-e2e-" });
  const { keyPath, key } = await generateTestKey(`${dir}/cluster.jwk`, "HS256");
  const token = await signToken(key, { root: "", put: [""], get: [""] });
  const tokenFile = `${dir}/cluster.jwt`;
  await Deno.writeTextFile(tokenFile, token);
  return { dir, auth: `key = "${keyPath}"\npublic = ""`, tokenFile, token, relays: [], server };
}

/** How {@link startNode} configures one relay. */
export interface NodeOptions {
  port?: number;
  id?: number;
  connect?: number[];
  mesh?: boolean;
  /** Put the cluster credential inline (`?jwt=` on each peer URL) instead of `cluster.token`. */
  inlineJwt?: string;
  /** `?cost=` per peer port. */
  costs?: Record<number, number>;
  /** More `[cluster]` lines (e.g. `connect_api = "…"`). */
  cluster?: string[];
}

/**
 * A port free on TCP and UDP below Linux's ephemeral range (32768+). The harness's `freePort`
 * picks from the ephemeral range, where the outbound QUIC sockets of dialing relays (and of
 * other tests) may grab it before the relay binds; peers must know a node's port in advance.
 */
export function clusterPort(): number {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      const tcp = Deno.listen({ hostname: "127.0.0.1", port });
      tcp.close();
      const udp = Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" });
      udp.close();
      return port;
    } catch {
      // taken: try another
    }
  }
  return freePort();
}

/** The development peer URL of the relay on `port`. */
export function peerUrl(port: number): string {
  return `http://127.0.0.1:${port}/`;
}

/** Start one cluster relay (waits for "relay ready"). */
export async function startNode(kit: ClusterKit, options: NodeOptions = {}): Promise<RelayProcess> {
  const port = options.port ?? clusterPort();
  const query = (p: number) => {
    const params = new URLSearchParams();
    if (options.inlineJwt) params.set("jwt", options.inlineJwt);
    if (options.costs?.[p] !== undefined) params.set("cost", String(options.costs[p]));
    return params.size > 0 ? `?${params}` : "";
  };
  const ownConnect = options.cluster?.some((l) => /^connect\s*=/.test(l)) ?? false;
  const lines = [
    `[cluster]`,
    ownConnect
      ? ""
      : `connect = [${(options.connect ?? []).map((p) => `"${peerUrl(p)}${query(p)}"`).join(", ")}]`,
    options.inlineJwt ? "" : `token = "${kit.tokenFile}"`,
  ];
  if (options.id !== undefined) lines.push(`id = ${options.id}`);
  if (options.mesh) lines.push(`node = "${peerUrl(port)}"`, `mesh = true`);
  lines.push(...(options.cluster ?? []));
  // http:// peers are pinned by their /certificate.sha256: no [client.tls] needed.
  // The internal listener's port too is picked outside the ephemeral range (see clusterPort).
  const internalPort = clusterPort();
  lines.push(`[internal]`, `listen = "127.0.0.1:${internalPort}"`);
  const relay = await startRelay({
    port,
    auth: kit.auth,
    server: kit.server || undefined,
    toml: lines.join("\n"),
  });
  kit.relays.push(relay);
  internalUrls.set(relay, `http://127.0.0.1:${internalPort}`);
  // The harness polls /health on the web listener, which binds before the internal one.
  await relay.waitForLog(/relay ready/);
  return relay;
}

/** Internal listener URL of each relay started by {@link startNode}. */
const internalUrls = new WeakMap<RelayProcess, string>();

/** The internal listener of a relay started by {@link startNode}. */
export function internalUrl(relay: RelayProcess): string {
  const url = internalUrls.get(relay);
  assert.ok(url, "relay started without an internal listener");
  return url;
}

/** The relay's `/nodes`. */
export async function nodes(relay: RelayProcess): Promise<NodeInfo[]> {
  const res = await fetch(`${internalUrl(relay)}/nodes`);
  assert.equal(res.status, 200);
  return (await res.json()).nodes as NodeInfo[];
}

/** Wait until the relay's links to `ports` are connected. */
export async function waitConnected(relay: RelayProcess, ports: number[], timeoutMs = 10_000): Promise<void> {
  const want = ports.map(peerUrl);
  const deadline = Date.now() + timeoutMs;
  let last: NodeInfo[] = [];
  while (Date.now() < deadline) {
    last = await nodes(relay);
    if (want.every((u) => last.some((n) => n.node === u && n.state === "connected"))) return;
    await sleep(100);
  }
  throw new Error(`relay :${relay.port} not connected to ${want.join(", ")}: ${JSON.stringify(last)}`);
}

/** The four relays of {@link startDiamond}. */
export interface Diamond {
  /** The top (where a test publishes). */
  a: RelayProcess;
  /** The two middle relays, each linked to `a`: two equal routes. */
  b: RelayProcess;
  d: RelayProcess;
  /** The bottom, linked to `b` and `d` (where a test watches). */
  c: RelayProcess;
}

/** Start the diamond A ← B, D ← C (node ids 31, 32, 34, 33) and wait until every link is up. */
export async function startDiamond(kit: ClusterKit): Promise<Diamond> {
  const a = await startNode(kit, { id: 31 });
  const b = await startNode(kit, { id: 32, connect: [a.port] });
  const d = await startNode(kit, { id: 34, connect: [a.port] });
  const c = await startNode(kit, { id: 33, connect: [b.port, d.port] });
  await Promise.all([
    waitConnected(b, [a.port]),
    waitConnected(d, [a.port]),
    waitConnected(c, [b.port, d.port]),
  ]);
  return { a, b, c, d };
}

/** The relays of {@link startCoresAndEdges}. */
export interface CoresAndEdges {
  /** Two cores; the second is linked to the first. */
  cores: [RelayProcess, RelayProcess];
  /** Edges, each linked to both cores (dual-homed). */
  edges: RelayProcess[];
}

/**
 * Start two cores (node ids `coreIds`, the second linked to the first) and one dual-homed edge per
 * id in `edgeIds`, and wait until every link is up.
 */
export async function startCoresAndEdges(
  kit: ClusterKit,
  coreIds: [number, number],
  edgeIds: number[],
): Promise<CoresAndEdges> {
  const k1 = await startNode(kit, { id: coreIds[0] });
  const k2 = await startNode(kit, { id: coreIds[1], connect: [k1.port] });
  const edges: RelayProcess[] = [];
  for (const id of edgeIds) edges.push(await startNode(kit, { id, connect: [k1.port, k2.port] }));
  await Promise.all([
    waitConnected(k2, [k1.port]),
    ...edges.map((e) => waitConnected(e, [k1.port, k2.port])),
  ]);
  return { cores: [k1, k2], edges };
}

/** Print a measured figure (`@moq/lite`'s console is silenced by testing/moq.ts). */
export function report(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}

/** One metric sample from the relay's internal `/metrics`. */
export async function metric(
  relay: RelayProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${internalUrl(relay)}/metrics`);
  const families = parseMetrics(await res.text());
  return sampleValue(families, name, labels) ?? 0;
}

/** A `Deno.test` with a fresh kit whose relays are killed afterwards (`server`: see {@link makeKit}). */
export function clusterTest(name: string, fn: (kit: ClusterKit) => Promise<void>, server = ""): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async () => {
    const kit = await makeKit(server);
    try {
      await fn(kit);
    } finally {
      await Promise.all(kit.relays.map((r) => r.stop("SIGKILL")));
      await Deno.remove(kit.dir, { recursive: true }).catch(() => {});
    }
  });
}
