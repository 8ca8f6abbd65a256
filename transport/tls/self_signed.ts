/**
 * Self-signed development certificates, generated in code (WebCrypto ECDSA P-256 + a small X.509
 * writer): what `[server.tls] generate` needs and what browsers accept through
 * `serverCertificateHashes` (ECDSA, X.509v3, at most 14 days of validity).
 *
 * @module
 */

import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  unsignedInteger,
  utf8String,
  x509Time,
} from "./der.ts";
import { parseIpLiteral } from "./ip.ts";
import { pemEncode, sha256Hex } from "./pem.ts";

/** One day in milliseconds. */
export const DAY_MS = 24 * 60 * 60 * 1000;
/** How far back `notBefore` lies (absorbs clock skew). */
export const SELF_SIGNED_BACKDATE_MS = DAY_MS;
/** How far ahead `notAfter` lies: backdate + this = 14 days, the `serverCertificateHashes` maximum. */
export const SELF_SIGNED_LIFETIME_MS = 13 * DAY_MS;

/** A freshly generated certificate and its key. */
export interface SelfSignedCertificate {
  /** The certificate, PEM (`CERTIFICATE`). */
  certPem: string;
  /** The private key, PEM PKCS#8 (`PRIVATE KEY`). */
  keyPem: string;
  /** The certificate, DER. */
  der: Uint8Array;
  /** Lowercase hex SHA-256 of {@link der} (what `/certificate.sha256` serves). */
  sha256Hex: string;
  /** `notBefore` in ms since the epoch (whole seconds). */
  notBeforeMs: number;
  /** `notAfter` in ms since the epoch (whole seconds). */
  notAfterMs: number;
  /** The SAN entries, as given. */
  names: string[];
}

/** Options for {@link generateSelfSignedCertificate}. */
export interface SelfSignedOptions {
  /** "Now" in ms since the epoch (tests). */
  nowMs?: number;
}

/** Raised when a name cannot go into a certificate. */
export class CertificateNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateNameError";
  }
}

const OID_EC_PUBLIC_KEY_SIGNATURE = "1.2.840.10045.4.3.2"; // ecdsa-with-SHA256
const OID_COMMON_NAME = "2.5.4.3";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";
const OID_KEY_USAGE = "2.5.29.15";
const OID_EXT_KEY_USAGE = "2.5.29.37";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_SUBJECT_KEY_IDENTIFIER = "2.5.29.14";
const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

const DNS_NAME_PATTERN =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

/** Encode the SAN list: IP literals → iPAddress [7], everything else → dNSName [2]. */
function subjectAltNames(names: string[]): Uint8Array {
  const entries = names.map((name) => {
    const ip = parseIpLiteral(name);
    if (ip) return implicitPrimitive(7, ip);
    if (name.length > 253 || !DNS_NAME_PATTERN.test(name)) {
      throw new CertificateNameError(
        `"${name}" is neither an IP address nor a valid DNS name; fix [server.tls] generate`,
      );
    }
    return implicitPrimitive(2, new TextEncoder().encode(name.replace(/\.$/, "").toLowerCase()));
  });
  return sequence(...entries);
}

/** Convert a WebCrypto ECDSA signature (r‖s, IEEE P1363) to DER `Ecdsa-Sig-Value`. */
export function p1363ToDer(signature: Uint8Array): Uint8Array {
  const half = signature.byteLength / 2;
  return sequence(unsignedInteger(signature.subarray(0, half)), unsignedInteger(signature.subarray(half)));
}

/**
 * Generate a fresh ECDSA P-256 key and a self-signed certificate for `names` (IP literals become
 * IP SANs, anything else DNS SANs; empty → `localhost`). basicConstraints CA:FALSE (critical),
 * keyUsage digitalSignature (critical), extKeyUsage serverAuth+clientAuth, validity from now − 1 day
 * to now + 13 days.
 */
export async function generateSelfSignedCertificate(
  names: string[],
  options: SelfSignedOptions = {},
): Promise<SelfSignedCertificate> {
  const sanNames = names.map((name) => name.trim()).filter((name) => name !== "");
  if (sanNames.length === 0) sanNames.push("localhost");
  const sans = subjectAltNames(sanNames);

  const keyPair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keyPair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keyPair.privateKey));
  // Subject key identifier: SHA-1 is conventional, but any unique value is allowed (RFC 5280 §4.2.1.2).
  const rawPublicKey = spki.subarray(spki.byteLength - 65);
  const keyId = new Uint8Array(await crypto.subtle.digest("SHA-256", rawPublicKey)).subarray(0, 20);

  const now = options.nowMs ?? Date.now();
  const notBeforeMs = Math.floor((now - SELF_SIGNED_BACKDATE_MS) / 1000) * 1000;
  const notAfterMs = Math.floor((now + SELF_SIGNED_LIFETIME_MS) / 1000) * 1000;

  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x01; // positive and not zero-led: exactly 16 content bytes

  const name = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(sanNames[0]))));
  const signatureAlgorithm = sequence(oid(OID_EC_PUBLIC_KEY_SIGNATURE));
  const extensions = sequence(
    extension(OID_BASIC_CONSTRAINTS, true, sequence()),
    // digitalSignature = bit 0 → 0x80 with 7 unused bits.
    extension(OID_KEY_USAGE, true, bitString(Uint8Array.of(0x80), 7)),
    extension(OID_EXT_KEY_USAGE, false, sequence(oid(OID_SERVER_AUTH), oid(OID_CLIENT_AUTH))),
    extension(OID_SUBJECT_KEY_IDENTIFIER, false, octetString(keyId)),
    extension(OID_SUBJECT_ALT_NAME, false, sans),
  );
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    signatureAlgorithm,
    name,
    sequence(x509Time(notBeforeMs), x509Time(notAfterMs)),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keyPair.privateKey, tbs),
  );
  const der = sequence(tbs, signatureAlgorithm, bitString(p1363ToDer(signature)));
  return {
    certPem: pemEncode("CERTIFICATE", der),
    keyPem: pemEncode("PRIVATE KEY", pkcs8),
    der,
    sha256Hex: await sha256Hex(der),
    notBeforeMs,
    notAfterMs,
    names: sanNames,
  };
}
