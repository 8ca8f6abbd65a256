/**
 * deploy/kubernetes/: every manifest validates against the Kubernetes API schemas
 * (`kubernetes-models`), the shape is the recommended one (core StatefulSet behind a headless
 * Service whose DNS names are the gossip node URLs, dual-homed edge Deployment, UDP and TCP
 * Services, readiness on the internal /health, PodDisruptionBudgets, the credential from a
 * Secret), and the relay configs in the ConfigMap, moved to loopback, form that topology.
 */

import assert from "node:assert/strict";
import { type Manifest, parseManifests, validateManifest } from "../testing/kubernetes.ts";
import {
  clusterPort,
  clusterTest,
  eventually,
  nodes,
  peerUrl,
  type RelayProcess,
  startNode,
} from "../testing/mod.ts";

const DIR = new URL("../deploy/kubernetes/", import.meta.url);

async function allManifests(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (!entry.name.endsWith(".yaml")) continue;
    out.push(...parseManifests(await Deno.readTextFile(new URL(entry.name, DIR))));
  }
  return out;
}

function find(all: Manifest[], kind: string, name: string): Manifest {
  const m = all.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(m, `${kind} ${name} exists`);
  return m;
}

// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("deploy/kubernetes: every manifest validates against the Kubernetes schemas", async () => {
  const all = await allManifests();
  assert.ok(all.length >= 7, `${all.length} manifests`);
  for (const m of all) validateManifest(m);
  // A broken manifest is caught (the validation can fail).
  const broken = structuredClone(find(all, "StatefulSet", "moq-core")) as Any;
  broken.spec.replicas = "three";
  assert.throws(() => validateManifest(broken));
});

Deno.test("deploy/kubernetes: the recommended shape", async () => {
  const all = await allManifests();
  const core = find(all, "StatefulSet", "moq-core") as Any;
  const headless = find(all, "Service", "moq-core") as Any;
  assert.equal(headless.spec.clusterIP, "None", "stable per-pod DNS names");
  assert.equal(core.spec.serviceName, "moq-core");
  const edge = find(all, "Deployment", "moq-edge") as Any;
  const lb = find(all, "Service", "moq-edge") as Any;
  assert.deepEqual(lb.spec.ports.map((p: Any) => p.protocol).sort(), ["TCP", "UDP"]);
  for (const workload of [core, edge]) {
    const pod = workload.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(c.readinessProbe.httpGet.path, "/health");
    assert.equal(c.readinessProbe.httpGet.port, "internal");
    assert.ok(
      pod.volumes.some((v: Any) => v.secret?.secretName === "moq-relay-secret"),
      "credential from a Secret",
    );
    assert.ok(pod.terminationGracePeriodSeconds >= 25, "room to drain");
  }
  const node = core.spec.template.spec.containers[0].env.find((e: Any) => e.name === "MOQ_CLUSTER_NODE");
  assert.equal(node.value, "https://$(POD_NAME).moq-core:4443/", "node URL = the pod's stable DNS name");
  find(all, "PodDisruptionBudget", "moq-core");
  find(all, "PodDisruptionBudget", "moq-edge");
  const config = find(all, "ConfigMap", "moq-relay-config") as Any;
  const edgeToml: string = config.data["edge.toml"];
  assert.equal(
    (edgeToml.match(/https:\/\/moq-core-\d\.moq-core:4443\//g) ?? []).length,
    2,
    "edges dial two cores",
  );
  assert.match(config.data["core.toml"], /mesh = true/);
  assert.match(config.data["core.toml"], /drain_timeout = "20s"/);
});

/** The ConfigMap's `[cluster]` section moved to loopback: pod DNS names become ports. */
function clusterLines(toml: string, ports: number[]): string[] {
  const section = toml.split(/^\[cluster\]$/m)[1].split(/^\[/m)[0];
  return section.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
    .filter((l) => !l.startsWith("token")) // the kit's credential file is used instead
    .map((l) => l.replace(/https:\/\/moq-core-(\d)\.moq-core:4443\//g, (_, n) => peerUrl(ports[Number(n)])));
}

clusterTest(
  "deploy/kubernetes: the ConfigMap's configs on loopback form a core mesh with dual-homed edges",
  async (kit) => {
    const all = await allManifests();
    const config = find(all, "ConfigMap", "moq-relay-config") as Any;
    const ports = [clusterPort(), clusterPort(), clusterPort()];
    const cores: RelayProcess[] = [];
    for (const [i, port] of ports.entries()) {
      const lines = clusterLines(config.data["core.toml"], ports).filter((l) => !l.startsWith("mesh"));
      // MOQ_CLUSTER_NODE in the pod: its own stable name; mesh needs it.
      lines.push(`node = "${peerUrl(port)}"`, "mesh = true");
      cores.push(await startNode(kit, { port, id: 201 + i, cluster: lines }));
    }
    const edges = [];
    for (let i = 0; i < 2; i++) {
      edges.push(
        await startNode(kit, { id: 211 + i, cluster: clusterLines(config.data["edge.toml"], ports) }),
      );
    }
    const connectedTo = async (relay: RelayProcess) =>
      (await nodes(relay)).filter((n) => n.state === "connected").map((n) => n.node);
    // Every core pair is linked once (one side dials); each edge dials cores 0 and 1.
    await eventually("the core mesh forms", async () => {
      const links = new Set<string>();
      for (const [i, c] of cores.entries()) {
        for (const peer of await connectedTo(c)) links.add([peerUrl(ports[i]), peer].sort().join(" "));
      }
      return links.size === 3;
    }, 20_000);
    for (const e of edges) {
      await eventually("the edge is dual-homed", async () => {
        const got = (await connectedTo(e)).sort();
        return JSON.stringify(got) === JSON.stringify([peerUrl(ports[0]), peerUrl(ports[1])].sort());
      });
    }
  },
);
