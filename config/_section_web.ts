/**
 * Builders of the TCP listener sections: `[web]` (with `[web.http]` and `[web.https]`) and
 * `[internal]`, and the check that the relay listens on something at all.
 *
 * @module
 */

import type { SettingsReader } from "./_reader.ts";
import type { RelayConfig } from "./types.ts";
import { nonEmptyEntries, readIpPort } from "./_values.ts";

/** Fill `config.web` from `[web]`, `[web.http]` and `[web.https]`. */
export function buildWeb(reader: SettingsReader, config: RelayConfig, warnings: string[]): void {
  config.web.ws = reader.bool("web.ws", true);
  const httpListen = readIpPort(reader, "web.http.listen");
  if (httpListen !== undefined) config.web.http = { listen: httpListen };
  const httpsListen = readIpPort(reader, "web.https.listen");
  const httpsCert = nonEmptyEntries(reader, "web.https.cert", "a PEM certificate file path");
  const httpsKey = nonEmptyEntries(reader, "web.https.key", "a PEM private key file path");
  const httpsRoot = nonEmptyEntries(reader, "web.https.root", "a PEM CA file path");
  if (httpsCert.length !== httpsKey.length) {
    reader.conflict(
      ["web.https.cert", "web.https.key"],
      (cert, key) =>
        `${cert} lists ${httpsCert.length} file(s) but ${key} lists ${httpsKey.length}: certificates and keys are paired by position`,
    );
  }
  if (httpsListen !== undefined) {
    if (httpsCert.length === 0) {
      reader.conflict(
        ["web.https.listen", "web.https.cert"],
        (listen, cert) =>
          `${listen} needs a certificate: set ${cert} and web.https.key (--web-https-cert/--web-https-key)`,
      );
    }
    if (httpsCert.length > 1) {
      // Deno.serve takes one certificate + key and has no SNI selection, so the rest would be
      // silently unused.
      warnings.push(
        `${reader.where("web.https.cert")}: ${httpsCert.length} certificates given but the HTTPS listener ` +
          `serves only the first ("${httpsCert[0]}"); the others are ignored (one certificate per listener)`,
      );
    }
    config.web.https = { listen: httpsListen, cert: httpsCert, key: httpsKey, root: httpsRoot };
  } else if (httpsCert.length > 0) {
    warnings.push(`${reader.where("web.https.cert")}: ignored because web.https.listen is not set`);
  }
}

/** Fill `config.internal` from `[internal]`. */
export function buildInternal(reader: SettingsReader, config: RelayConfig): void {
  const internal = readIpPort(reader, "internal.listen");
  if (internal !== undefined) config.internal = { listen: internal };
}

/** Fail when neither QUIC nor a web listener is configured. */
export function checkListeners(reader: SettingsReader, config: RelayConfig): void {
  if (
    config.server.bind === undefined && config.web.http === undefined && config.web.https === undefined &&
    config.streams === undefined
  ) {
    reader.conflict(
      ["server.bind", "web.http.listen"],
      (bind, http) =>
        `nothing to listen on: ${bind} is empty and neither ${http} nor web.https.listen is set`,
    );
  }
}
