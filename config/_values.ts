/**
 * Value checks shared by several section builders: non-empty list entries, `IP:port` listeners,
 * http(s) URLs, de-duplication.
 *
 * @module
 */

import { parseIpPort } from "./_address.ts";
import type { SettingsReader } from "./_reader.ts";

/** A list whose entries are trimmed and must not be empty (`what` names the expected entry). */
export function nonEmptyEntries(reader: SettingsReader, path: string, what: string): string[] {
  const values = reader.list(path).map((value) => value.trim());
  if (values.some((value) => value === "")) reader.fail(path, `empty entry: expected ${what}`);
  return values;
}

/** Remote (http/https URL) vs local path, as the auth key store decides. */
export function isRemote(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** Fail unless `value` (of key `path`) is an http(s) URL. */
export function checkHttpUrl(reader: SettingsReader, path: string, value: string): void {
  if (!isRemote(value)) reader.expected(path, `an http(s) URL such as "https://auth.example.com/"`);
}

/** A listener address: an IP literal with a port, or undefined when unset. */
export function readIpPort(reader: SettingsReader, path: string): string | undefined {
  const value = reader.string(path);
  if (value === undefined) return undefined;
  if (parseIpPort(value) === undefined) {
    reader.expected(path, `IP:port such as "127.0.0.1:8080" or "[::]:443" (an IP literal, not a host name)`);
  }
  return value;
}

/** The values without repeats, first occurrence kept. */
export function unique(values: string[]): string[] {
  return [...new Set(values)];
}
