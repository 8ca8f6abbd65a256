/**
 * The one `host:port` parser of the project: `[IPv6]:port`, `IPv4:port` or `dns.name:port`.
 *
 * @module
 */

/** A parsed `host:port`; `host` has no brackets (`::1`, `127.0.0.1`, `relay.example.com`). */
export interface HostPort {
  host: string;
  port: number;
}

/** The syntactic split of `host:port`, before the host is validated. */
export interface HostPortParts extends HostPort {
  /** Whether the host was written in brackets (`[::1]:443`). */
  bracketed: boolean;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const MAX_PORT = 65535;

/** Whether `text` is a dotted-quad IPv4 literal. */
export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/** Whether `text` is an IPv6 literal (without brackets; a `%zone` suffix is allowed). */
export function isIpv6(text: string): boolean {
  const [address, zone, ...rest] = text.split("%");
  if (rest.length > 0 || zone === "") return false;
  if (!/^[0-9A-Fa-f:.]+$/.test(address) || !address.includes(":")) return false;
  try {
    new URL(`http://[${address}]/`);
    return true;
  } catch {
    return false;
  }
}

/** Split `host:port` or `[host]:port` (port 0–65535) without judging the host; undefined if malformed. */
export function splitHostPort(text: string): HostPortParts | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const port = Number(match[2]);
  if (port > MAX_PORT) return undefined;
  return { host: match[1], port, bracketed: text.startsWith("[") };
}

/**
 * Parse `host:port` where host is an IPv4 literal, `[IPv6]` or a DNS name; undefined if invalid.
 * The returned host has no brackets.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const parts = splitHostPort(text);
  if (parts === undefined) return undefined;
  if (parts.bracketed) return isIpv6(parts.host) ? { host: parts.host, port: parts.port } : undefined;
  // All-numeric hosts must be real IPv4 literals (`256.1.1.1` is not a host name).
  const valid = /^[\d.]+$/.test(parts.host) ? isIpv4(parts.host) : HOSTNAME.test(parts.host);
  if (!valid) return undefined;
  return { host: parts.host, port: parts.port };
}
