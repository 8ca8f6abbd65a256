/**
 * WebSocket subprotocol selection (docs/protocol.md §3.3 and §16 item 6).
 *
 * A subprotocol is `<framing>.<alpn>` (framing and application version, no SETUP) or a bare framing
 * (`qmux-02`, `qmux-01`, `qmux-00`, `webtransport`: the version then comes from a legacy SETUP).
 * The relay picks by **its own** preference, first entry the client offered wins (as upstream's
 * relay does):
 *
 * 1. `webtransport.<alpn>` for each ALPN (kept first: the framing this relay was proven with);
 * 2. for each ALPN the relay offers, newest first: `qmux-02.<alpn>`, `qmux-01.<alpn>`,
 *    `qmux-00.<alpn>`;
 * 3. `qmux-02.moql`, `qmux-01.moql`, `qmux-00.moql` when a legacy SETUP version is enabled (the
 *    version then comes from the SETUP, as with a bare framing);
 * 4. bare `qmux-02`, `qmux-01`, `webtransport`, `qmux-00`.
 *
 * The ALPNs and whether SETUP versions exist come from the version table (transport/versions.ts)
 * restricted by `[server] version`. No offer at all means `webtransport` framing without a response
 * header (version from SETUP); an offer with no acceptable entry is refused (HTTP 400).
 *
 * @module
 */

import type { NegotiatedProtocol } from "../types.ts";
import { ALPN_MOQL, DEFAULT_VERSION_OFFER, LITE_DIAL_PROTOCOLS, versionOffer } from "../versions.ts";
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

/** An application protocol a `<framing>.<alpn>` subprotocol can carry. */
export type SubprotocolAlpn = Exclude<NegotiatedProtocol, "">;

/** The ALPNs the relay offers over WebSocket by default, newest first (transport/versions.ts). */
export const DEFAULT_ALPNS: readonly SubprotocolAlpn[] = DEFAULT_VERSION_OFFER.protocols;

/**
 * moq-transport 18 and later ride qmux-01 or newer on WebSocket (as `@moq/net` 0.3.4 pins them);
 * `qmux-00` and `webtransport` framings are not offered with them.
 */
function needsQmux01(alpn: SubprotocolAlpn): boolean {
  return alpn === "moqt-18" || alpn === "moqt-19" || alpn === "moqt-20";
}

/** QMux drafts usable with a `qmux-0X.<alpn>` prefix, newest first. */
const QMUX_DRAFTS: readonly Framing[] = ["qmux-02", "qmux-01", "qmux-00"];

/** Bare framings, in the relay's preference (`webtransport` before `qmux-00`, see module doc). */
const BARE_PREFERENCE: readonly Framing[] = ["qmux-02", "qmux-01", "webtransport", "qmux-00"];

interface Entry {
  value: string;
  framing: Framing;
  protocol: NegotiatedProtocol;
}

/**
 * The relay's preference list for `alpns` (see the module documentation); `legacy` adds the
 * `qmux-0X.moql` entries (a legacy SETUP version is enabled).
 */
export function serverPreference(alpns: readonly SubprotocolAlpn[] = DEFAULT_ALPNS, legacy = true): Entry[] {
  const out: Entry[] = [];
  for (const alpn of alpns) {
    if (needsQmux01(alpn)) continue;
    out.push({ value: `webtransport.${alpn}`, framing: "webtransport", protocol: alpn });
  }
  for (const alpn of alpns) {
    for (const framing of QMUX_DRAFTS) {
      if (framing === "qmux-00" && needsQmux01(alpn)) continue;
      out.push({ value: `${framing}.${alpn}`, framing, protocol: alpn });
    }
  }
  if (legacy) {
    for (const framing of QMUX_DRAFTS) out.push({ value: `${framing}.${ALPN_MOQL}`, framing, protocol: "" });
  }
  for (const framing of BARE_PREFERENCE) out.push({ value: framing, framing, protocol: "" });
  return out;
}

/**
 * What a dialing client offers for `alpns`, most preferred first, in the order upstream clients
 * use: for each ALPN `qmux-02.<alpn>`, `qmux-01.<alpn>`, `qmux-00.<alpn>`, then
 * `webtransport.<alpn>` for each ALPN (understood by relays of this project only), then bare
 * `qmux-02`, `qmux-01`, `qmux-00`, `webtransport`.
 */
export function clientOffer(alpns: readonly SubprotocolAlpn[] = LITE_DIAL_PROTOCOLS): string[] {
  const out: string[] = [];
  for (const alpn of alpns) for (const framing of QMUX_DRAFTS) out.push(`${framing}.${alpn}`);
  for (const alpn of alpns) out.push(`webtransport.${alpn}`);
  out.push(...QMUX_DRAFTS, "webtransport");
  return out;
}

/** What {@link dialWebSocket}-style clients offer by default, most preferred first. */
export const CLIENT_OFFER: readonly string[] = clientOffer();

/** Options of {@link selectSubprotocol} beyond the offer. */
export interface SubprotocolOptions {
  /** The ALPNs the relay offers, newest first (default {@link DEFAULT_ALPNS}). */
  alpns?: readonly SubprotocolAlpn[];
  /** Enabled version names; `<framing>.<alpn>` entries whose ALPN is absent are skipped. */
  versions?: readonly string[];
  /** Enabled framings (default all). */
  framings?: readonly Framing[];
}

/**
 * Choose the subprotocol for an upgrade. `offered` is the client's list (already split on commas).
 * `versions`, when given and not empty, lists the enabled version names (`[server] version`:
 * `moq-lite-04`, `moq-lite-02`, …); the versioned entries whose version is absent are skipped
 * (`<framing>.moql` needs `moq-lite-01` or `-02`), the bare framings always remain (as upstream; a
 * SETUP without a common version then closes the session). `framings`, when given, lists the
 * enabled framings (default all); `alpns` narrows the ALPNs further (tests).
 * Returns `null` when the client offered protocols but none is acceptable (answer 400).
 */
export function selectSubprotocol(
  offered: string[],
  versions?: readonly string[],
  framings?: readonly Framing[],
  alpns?: readonly SubprotocolAlpn[],
): SubprotocolChoice | null {
  const cleaned = offered.map((value) => value.trim()).filter((value) => value !== "");
  if (cleaned.length === 0) return { framing: "webtransport", protocol: "" };
  const set = new Set(cleaned);
  const offer = versionOffer(versions);
  const enabled = (alpns ?? DEFAULT_ALPNS).filter((alpn) => offer.protocols.includes(alpn));
  for (const entry of serverPreference(enabled, offer.legacy)) {
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
 * Interpret the subprotocol a server answered (the client side of negotiation). The framing is the
 * prefix (`qmux-0X` exactly or `qmux-0X.`; `webtransport` likewise); the application protocol is
 * what follows the prefix when it is one of `alpns`. Unknown or empty values fall back to
 * `webtransport` framing with no application protocol, as `@moq/qmux` does.
 */
export function interpretSelectedSubprotocol(
  selected: string,
  alpns: readonly SubprotocolAlpn[] = DEFAULT_ALPNS,
): { framing: Framing; protocol: NegotiatedProtocol } {
  for (const framing of [...QMUX_DRAFTS, "webtransport"] as const) {
    if (selected === framing) return { framing, protocol: "" };
    if (!selected.startsWith(`${framing}.`)) continue;
    const alpn = selected.slice(framing.length + 1);
    const protocol = alpns.find((known) => known === alpn) ?? "";
    return { framing, protocol };
  }
  return { framing: "webtransport", protocol: "" };
}
