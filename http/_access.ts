/**
 * Who may see what over HTTP: decoding the broadcast path out of a request URL and resolving the
 * request's grant with the same `?jwt=` rules as sessions (docs/relay.md §2, `P` = the
 * prefix or broadcast path).
 *
 * @module
 */

import { type Authenticator, AuthError, type SessionGrant, SessionScope } from "../auth/mod.ts";
import { checkedPath, normalizePath, PathError } from "../relay/mod.ts";
import { errorResponse } from "./responses.ts";

/** Raised for a request path that cannot name a broadcast (answered with 400). */
export class BadPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadPathError";
  }
}

/**
 * Split an encoded URL path tail (`a/b%20c/d`) into decoded, non-empty segments. Throws
 * {@link BadPathError} for bad percent-encoding or `.`/`..` segments.
 */
export function decodeSegments(encoded: string): string[] {
  const out: string[] = [];
  for (const raw of encoded.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw new BadPathError(`bad percent-encoding in path segment "${raw.slice(0, 64)}"`);
    }
    if (segment === "." || segment === "..") {
      throw new BadPathError("path contains a '.' or '..' segment");
    }
    out.push(segment);
  }
  return out;
}

/** Join decoded segments into a normalised path; throws {@link BadPathError} when too long. */
export function segmentsToPath(segments: readonly string[]): string {
  try {
    return checkedPath(segments.join("/"));
  } catch (e) {
    if (e instanceof PathError) throw new BadPathError(e.message);
    throw e;
  }
}

/** A request's access: the grant, the absolute path it was asked for, and its scope. */
export interface RequestAccess {
  grant: SessionGrant;
  /** The absolute (normalised, decoded) path the request is about, `auth.domains` prefix included. */
  path: string;
  /** The grant's scope, rooted at {@link RequestAccess.path}. */
  scope: SessionScope;
}

/**
 * Authenticate a request about the normalised, decoded `path`: the authenticator sees a URL whose
 * path is `path` (percent-encoded) and whose query and host are the request's, exactly like a
 * session connecting to that path. `peer` (the client address) keys per-peer limits of auth
 * service lookups. Throws {@link AuthError}.
 */
export async function authenticatePath(
  auth: Authenticator,
  requestUrl: URL,
  path: string,
  peer?: string,
): Promise<RequestAccess> {
  const encoded = path === "" ? "" : path.split("/").map(encodeURIComponent).join("/");
  const url = new URL(requestUrl);
  url.pathname = `/${encoded}`;
  url.hash = "";
  const grant = await auth.authenticate(url, "http", peer);
  const root = normalizePath(grant.root);
  // The authenticator works on the encoded path and may prepend an `auth.domains` prefix; map the
  // encoded tail back to the decoded path so it matches the origin tree.
  let absolute = root;
  if (encoded !== path) {
    if (root === encoded) absolute = path;
    else if (root.endsWith(`/${encoded}`)) absolute = root.slice(0, root.length - encoded.length) + path;
  }
  return { grant, path: absolute, scope: new SessionScope({ ...grant, root: absolute }) };
}

/** A one-line reason for an authentication failure (never echoes the token). */
export function authFailureReason(err: AuthError): string {
  if (err.status === 401 || err.status === 403) return `unauthorized: ${err.message}`;
  return `authentication failed: ${err.message}`;
}

/**
 * Authenticate a subscriber-side HTTP request (`/announced`, `/fetch`) for `path`: the access, or
 * the error response to send (the AuthError's status, or 401 when the credential may not
 * subscribe here at all).
 */
export async function authorizeSubscriber(
  auth: Authenticator,
  url: URL,
  path: string,
  head: boolean,
  peer?: string,
): Promise<RequestAccess | Response> {
  let access: RequestAccess;
  try {
    access = await authenticatePath(auth, url, path, peer);
  } catch (e) {
    if (e instanceof AuthError) return errorResponse(e.status, authFailureReason(e), head);
    throw e;
  }
  if (access.grant.subscribe.length === 0) {
    return errorResponse(401, "unauthorized: this credential may not subscribe here", head);
  }
  return access;
}
