/**
 * Socket address syntax checks for listener settings. `host:port` parsing itself lives in
 * `util/host_port.ts`; this adds the IP-only form.
 *
 * @module
 */

import { type HostPort, isIpv4, isIpv6, splitHostPort } from "../util/mod.ts";

export { type HostPort, isIpv4, isIpv6, parseHostPort } from "../util/mod.ts";

/** Parse `IP:port` (IPv4 or `[IPv6]`, no host names); undefined if invalid. */
export function parseIpPort(text: string): HostPort | undefined {
  const parts = splitHostPort(text);
  if (parts === undefined) return undefined;
  if (parts.bracketed ? !isIpv6(parts.host) : !isIpv4(parts.host)) return undefined;
  return { host: parts.host, port: parts.port };
}
