/**
 * The WebTransport extended CONNECT (RFC 9220 + draft-ietf-webtrans-http3): request validation,
 * subprotocol selection and response encoding (docs/webtransport.md §6–§7).
 *
 * @module
 */

import type { NegotiatedProtocol } from "../types.ts";
import { encodeH3Frame, FRAME } from "./h3.ts";
import { encodeFieldSection, type HeaderField } from "./_qpack.ts";
import { parseStringList, serializeString } from "./_structured_fields.ts";

/** The moq-lite versions WebTransport can select through `wt-protocol`, in relay preference order. */
export const WEBTRANSPORT_SUBPROTOCOLS: readonly NegotiatedProtocol[] = [
  "moq-lite-05",
  "moq-lite-04",
  "moq-lite-03",
];

/** A valid WebTransport CONNECT. */
export interface ConnectRequest {
  /** `https://{:authority}{:path}`. */
  url: URL;
  authority: string;
  /** `:path` as sent (path + query). */
  path: string;
  /** The `origin` header, if any. */
  origin: string | undefined;
  /** The `wt-available-protocols` sf-strings, in the client's order. */
  offeredProtocols: string[];
  /** All fields as decoded. */
  fields: HeaderField[];
}

/** The outcome of {@link validateConnect}. */
export type ConnectValidation =
  | { ok: true; request: ConnectRequest }
  | { ok: false; status: number; reason: string };

/** host[:port], IPv6 in brackets; no userinfo, path, query or fragment. */
const AUTHORITY_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(:\d{1,5})?$/;
const PSEUDO_HEADERS = new Set([":method", ":scheme", ":authority", ":path", ":protocol"]);

/**
 * Check that a request is a WebTransport extended CONNECT: `:method CONNECT`, `:protocol
 * webtransport`, `:scheme https`, non-empty `:authority`, `:path` starting with `/`, pseudo-headers
 * first and not repeated. Non-CONNECT methods → 405, anything malformed → 400.
 */
export function validateConnect(fields: HeaderField[]): ConnectValidation {
  const pseudo = new Map<string, string>();
  let regularSeen = false;
  let offered: string[] = [];
  let origin: string | undefined;
  for (const [name, value] of fields) {
    if (name.startsWith(":")) {
      if (regularSeen) {
        return { ok: false, status: 400, reason: `pseudo-header ${name} after regular headers` };
      }
      if (!PSEUDO_HEADERS.has(name)) {
        return { ok: false, status: 400, reason: `unknown pseudo-header ${name}` };
      }
      if (pseudo.has(name)) return { ok: false, status: 400, reason: `repeated pseudo-header ${name}` };
      pseudo.set(name, value);
      continue;
    }
    regularSeen = true;
    if (name === "wt-available-protocols") offered = offered.concat(parseStringList(value));
    else if (name === "origin") origin = value;
  }
  const method = pseudo.get(":method");
  if (method === undefined) return { ok: false, status: 400, reason: "missing :method" };
  if (method !== "CONNECT") return { ok: false, status: 405, reason: `method ${method} not allowed` };
  const protocol = pseudo.get(":protocol");
  if (protocol === undefined) {
    return { ok: false, status: 400, reason: "plain CONNECT (no :protocol) is not supported" };
  }
  if (protocol !== "webtransport") {
    return { ok: false, status: 400, reason: `:protocol ${protocol} is not webtransport` };
  }
  const scheme = pseudo.get(":scheme");
  if (scheme !== "https") {
    return { ok: false, status: 400, reason: `:scheme must be https, got ${scheme ?? "nothing"}` };
  }
  const authority = pseudo.get(":authority");
  if (!authority) return { ok: false, status: 400, reason: "missing :authority" };
  if (!AUTHORITY_PATTERN.test(authority)) {
    return { ok: false, status: 400, reason: `invalid :authority ${authority}` };
  }
  const path = pseudo.get(":path");
  if (!path || !path.startsWith("/")) return { ok: false, status: 400, reason: "missing or relative :path" };
  let url: URL;
  try {
    url = new URL(`https://${authority}${path}`);
  } catch {
    return { ok: false, status: 400, reason: `invalid URL https://${authority}${path}` };
  }
  return { ok: true, request: { url, authority, path, origin, offeredProtocols: offered, fields } };
}

/**
 * The subprotocol to select: the first client-offered protocol that the relay supports (client
 * preference, as upstream), or `""` (no `wt-protocol` header; the client runs legacy SETUP).
 */
export function selectSubprotocol(
  offered: readonly string[],
  supported: readonly NegotiatedProtocol[] = WEBTRANSPORT_SUBPROTOCOLS,
): NegotiatedProtocol {
  for (const protocol of offered) {
    const match = supported.find((candidate) => candidate !== "" && candidate === protocol);
    if (match) return match;
  }
  return "";
}

/**
 * The HEADERS frame answering a CONNECT: `:status` (indexed when the static table has it) and, for a
 * selected subprotocol, `wt-protocol: "<protocol>"` as a plain literal (docs/webtransport.md §7).
 */
export function encodeConnectResponse(status: number, protocol: NegotiatedProtocol = ""): Uint8Array {
  const fields: HeaderField[] = [[":status", String(status)]];
  if (protocol !== "") fields.push(["wt-protocol", serializeString(protocol)]);
  return encodeH3Frame(FRAME.HEADERS, encodeFieldSection(fields));
}
