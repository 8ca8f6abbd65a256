/**
 * Builder of `[cluster]`: peers to dial, this relay's own URL, gossip, the cluster token file,
 * the origin id and the linger of lost broadcasts.
 *
 * @module
 */

import { parseHostPort } from "./_address.ts";
import type { SettingsReader } from "./_reader.ts";
import { showValue } from "./_settings.ts";
import type { RelayConfig } from "./types.ts";
import { unique } from "./_values.ts";

/** Maximum `cluster.id` + 1: ids travel to JavaScript peers as numbers (docs/relay.md §1.3). */
const CLUSTER_ID_LIMIT = 2n ** 53n;

/** Peer / node URL: bare `host[:port]` becomes `https://host[:port]/` with a deprecation warning. */
function peerUrl(reader: SettingsReader, path: string, text: string, warnings: string[]): string {
  let value = text.trim();
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    const bare = parseHostPort(value) ?? (/^[^\s/:?#]+$/.test(value) ? { host: value, port: 0 } : undefined);
    if (bare === undefined) {
      reader.fail(
        path,
        `invalid URL ${showValue(text)}: expected a URL such as "https://relay.example.com:443/"`,
      );
    }
    const converted = `https://${value}/`;
    warnings.push(`${reader.where(path)}: a bare host "${value}" is deprecated; write "${converted}"`);
    value = converted;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return reader.fail(
      path,
      `invalid URL ${showValue(text)}: expected a URL such as "https://relay.example.com:443/"`,
    );
  }
  if (url.hostname === "") reader.fail(path, `invalid URL ${showValue(text)}: it has no host`);
  const cost = url.searchParams.get("cost");
  if (cost !== null && !/^\d+$/.test(cost)) {
    reader.fail(path, `invalid ?cost=${cost} in ${showValue(text)}: expected a non-negative whole number`);
  }
  return value;
}

/** Fill `config.cluster` from `[cluster]` (the token file is checked later, with the file system). */
export function buildCluster(reader: SettingsReader, config: RelayConfig, warnings: string[]): void {
  const cluster = config.cluster;
  cluster.connect = unique(
    reader.list("cluster.connect").map((url) => url.trim()).filter((url) => url !== ""),
  )
    .map((url) => peerUrl(reader, "cluster.connect", url, warnings));
  const node = reader.string("cluster.node")?.trim();
  if (node) cluster.node = peerUrl(reader, "cluster.node", node, warnings);
  cluster.mesh = reader.bool("cluster.mesh", false);
  if (cluster.mesh && cluster.node === undefined) {
    reader.conflict(
      ["cluster.mesh", "cluster.node"],
      (mesh, n) =>
        `${mesh} needs ${n}: set it to this relay's public URL, e.g. "https://relay1.example.com/"`,
    );
  }
  const token = reader.string("cluster.token")?.trim();
  if (reader.has("cluster.token") && !token) reader.expected("cluster.token", "a file path");
  cluster.token = token || undefined;
  const connectApi = reader.string("cluster.connect_api");
  if (connectApi !== undefined) cluster.connectApi = connectApi;
  const id = reader.integer("cluster.id");
  if (id !== undefined) {
    if (id < 1n || id >= CLUSTER_ID_LIMIT) {
      reader.expected(
        "cluster.id",
        `a whole number from 1 to ${CLUSTER_ID_LIMIT - 1n} (JavaScript peers need < 2^53)`,
      );
    }
    cluster.id = Number(id);
  }
  cluster.lingerMs = reader.duration("cluster.linger") ?? cluster.lingerMs;
}
