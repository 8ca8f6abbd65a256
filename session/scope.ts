/**
 * A session's view of the origin tree: its root and the absolute prefixes it may publish and
 * subscribe under, derived from its {@link SessionGrant}. The reserved `.internal` namespace is
 * visible and writable only to internal (cluster) credentials.
 *
 * @module
 */

import type { SessionGrant } from "../auth/types.ts";
import { hasPrefix, joinPath, normalizePath } from "../relay/path.ts";

/** The reserved top-level namespace for cluster bookkeeping. */
export const INTERNAL_PREFIX = ".internal";

/** Whether an absolute path is inside the reserved namespace. */
export function isInternalPath(path: string): boolean {
  return hasPrefix(path, INTERNAL_PREFIX);
}

/** Absolute scopes of one session. */
export class SessionScope {
  /** The session root (absolute). */
  readonly root: string;
  /** Absolute publish prefixes. */
  readonly publish: string[];
  /** Absolute subscribe prefixes. */
  readonly subscribe: string[];
  /** May touch `.internal`. */
  readonly internal: boolean;

  constructor(grant: SessionGrant) {
    this.root = normalizePath(grant.root);
    this.publish = grant.publish.map((p) => joinPath(this.root, normalizePath(p)));
    this.subscribe = grant.subscribe.map((p) => joinPath(this.root, normalizePath(p)));
    this.internal = grant.internal;
  }

  /** Absolute path of a wire path (relative to the root). */
  absolute(wirePath: string): string {
    return joinPath(this.root, normalizePath(wirePath));
  }

  /** May this session subscribe to / see the absolute path? */
  canSubscribe(path: string): boolean {
    if (!this.internal && isInternalPath(path)) return false;
    for (const s of this.subscribe) if (hasPrefix(path, s)) return true;
    return false;
  }

  /** May this session publish the absolute path? */
  canPublish(path: string): boolean {
    if (!this.internal && isInternalPath(path)) return false;
    for (const p of this.publish) if (hasPrefix(path, p)) return true;
    return false;
  }
}
