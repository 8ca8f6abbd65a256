/**
 * Builder of `[client]` and `[client.tls]`: outbound cluster dials.
 *
 * @module
 */

import type { SettingsReader } from "./_reader.ts";
import { showValue } from "./_settings.ts";
import type { RelayConfig } from "./types.ts";
import { nonEmptyEntries } from "./_values.ts";

/** Fill `config.client` from `[client]` and `[client.tls]`, rejecting contradictory TLS settings. */
export function buildClient(reader: SettingsReader, config: RelayConfig): void {
  const client = config.client;
  client.timeoutMs = reader.duration("client.timeout") ?? client.timeoutMs;
  client.tls.root = nonEmptyEntries(reader, "client.tls.root", "a PEM CA file path");
  client.tls.fingerprint = nonEmptyEntries(reader, "client.tls.fingerprint", "a hex SHA-256 fingerprint")
    .map((pin) => {
      const hex = pin.replaceAll(":", "").toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) {
        reader.fail(
          "client.tls.fingerprint",
          `invalid pin ${showValue(pin)}: expected 64 hex digits (SHA-256)`,
        );
      }
      return hex;
    });
  client.tls.cert = reader.string("client.tls.cert")?.trim() || undefined;
  client.tls.key = reader.string("client.tls.key")?.trim() || undefined;
  client.tls.disableVerify = reader.bool("client.tls.disable_verify", false);
  if ((client.tls.cert === undefined) !== (client.tls.key === undefined)) {
    const [set, missing] = client.tls.cert === undefined
      ? ["client.tls.key", "client.tls.cert"]
      : ["client.tls.cert", "client.tls.key"];
    reader.conflict(
      [set, missing],
      (s, m) => `${s} needs ${m}: the client identity is a certificate and its key`,
    );
  }
  if (client.tls.root.length > 0 && client.tls.disableVerify) {
    reader.conflict(
      ["client.tls.disable_verify", "client.tls.root"],
      (d, r) => `${d} cannot be combined with ${r}: either verify against the roots or not at all`,
    );
  }
  if (client.tls.root.length > 0 && client.tls.fingerprint.length > 0) {
    reader.conflict(
      ["client.tls.fingerprint", "client.tls.root"],
      (f, r) => `${f} cannot be combined with ${r}: pinned certificates replace root verification`,
    );
  }
}
