/**
 * Builders of the operator sections `[stats]`, `[server.tcp]` and `[server.unix]`
 * (docs/relay.md §1.3).
 *
 * @module
 */

import { checkedPath, PathError } from "../relay/mod.ts";
import { parseHostPort } from "./_address.ts";
import type { SettingsReader } from "./_reader.ts";
import type { RelayConfig } from "./types.ts";

/** Largest `[stats] depth` (leading path segments to group stats broadcasts by). */
export const MAX_STATS_DEPTH = 16;
/** Default `[stats] prefix`. */
export const DEFAULT_STATS_PREFIX = ".stats";
/** Default `[stats] interval`. */
export const DEFAULT_STATS_INTERVAL_MS = 1_000;
/** Smallest `[stats] interval`. */
export const MIN_STATS_INTERVAL_MS = 1_000;

/** Whether a bind host is a loopback address or `localhost`. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\./.test(h);
}

function path(reader: SettingsReader, key: string, value: string): string {
  try {
    return checkedPath(value);
  } catch (e) {
    if (e instanceof PathError) return reader.fail(key, e.message);
    throw e;
  }
}

/** Fill `config.stats` from `[stats]`. */
export function buildStats(reader: SettingsReader, config: RelayConfig): void {
  const enabled = reader.bool("stats.enabled", false);
  const prefix = path(reader, "stats.prefix", reader.string("stats.prefix") ?? DEFAULT_STATS_PREFIX);
  if (enabled && prefix === "") reader.fail("stats.prefix", 'must not be empty (the default is ".stats")');
  const interval = reader.duration("stats.interval", { bareUnit: "s" }) ?? DEFAULT_STATS_INTERVAL_MS;
  const node = path(reader, "stats.node", reader.string("stats.node") ?? "");
  const depth = reader.integer("stats.depth") ?? 0n;
  if (depth < 0n || depth > BigInt(MAX_STATS_DEPTH)) {
    reader.fail("stats.depth", `must be between 0 and ${MAX_STATS_DEPTH}`);
  }
  config.stats = {
    enabled,
    prefix,
    intervalMs: Math.max(MIN_STATS_INTERVAL_MS, interval),
    node,
    depth: Number(depth),
  };
}

/** Fill `config.streams` from `[server.tcp]` and `[server.unix]`. */
export function buildStreamListeners(reader: SettingsReader, config: RelayConfig, warnings: string[]): void {
  const tcp = reader.string("server.tcp.bind")?.trim() || undefined;
  const unix = reader.string("server.unix.bind")?.trim() || undefined;
  if (tcp !== undefined) {
    const parsed = parseHostPort(tcp);
    if (parsed === undefined) reader.expected("server.tcp.bind", '"host:port" such as "127.0.0.1:4444"');
    if (!isLoopback(parsed.host)) {
      warnings.push(
        `${reader.where("server.tcp.bind")}: the plaintext qmux listener ${tcp} is not on loopback; ` +
          `anyone who can reach it talks to the relay without TLS: firewall it`,
      );
    }
  }
  const allow = ["uid", "gid", "pid"].filter((k) => reader.has(`server.unix.allow.${k}`));
  if (allow.length > 0) {
    reader.fail(
      `server.unix.allow.${allow[0]}`,
      "Deno cannot read a Unix socket peer's credentials (SO_PEERCRED), so this allow-list cannot be " +
        "enforced: remove [server.unix.allow] and restrict the socket instead with file permissions " +
        "(e.g. put it in a directory owned by the worker's user or group with mode 0750; the relay " +
        "creates the socket with mode 0660)",
    );
  }
  if (tcp !== undefined || unix !== undefined) config.streams = { tcp, unix };
}
