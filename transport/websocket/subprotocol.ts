/**
 * WebSocket subprotocol selection (docs/protocol.md §3.3 and §16 item 6).
 *
 * The relay prefers, first match wins: `webtransport.moq-lite-04`, `webtransport.moq-lite-03`,
 * `qmux-00.moq-lite-04`, `qmux-00.moq-lite-03`, `webtransport`, `qmux-00`. No offer at all means
 * `webtransport` framing without a response header (the version then comes from SETUP).
 *
 * @module
 */

import type { NegotiatedProtocol } from "../types.ts";
import type { Framing } from "./framing.ts";

/** The outcome of subprotocol negotiation. */
export interface SubprotocolChoice {
  /** The value for the `Sec-WebSocket-Protocol` response header; absent when the client offered none. */
  header?: string;
  /** How frames are laid out on this socket. */
  framing: Framing;
  /** The application protocol, `""` when the version comes from a legacy SETUP. */
  protocol: NegotiatedProtocol;
}

const PREFERENCE: ReadonlyArray<{ value: string; framing: Framing; protocol: NegotiatedProtocol }> = [
  { value: "webtransport.moq-lite-04", framing: "webtransport", protocol: "moq-lite-04" },
  { value: "webtransport.moq-lite-03", framing: "webtransport", protocol: "moq-lite-03" },
  { value: "qmux-00.moq-lite-04", framing: "qmux-00", protocol: "moq-lite-04" },
  { value: "qmux-00.moq-lite-03", framing: "qmux-00", protocol: "moq-lite-03" },
  { value: "webtransport", framing: "webtransport", protocol: "" },
  { value: "qmux-00", framing: "qmux-00", protocol: "" },
];

/** What {@link dialWebSocket}-style clients offer, most preferred first. */
export const CLIENT_OFFER: readonly string[] = [
  "webtransport.moq-lite-04",
  "webtransport.moq-lite-03",
  "webtransport",
];

/**
 * Choose the subprotocol for an upgrade. `offered` is the client's list (already split on commas).
 * `versions`, when given, lists the enabled version names (`moq-lite-04`, `moq-lite-03`, …); the
 * versioned entries whose version is absent are skipped, the bare framings always remain.
 * `framings`, when given, lists the enabled framings (default both).
 * Returns `null` when the client offered protocols but none is acceptable (answer 400).
 */
export function selectSubprotocol(
  offered: string[],
  versions?: readonly string[],
  framings?: readonly Framing[],
): SubprotocolChoice | null {
  const cleaned = offered.map((value) => value.trim()).filter((value) => value !== "");
  if (cleaned.length === 0) return { framing: "webtransport", protocol: "" };
  const set = new Set(cleaned);
  for (const entry of PREFERENCE) {
    if (entry.protocol !== "" && versions && !versions.includes(entry.protocol)) continue;
    if (framings && !framings.includes(entry.framing)) continue;
    if (set.has(entry.value)) {
      return { header: entry.value, framing: entry.framing, protocol: entry.protocol };
    }
  }
  return null;
}

/** Split a `Sec-WebSocket-Protocol` header value (possibly several joined by commas) into tokens. */
export function parseSubprotocolHeader(value: string | null): string[] {
  if (value === null) return [];
  return value.split(",").map((token) => token.trim()).filter((token) => token !== "");
}

/**
 * Interpret the subprotocol a server answered (the client side of negotiation). Unknown or empty
 * values fall back to `webtransport` framing with no application protocol, as `@moq/qmux` does.
 */
export function interpretSelectedSubprotocol(
  selected: string,
): { framing: Framing; protocol: NegotiatedProtocol } {
  for (const entry of PREFERENCE) {
    if (entry.value === selected) return { framing: entry.framing, protocol: entry.protocol };
  }
  return { framing: "webtransport", protocol: "" };
}
