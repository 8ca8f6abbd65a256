/**
 * Self-signed development certificates, generated in code (WebCrypto ECDSA P-256, X.509 encoded
 * and signed with `pkijs`): what `[server.tls] generate` needs and what browsers accept through
 * `serverCertificateHashes` (ECDSA, X.509v3, at most 14 days of validity).
 *
 * @module
 */

import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { parseIpLiteral } from "./_ip.ts";
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

const OID_COMMON_NAME = "2.5.4.3";
const OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** GeneralName choices (RFC 5280 §4.2.1.6). */
const GENERAL_NAME_DNS = 2;
const GENERAL_NAME_IP = 7;
/** keyUsage digitalSignature = bit 0: `0x80` with 7 unused bits (RFC 5280 §4.2.1.3). */
const KEY_USAGE_DIGITAL_SIGNATURE = Uint8Array.of(0x80);
const KEY_USAGE_UNUSED_BITS = 7;

const DNS_NAME_PATTERN =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function extension(extnID: string, critical: boolean, value: { toBER(): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER() });
}

/** The SAN list: IP literals → iPAddress, everything else → dNSName (lowercase, no trailing dot). */
function subjectAltNames(names: string[]): pkijs.GeneralNames {
  const entries = names.map((name) => {
    const ip = parseIpLiteral(name);
    if (ip) {
      return new pkijs.GeneralName({
        type: GENERAL_NAME_IP,
        value: new asn1js.OctetString({ valueHex: ip }),
      });
    }
    if (name.length > 253 || !DNS_NAME_PATTERN.test(name)) {
      throw new CertificateNameError(
        `"${name}" is neither an IP address nor a valid DNS name; fix [server.tls] generate`,
      );
    }
    return new pkijs.GeneralName({ type: GENERAL_NAME_DNS, value: name.replace(/\.$/, "").toLowerCase() });
  });
  return new pkijs.GeneralNames({ names: entries });
}

/** An X.509 Time: UTCTime for years 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5). */
function x509Time(ms: number): pkijs.Time {
  const value = new Date(ms);
  const year = value.getUTCFullYear();
  const type = year >= 1950 && year < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime;
  return new pkijs.Time({ type, value });
}

function commonName(text: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      new pkijs.AttributeTypeAndValue({
        type: OID_COMMON_NAME,
        value: new asn1js.Utf8String({ value: text }),
      }),
    ],
  });
}

/**
 * Generate a fresh ECDSA P-256 key and a self-signed certificate for `names` (IP literals become
 * IP SANs, anything else DNS SANs; empty → `localhost`). basicConstraints CA:FALSE (critical),
 * keyUsage digitalSignature (critical), extKeyUsage serverAuth+clientAuth, validity from now − 1 day
 * to now + 13 days. Throws {@link CertificateNameError} for a name that is neither IP nor DNS.
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
  const keyId = new Uint8Array(await crypto.subtle.digest("SHA-256", rawPublicKey)).slice(0, 20);

  const now = options.nowMs ?? Date.now();
  const notBeforeMs = Math.floor((now - SELF_SIGNED_BACKDATE_MS) / 1000) * 1000;
  const notAfterMs = Math.floor((now + SELF_SIGNED_LIFETIME_MS) / 1000) * 1000;

  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x01; // positive and not zero-led: exactly 16 content bytes

  const certificate = new pkijs.Certificate({
    version: 2, // v3
    serialNumber: new asn1js.Integer({ valueHex: serial }),
    issuer: commonName(sanNames[0]),
    subject: commonName(sanNames[0]),
    notBefore: x509Time(notBeforeMs),
    notAfter: x509Time(notAfterMs),
    extensions: [
      extension(pkijs.id_BasicConstraints, true, new pkijs.BasicConstraints({ cA: false }).toSchema()),
      extension(
        pkijs.id_KeyUsage,
        true,
        new asn1js.BitString({ valueHex: KEY_USAGE_DIGITAL_SIGNATURE, unusedBits: KEY_USAGE_UNUSED_BITS }),
      ),
      extension(
        pkijs.id_ExtKeyUsage,
        false,
        new pkijs.ExtKeyUsage({ keyPurposes: [OID_SERVER_AUTH, OID_CLIENT_AUTH] }).toSchema(),
      ),
      extension(pkijs.id_SubjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyId })),
      extension(pkijs.id_SubjectAltName, false, sans.toSchema()),
    ],
  });
  await certificate.subjectPublicKeyInfo.importKey(keyPair.publicKey);
  await certificate.sign(keyPair.privateKey, "SHA-256");
  const der = new Uint8Array(certificate.toSchema(true).toBER());
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
