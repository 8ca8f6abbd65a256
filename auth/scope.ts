/**
 * Scoping credentials to the connection path (docs/relay.md §2.5), anonymous public access
 * (§2.6), subdomain routing (§2.8 `auth.domains`), connection-path safety, the reserved
 * `.internal/` namespace (§8 items 1, 2), and a session's absolute view of the origin tree
 * ({@link SessionScope}) that sessions and HTTP routes check every path against.
 *
 * `.internal/` is unlocked per prefix, not per credential: only the cluster credential
 * ({@link isClusterCredential}) reaches into it through wide grants such as `""`, and only it may
 * publish there (`.internal/origins/…` drives gossip dialing). Any other credential may only
 * subscribe, and only under token grants that themselves name a path inside `.internal` (the
 * connection path does not count: a session rooted at `/.internal` with `get=[""]` sees nothing
 * there).
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
} from "../relay/mod.ts";
import type { PublicAccess } from "../config/mod.ts";
import { AuthError, type SessionGrant } from "./types.ts";

/** The reserved top-level namespace for relay-to-relay state (cluster gossip lives below it). */
export const INTERNAL_PREFIX = ".internal";

/** Whether a normalised absolute path is inside the reserved namespace. */
export function isInternalPath(path: string): boolean {
  return hasPrefix(path, INTERNAL_PREFIX);
}

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
  const { suffix, extra } = anchor(path, grants.root);
  const access = {
    publish: scopeList(grants.put, extra, suffix),
    subscribe: scopeList(grants.get, extra, suffix),
  };
  if (access.publish.length === 0 && access.subscribe.length === 0) {
    throw new AuthError("no_access", "the token grants nothing at this path");
  }
  return access;
}

/**
 * The part of {@link scopeGrants}' subscribe list that comes from `get` grants naming a path inside
 * `.internal` (absolute: root + grant), relative to `path`: what a non-cluster credential may see
 * of the reserved namespace. Call after {@link scopeGrants} accepted the grants.
 */
export function scopeInternalSubscribe(path: string, grants: Grants): string[] {
  const root = normalizePath(grants.root);
  const inside = grants.get.filter((g) => isInternalPath(joinPath(root, normalizePath(g))));
  if (inside.length === 0) return [];
  const { suffix, extra } = anchor(path, root);
  return scopeList(inside, extra, suffix);
}

/** How token grants relate to the connection path `path` (§2.5 step 1). */
function anchor(path: string, tokenRoot: string): { suffix: string; extra: string } {
  const root = normalizePath(tokenRoot);
  if (hasPrefix(path, root)) return { suffix: stripPrefix(path, root), extra: "" };
  if (hasPrefix(root, path)) return { suffix: "", extra: stripPrefix(root, path) };
  throw new AuthError("root_mismatch", `token root "${root}" does not cover the connection path`);
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
 * Whether token grants are the cluster credential: upstream's cluster token `root="" put=[""]
 * get=[""]` (docs/relay.md §2.9 example 10), the one credential whose grants reach into
 * `.internal/` and that may publish there. The legacy `cluster` claim is ignored (docs/relay.md
 * §2.4), and an explicit `.internal` grant does not make a credential the cluster's.
 */
export function isClusterCredential(grants: Grants): boolean {
  return normalizePath(grants.root) === "" && grants.put.some((g) => normalizePath(g) === "") &&
    grants.get.some((g) => normalizePath(g) === "");
}

/**
 * A session's view of the origin tree: its root and the absolute prefixes it may publish and
 * subscribe under, derived from its {@link SessionGrant}, with the `.internal` rules above.
 */
export class SessionScope {
  /** The session root (absolute). */
  readonly root: string;
  /** Absolute publish prefixes. */
  readonly publish: string[];
  /** Absolute subscribe prefixes. */
  readonly subscribe: string[];
  /** Absolute subscribe prefixes that reach into `.internal` (from grants naming it). */
  readonly internalSubscribe: string[];
  /** The cluster credential: its prefixes reach into `.internal`, and it may publish there. */
  readonly internal: boolean;
  /** Price of routes learned over this session (a dialed cluster link's `?cost=`), if any. */
  readonly linkCost: number | undefined;
  /** A cluster link this relay dialed (see {@link SessionGrant.dialed}). */
  readonly dialed: boolean;

  constructor(grant: SessionGrant) {
    this.root = normalizePath(grant.root);
    this.publish = grant.publish.map((p) => joinPath(this.root, normalizePath(p)));
    this.subscribe = grant.subscribe.map((p) => joinPath(this.root, normalizePath(p)));
    this.internalSubscribe = (grant.internalSubscribe ?? []).map((p) =>
      joinPath(this.root, normalizePath(p))
    );
    this.internal = grant.internal;
    this.linkCost = grant.linkCost;
    this.dialed = grant.dialed === true;
  }

  /** Absolute path of a wire path (relative to the root). */
  absolute(wirePath: string): string {
    return joinPath(this.root, normalizePath(wirePath));
  }

  /**
   * May this session subscribe to / see the absolute path? Inside `.internal` only the cluster
   * credential's prefixes, or those from grants naming a path inside `.internal`, apply.
   */
  canSubscribe(path: string): boolean {
    const prefixes = !this.internal && isInternalPath(path) ? this.internalSubscribe : this.subscribe;
    for (const s of prefixes) if (hasPrefix(path, s)) return true;
    return false;
  }

  /** May this session publish the absolute path? Never inside `.internal` unless it is the cluster. */
  canPublish(path: string): boolean {
    if (!this.internal && isInternalPath(path)) return false;
    for (const p of this.publish) if (hasPrefix(path, p)) return true;
    return false;
  }
}
