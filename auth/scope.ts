/**
 * Scoping credentials to the connection path (shared/spec/relay.md §2.5), anonymous public access
 * (§2.6), subdomain routing (§2.8 `auth.domains`), connection-path safety, and the reserved
 * `.internal/` namespace (§8 items 1, 2).
 *
 * @module
 */

import {
  checkedPath,
  hasPrefix,
  joinPath,
  normalizePath,
  overlaps,
  PathError,
  stripPrefix,
} from "../relay/path.ts";
import type { PublicAccess } from "../config/types.ts";
import { AuthError } from "./types.ts";

/** The reserved namespace for relay-to-relay state. */
export const INTERNAL_PREFIX = ".internal";

/** Grants as they appear in a token: prefixes relative to `root`. */
export interface Grants {
  root: string;
  put: readonly string[];
  get: readonly string[];
}

/** Grants scoped to a connection path: prefixes relative to that path. */
export interface ScopedAccess {
  publish: string[];
  subscribe: string[];
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * Turn a URL path (as the URL parser gives it: percent-encoding NOT decoded) into the normalised
 * connection path `P`. A `.` or `..` segment (also percent-encoded) is refused rather than resolved,
 * so no spelling can reach outside the path it names.
 * @throws {AuthError} `malformed` for dot segments or more than 32 segments.
 */
export function connectionPath(pathname: string): string {
  for (const segment of pathname.split("/")) {
    if (DOT_SEGMENT.test(segment)) {
      throw new AuthError("malformed", "connection path contains a '.' or '..' segment");
    }
  }
  try {
    return checkedPath(pathname);
  } catch (e) {
    if (e instanceof PathError) throw new AuthError("malformed", e.message);
    throw e;
  }
}

/**
 * The path prefix a host name contributes under `auth.domains` (§2.8): with suffix `cdn.example`,
 * host `team.customer.cdn.example` gives `customer/team`; the bare suffix gives `""`. The longest
 * matching suffix wins; no match gives `undefined`.
 */
export function domainPrefix(hostname: string, domains: readonly string[]): string | undefined {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  let best: string | undefined;
  let bestLength = -1;
  for (const raw of domains) {
    const suffix = raw.toLowerCase().replace(/^\.+|\.+$/g, "");
    if (suffix === "" || suffix.length <= bestLength) continue;
    if (host === suffix) {
      best = "";
      bestLength = suffix.length;
    } else if (host.endsWith("." + suffix)) {
      best = host.slice(0, host.length - suffix.length - 1).split(".").filter((l) => l !== "").reverse().join(
        "/",
      );
      bestLength = suffix.length;
    }
  }
  return best;
}

/** Drop duplicates and entries already covered by another entry (segment-aware). */
function minimize(list: string[]): string[] {
  const out: string[] = [];
  list.forEach((entry, i) => {
    const covered = list.some((other, j) => j !== i && hasPrefix(entry, other) && (other !== entry || j < i));
    if (!covered) out.push(entry);
  });
  return out;
}

function scopeList(grants: readonly string[], extra: string, suffix: string): string[] {
  const out: string[] = [];
  for (const grant of grants) {
    const full = joinPath(extra, normalizePath(grant));
    if (hasPrefix(full, suffix)) out.push(stripPrefix(full, suffix));
    else if (hasPrefix(suffix, full)) out.push("");
  }
  return minimize(out);
}

/**
 * Scope token grants to the connection path `path` (normalised) exactly as §2.5 says.
 * @returns publish/subscribe prefixes relative to `path`.
 * @throws {AuthError} `root_mismatch` when the token root and the path are unrelated; `no_access`
 * when nothing is left at this path.
 */
export function scopeGrants(path: string, grants: Grants): ScopedAccess {
  const root = normalizePath(grants.root);
  let suffix: string;
  let extra: string;
  if (hasPrefix(path, root)) {
    suffix = stripPrefix(path, root);
    extra = "";
  } else if (hasPrefix(root, path)) {
    suffix = "";
    extra = stripPrefix(root, path);
  } else {
    throw new AuthError("root_mismatch", `token root "${root}" does not cover the connection path`);
  }
  const access = {
    publish: scopeList(grants.put, extra, suffix),
    subscribe: scopeList(grants.get, extra, suffix),
  };
  if (access.publish.length === 0 && access.subscribe.length === 0) {
    throw new AuthError("no_access", "the token grants nothing at this path");
  }
  return access;
}

/** Whether any configured public prefix applies at `path` (overlaps it in either direction). */
export function publicApplies(path: string, access: PublicAccess): boolean {
  return [...access.publish, ...access.subscribe].some((prefix) => overlaps(normalizePath(prefix), path));
}

/**
 * Anonymous access at `path` (§2.6): the public prefixes scoped with §2.5, or `undefined` when no
 * public prefix overlaps the path.
 * @throws {AuthError} `no_access` when a prefix overlaps but nothing usable is left.
 */
export function scopePublic(path: string, access: PublicAccess): ScopedAccess | undefined {
  if (!publicApplies(path, access)) return undefined;
  return scopeGrants(path, { root: "", put: access.publish, get: access.subscribe });
}

/** Whether a public configuration grants anything at all. */
export function hasPublicAccess(access: PublicAccess): boolean {
  return access.publish.length > 0 || access.subscribe.length > 0;
}

/**
 * Whether token grants may use the reserved `.internal/` namespace: only when the token carries
 * `"cluster": true` or explicitly grants a prefix inside `.internal` (root + grant starting with
 * the `.internal` segment), or grants the whole tree in both directions (upstream's cluster token
 * `root="" put=[""] get=[""]`). Anonymous access never is.
 */
export function grantsInternal(grants: Grants & { cluster?: boolean }): boolean {
  if (grants.cluster === true) return true;
  const root = normalizePath(grants.root);
  // Upstream's cluster credential (`root="" put=[""] get=[""]`): full access to everything,
  // so it may see and write the reserved namespace too.
  if (
    root === "" && grants.put.some((g) => normalizePath(g) === "") &&
    grants.get.some((g) => normalizePath(g) === "")
  ) {
    return true;
  }
  return [...grants.put, ...grants.get].some((grant) =>
    hasPrefix(joinPath(root, normalizePath(grant)), INTERNAL_PREFIX)
  );
}
