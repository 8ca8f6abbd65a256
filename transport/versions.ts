/**
 * The one table of protocol versions this relay knows, and the offer derived from `[server]
 * version` for every transport (docs/protocol.md §3): the raw-QUIC ALPN list, the WebTransport
 * `wt-protocol` candidates, the WebSocket `<framing>.<alpn>` subprotocols and the versions a legacy
 * CLIENT_SETUP may select. Adding a version is one row in {@link PROTOCOL_VERSIONS}.
 *
 * Selection rules (as upstream moq-relay):
 * - raw QUIC: TLS ALPN; the server's list is in relay preference order and the TLS stack picks the
 *   first server entry the client offered (rustls and Deno's QUIC behave the same way);
 * - WebTransport: the first entry of the client's `wt-available-protocols` the relay offers
 *   (client preference); none → no `wt-protocol`, the client runs the legacy SETUP;
 * - WebSocket: the relay's own preference, first entry the client offered (transport/websocket);
 * - legacy SETUP (ALPN `moql`, no subprotocol, bare framings): the client's first listed code the
 *   relay offers.
 *
 * @module
 */

import type { NegotiatedProtocol } from "./types.ts";

/**
 * How a version is negotiated: `alpn` = selected by ALPN / `wt-protocol` / subprotocol (no SETUP
 * exchange for lite-03/04); `setup` = the legacy bidi CLIENT_SETUP/SERVER_SETUP after ALPN `moql`
 * (or no application protocol at all).
 */
export type VersionKind = "alpn" | "setup";

/** An application protocol an ALPN, `wt-protocol` or `<framing>.<alpn>` subprotocol selects. */
export type ApplicationProtocol = Exclude<NegotiatedProtocol, "">;

/** One protocol version. */
export interface ProtocolVersion {
  /** The `[server] version` spelling (upstream's, e.g. `moq-lite-04`). */
  readonly name: string;
  /** The ALPN / `wt-protocol` / subprotocol suffix (`moql` for SETUP-negotiated versions). */
  readonly alpn: ApplicationProtocol | typeof ALPN_MOQL;
  /** The version code carried in SETUP messages. */
  readonly setupCode: number;
  /** How the version is negotiated. */
  readonly kind: VersionKind;
  /** False while the session layer cannot speak it: it is then never offered (config warns). */
  readonly served: boolean;
}

/** The legacy ALPN: the version comes from a CLIENT_SETUP (draft-lcurley-moq-lite-02 §3). */
export const ALPN_MOQL = "moql" as const;

/**
 * Every version, most preferred first. Rows with `served: false` are recognised in `[server]
 * version` but never offered.
 */
export const PROTOCOL_VERSIONS: readonly ProtocolVersion[] = [
  { name: "moq-lite-05", alpn: "moq-lite-05", setupCode: 0xff0dad05, kind: "alpn", served: true },
  { name: "moq-lite-04", alpn: "moq-lite-04", setupCode: 0xff0dad04, kind: "alpn", served: true },
  { name: "moq-lite-03", alpn: "moq-lite-03", setupCode: 0xff0dad03, kind: "alpn", served: true },
  { name: "moq-lite-02", alpn: ALPN_MOQL, setupCode: 0xff0dad02, kind: "setup", served: true },
  { name: "moq-lite-01", alpn: ALPN_MOQL, setupCode: 0xff0dad01, kind: "setup", served: true },
  { name: "moq-transport-20", alpn: "moqt-20", setupCode: 0xff000014, kind: "alpn", served: true },
  { name: "moq-transport-19", alpn: "moqt-19", setupCode: 0xff000013, kind: "alpn", served: true },
  { name: "moq-transport-18", alpn: "moqt-18", setupCode: 0xff000012, kind: "alpn", served: true },
  { name: "moq-transport-17", alpn: "moqt-17", setupCode: 0xff000011, kind: "alpn", served: true },
  { name: "moq-transport-16", alpn: "moqt-16", setupCode: 0xff000010, kind: "alpn", served: true },
  { name: "moq-transport-15", alpn: "moqt-15", setupCode: 0xff00000f, kind: "alpn", served: true },
  // Draft 14 is selected by ALPN `moq-00`, or by a legacy CLIENT_SETUP offering 0xff00000e when
  // `[server] version` lists it and no moq-lite SETUP version (server/ peeks the SETUP).
  { name: "moq-transport-14", alpn: "moq-00", setupCode: 0xff00000e, kind: "alpn", served: true },
];

/** Names of the versions this relay can serve (valid `[server] version` entries), most preferred first. */
export const SERVED_VERSION_NAMES: readonly string[] = PROTOCOL_VERSIONS.filter((v) => v.served).map((v) =>
  v.name
);

/** Upstream version names this relay recognises but does not serve. */
export const UNSERVED_VERSION_NAMES: readonly string[] = PROTOCOL_VERSIONS.filter((v) => !v.served).map((v) =>
  v.name
);

/** The versions offered on every transport, derived once from `[server] version`. */
export interface VersionOffer {
  /** The offered rows, most preferred first. */
  readonly versions: readonly ProtocolVersion[];
  /** ALPN-selected application protocols (raw QUIC, `wt-protocol`, `<framing>.<alpn>`), most preferred first. */
  readonly protocols: readonly ApplicationProtocol[];
  /** True when a legacy SETUP can select a version (so ALPN `moql` is offered). */
  readonly legacy: boolean;
  /** The SETUP codes a legacy CLIENT_SETUP may select, most preferred first. */
  readonly setupCodes: readonly number[];
  /** The raw-QUIC ALPN list without `h3`: {@link protocols}, then `moql` when {@link legacy}. */
  readonly alpns: readonly string[];
}

/**
 * The offer for the enabled version names (`[server] version`; empty or absent = every served
 * version). Unknown and unserved names are ignored (config rejects or warns about them).
 */
export function versionOffer(names?: readonly string[]): VersionOffer {
  const versions = PROTOCOL_VERSIONS.filter((v) =>
    v.served && (names === undefined || names.length === 0 || names.includes(v.name))
  );
  const protocols: ApplicationProtocol[] = [];
  for (const v of versions) if (v.kind === "alpn" && v.alpn !== ALPN_MOQL) protocols.push(v.alpn);
  const setupCodes = versions.filter((v) => v.kind === "setup").map((v) => v.setupCode);
  // A legacy CLIENT_SETUP can also select draft 14 when it is enabled (docs/ietf.md).
  const legacy = setupCodes.length > 0 || versions.some((v) => v.name === "moq-transport-14");
  const lite = protocols.filter((p) => p.startsWith("moq-lite-"));
  const ietf = protocols.filter((p) => !p.startsWith("moq-lite-"));
  return {
    versions,
    protocols,
    legacy,
    setupCodes,
    alpns: [...lite, ...(legacy ? [ALPN_MOQL] : []), ...ietf],
  };
}

/** The offer with every served version. */
export const DEFAULT_VERSION_OFFER: VersionOffer = versionOffer();

/**
 * What this relay offers when it dials (cluster links and test clients run moq-lite sessions): the
 * served moq-lite versions selectable by ALPN, most preferred first, never IETF moq-transport.
 */
export const LITE_DIAL_PROTOCOLS: readonly ApplicationProtocol[] = DEFAULT_VERSION_OFFER.protocols.filter((
  p,
) => p.startsWith("moq-lite-"));

/** The relay's most preferred ALPN-negotiated moq-lite version with `names` enabled (tests assert it). */
export function preferredLiteProtocol(names?: readonly string[]): NegotiatedProtocol {
  return versionOffer(names).protocols.find((p) => p.startsWith("moq-lite-")) ?? "";
}
