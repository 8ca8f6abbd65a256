/**
 * Builders of the QUIC listener sections: `[server]`, `[server.tls]`, `[server.quic]`.
 *
 * @module
 */

import { isIpv4, isIpv6, parseHostPort } from "./_address.ts";
import { DEFAULT_SERVER_BIND, SUPPORTED_VERSIONS, UNSUPPORTED_VERSIONS } from "./keys.ts";
import type { SettingsReader } from "./_reader.ts";
import { showValue } from "./_settings.ts";
import type { RelayConfig } from "./types.ts";
import { nonEmptyEntries, unique } from "./_values.ts";

/** Fill `config.server.bind` and `config.server.versions` from `[server]`. */
export function buildServer(reader: SettingsReader, config: RelayConfig, warnings: string[]): void {
  // Upstream: with a stream listener and no bind, the relay runs stream-only (no QUIC).
  const streamOnly = !reader.has("server.bind") &&
    (reader.has("server.tcp.bind") || reader.has("server.unix.bind"));
  const bind = (reader.string("server.bind") ?? (streamOnly ? "" : DEFAULT_SERVER_BIND)).trim();
  if (bind === "") {
    config.server.bind = undefined;
  } else {
    if (parseHostPort(bind) === undefined) {
      reader.expected(
        "server.bind",
        `"host:port" such as "[::]:443", "127.0.0.1:4443" or "relay.example.com:443"`,
      );
    }
    config.server.bind = bind;
  }
  const versions: string[] = [];
  for (const version of reader.list("server.version").map((v) => v.trim())) {
    if (SUPPORTED_VERSIONS.includes(version)) {
      if (!versions.includes(version)) versions.push(version);
    } else if (UNSUPPORTED_VERSIONS.includes(version)) {
      warnings.push(
        `${reader.where("server.version")}: version ${version} is not supported by this relay; ignored`,
      );
    } else {
      reader.fail(
        "server.version",
        `unknown version ${showValue(version)}: expected ${SUPPORTED_VERSIONS.join(", ")}`,
      );
    }
  }
  if (reader.list("server.version").length > 0 && versions.length === 0) {
    reader.fail(
      "server.version",
      `none of the listed versions is supported: use ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  config.server.versions = versions;
}

/** Fill `config.server.tls` from `[server.tls]`; QUIC needs a certificate unless it is disabled. */
export function buildServerTls(reader: SettingsReader, config: RelayConfig): void {
  const tls = config.server.tls;
  tls.cert = nonEmptyEntries(reader, "server.tls.cert", "a PEM certificate file path");
  tls.key = nonEmptyEntries(reader, "server.tls.key", "a PEM private key file path");
  tls.generate = unique(nonEmptyEntries(reader, "server.tls.generate", "a host name or IP address"));
  tls.root = nonEmptyEntries(reader, "server.tls.root", "a PEM CA file path");
  for (const name of tls.generate) {
    const host = name.replace(/^\[(.*)\]$/, "$1");
    if (!isIpv4(host) && !isIpv6(host) && parseHostPort(`${host}:1`) === undefined) {
      reader.fail(
        "server.tls.generate",
        `invalid host name ${showValue(name)}: expected e.g. "localhost" or "127.0.0.1"`,
      );
    }
  }
  if (tls.cert.length !== tls.key.length) {
    reader.conflict(
      ["server.tls.cert", "server.tls.key"],
      (cert, key) =>
        `${cert} lists ${tls.cert.length} file(s) but ${key} lists ${tls.key.length}: certificates and keys are paired by position`,
    );
  }
  if (config.server.bind !== undefined && tls.cert.length === 0 && tls.generate.length === 0) {
    reader.conflict(
      ["server.tls.cert", "server.bind"],
      (cert, bind) =>
        `QUIC listens on ${config.server.bind} (${bind}) but has no certificate: set ${cert} + server.tls.key ` +
        `(--tls-cert/--tls-key), or server.tls.generate = ["localhost"] (--tls-generate) for development, ` +
        `or server.bind = "" to disable QUIC`,
    );
  }
}

/** Fill `config.server.quic` from `[server.quic]`. */
export function buildServerQuic(reader: SettingsReader, config: RelayConfig): void {
  const quic = config.server.quic;
  quic.maxStreams = reader.count("server.quic.max_streams", quic.maxStreams);
  quic.idleTimeoutMs = reader.duration("server.quic.idle_timeout") ?? quic.idleTimeoutMs;
  quic.keepAliveMs = reader.duration("server.quic.keep_alive") ?? quic.keepAliveMs;
}
