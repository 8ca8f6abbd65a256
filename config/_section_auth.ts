/**
 * Builder of `[auth]` and `[auth.public]`: token keys, anonymous prefixes, subdomain routing.
 * The relay refuses to start with no way for anybody to connect.
 *
 * @module
 */

import { normalizePath } from "../relay/mod.ts";
import { isIpv4, parseHostPort } from "./_address.ts";
import type { SettingsReader } from "./_reader.ts";
import { showValue } from "./_settings.ts";
import type { RelayConfig } from "./types.ts";
import { checkHttpUrl, isRemote, nonEmptyEntries, unique } from "./_values.ts";

/** Keys that the unified auth API replaces (it supplies keys and public access itself). */
const AUTH_API_EXCLUDES = [
  "auth.key",
  "auth.key_dir",
  "auth.public",
  "auth.public.subscribe",
  "auth.public.publish",
];

/** Fill `config.auth` from `[auth]` and `[auth.public]` (run after `[server.tls]`). */
export function buildAuth(reader: SettingsReader, config: RelayConfig, warnings: string[]): void {
  const auth = config.auth;
  auth.key = reader.string("auth.key")?.trim() || undefined;
  auth.keyDir = reader.string("auth.key_dir")?.trim() || undefined;
  if (reader.has("auth.key") && auth.key === undefined) reader.expected("auth.key", "a JWK file path or URL");
  if (reader.has("auth.key_dir") && auth.keyDir === undefined) {
    reader.expected("auth.key_dir", "a directory path or URL");
  }
  if (auth.keyDir !== undefined && isRemote(auth.keyDir)) {
    warnings.push(`${reader.where("auth.key_dir")}: the URL form of auth.key_dir is deprecated upstream`);
  }
  if (auth.key !== undefined && auth.keyDir !== undefined) {
    reader.conflict(
      ["auth.key", "auth.key_dir"],
      (key, dir) => `${key} and ${dir} are both set; use one of them`,
    );
  }
  const both = reader.list("auth.public").map(normalizePath);
  auth.public = {
    subscribe: unique([...both, ...reader.list("auth.public.subscribe").map(normalizePath)]),
    publish: unique([...both, ...reader.list("auth.public.publish").map(normalizePath)]),
  };
  const publicApi = reader.string("auth.public.api");
  if (publicApi !== undefined) {
    checkHttpUrl(reader, "auth.public.api", publicApi);
    auth.public.api = publicApi;
  }
  const authApi = reader.string("auth.auth_api");
  if (authApi !== undefined) {
    checkHttpUrl(reader, "auth.auth_api", authApi);
    auth.authApi = authApi;
    const other = AUTH_API_EXCLUDES
      .find((path) => reader.has(path) && (path !== "auth.public" || both.length > 0)) ??
      (publicApi !== undefined ? "auth.public.api" : undefined);
    if (other !== undefined) {
      reader.conflict(
        ["auth.auth_api", other],
        (api, o) =>
          `${api} cannot be combined with ${o}: the auth API supplies keys and public access itself`,
      );
    }
  }
  auth.domains = unique(
    nonEmptyEntries(reader, "auth.domains", 'a domain suffix such as "cdn.example.com"')
      .map((domain) => domain.toLowerCase().replace(/^\.+/, "")),
  );
  for (const domain of auth.domains) {
    if (parseHostPort(`${domain}:1`) === undefined || isIpv4(domain)) {
      reader.fail(
        "auth.domains",
        `invalid domain ${showValue(domain)}: expected a suffix such as "cdn.example.com"`,
      );
    }
  }
  const hasPublic = auth.public.subscribe.length > 0 || auth.public.publish.length > 0;
  if (auth.key === undefined && auth.keyDir === undefined && !hasPublic && auth.authApi === undefined) {
    const unsupported = config.server.tls.root.length > 0
      ? "mTLS (server.tls.root) is not supported by this relay, so nobody could connect; "
      : "";
    reader.conflict(
      ["auth.key"],
      () =>
        `no authentication configured: ${unsupported}set auth.key (--auth-key FILE) or auth.key_dir for tokens, ` +
        `and/or auth.public = "anon" (--auth-public anon) for anonymous access under anon/, or auth.auth_api`,
    );
  }
}
