/**
 * Socket address syntax checks for listener settings.
 *
 * @module
 */

/** A parsed `host:port`; `host` has no brackets (`::1`, `127.0.0.1`, `relay.example.com`). */
export interface HostPort {
  host: string;
  port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

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

function split(text: string): { host: string; port: number; bracketed: boolean } | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  return { host: match[1], port, bracketed: text.startsWith("[") };
}

/** Parse `host:port` where host is an IPv4 literal, `[IPv6]` or a DNS name; undefined if invalid. */
export function parseHostPort(text: string): HostPort | undefined {
  const parts = split(text);
  if (parts === undefined) return undefined;
  if (parts.bracketed) return isIpv6(parts.host) ? { host: parts.host, port: parts.port } : undefined;
  // All-numeric hosts must be real IPv4 literals (`256.1.1.1` is not a host name).
  const valid = /^[\d.]+$/.test(parts.host) ? isIpv4(parts.host) : HOSTNAME.test(parts.host);
  if (!valid) return undefined;
  return { host: parts.host, port: parts.port };
}

/** Parse `IP:port` (IPv4 or `[IPv6]`, no host names); undefined if invalid. */
export function parseIpPort(text: string): HostPort | undefined {
  const parts = split(text);
  if (parts === undefined) return undefined;
  if (parts.bracketed ? !isIpv6(parts.host) : !isIpv4(parts.host)) return undefined;
  return { host: parts.host, port: parts.port };
}
