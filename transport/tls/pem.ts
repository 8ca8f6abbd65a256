/**
 * PEM certificate and key files: loading with clear errors, the SHA-256 fingerprint of the leaf
 * certificate (what `/certificate.sha256` serves and `serverCertificateHashes` pins), and a check
 * that a private key belongs to a certificate.
 *
 * @module
 */

import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { toHex } from "../../codec/mod.ts";

/** Raised when PEM text or the DER inside it is malformed. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/** One `-----BEGIN <label>-----` block. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/** What went wrong with a TLS file. */
export type TlsFileProblem =
  | "missing"
  | "unreadable"
  | "not-pem"
  | "no-certificate"
  | "no-key"
  | "bad-certificate"
  | "bad-key"
  | "key-mismatch";

/** Raised when a certificate or key file cannot be used; the message names the file and the fix. */
export class TlsFileError extends Error {
  /** The file at fault. */
  readonly path: string;
  /** What is wrong with it. */
  readonly problem: TlsFileProblem;
  constructor(path: string, problem: TlsFileProblem, message: string) {
    super(message);
    this.name = "TlsFileError";
    this.path = path;
    this.problem = problem;
  }
}

/** A certificate chain and its key, ready for `Deno.QuicEndpoint.listen`. */
export interface TlsCertificate {
  /** The chain as PEM (leaf first), normalised: only CERTIFICATE blocks. */
  certPem: string;
  /** The private key as PEM (one block). */
  keyPem: string;
  /** The chain, DER, leaf first. */
  chainDer: Uint8Array[];
  /** Lowercase hex SHA-256 of the leaf DER. */
  sha256Hex: string;
  /** Where the certificate came from (absent for generated ones). */
  certPath?: string;
  /** Where the key came from (absent for generated ones). */
  keyPath?: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const KEY_LABELS = new Set(["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]);

function base64ToBytes(text: string): Uint8Array {
  const clean = text.replace(/[\s]/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new DerError("invalid base64 in PEM block");
  const binary = atob(clean);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.byteLength; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Parse every PEM block in `text` (headers such as `Proc-Type` are not supported: encrypted keys are rejected). */
export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const body = match[2];
    if (body.includes(":")) throw new DerError(`PEM block "${match[1]}" has headers (encrypted?)`);
    blocks.push({ label: match[1], der: base64ToBytes(body) });
  }
  return blocks;
}

/** Encode DER as a PEM block with 64-character lines. */
export function pemEncode(label: string, der: Uint8Array): string {
  const base64 = bytesToBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// `toHex` lives in codec/ (bytes helpers); re-exported here so `transport/mod.ts` callers keep it.
export { toHex };

/** Lowercase hex SHA-256 of bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)));
}

/**
 * Lowercase hex SHA-256 of the leaf certificate: the DER itself, or the first CERTIFICATE block of
 * PEM text. Throws {@link DerError} when PEM text holds no certificate.
 */
export async function certificateSha256Hex(pemOrDer: string | Uint8Array): Promise<string> {
  if (typeof pemOrDer !== "string") return await sha256Hex(pemOrDer);
  const leaf = parsePem(pemOrDer).find((block) => block.label === "CERTIFICATE");
  if (!leaf) throw new DerError("no CERTIFICATE block in PEM text");
  return await sha256Hex(leaf.der);
}

async function readTextFile(path: string, what: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new TlsFileError(path, "missing", `${what} file "${path}" does not exist; check ${flag}`);
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new TlsFileError(
      path,
      "unreadable",
      `${what} file "${path}" cannot be read (${reason}); check the path and its permissions`,
    );
  }
}

function parsePemFile(path: string, text: string, what: string): PemBlock[] {
  let blocks: PemBlock[];
  try {
    blocks = parsePem(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TlsFileError(path, "not-pem", `${what} file "${path}" is not valid PEM: ${reason}`);
  }
  if (blocks.length === 0) {
    throw new TlsFileError(
      path,
      "not-pem",
      `${what} file "${path}" is not PEM (no "-----BEGIN ...-----" block); DER files must be converted to PEM`,
    );
  }
  return blocks;
}

/** Load a PEM certificate chain (leaf first). Throws {@link TlsFileError}. */
export async function loadCertificateChain(
  path: string,
): Promise<{ certPem: string; chainDer: Uint8Array[] }> {
  const text = await readTextFile(path, "certificate", "[server.tls] cert");
  const blocks = parsePemFile(path, text, "certificate");
  const chainDer = blocks.filter((block) => block.label === "CERTIFICATE").map((block) => block.der);
  if (chainDer.length === 0) {
    const labels = [...new Set(blocks.map((block) => block.label))].join(", ");
    throw new TlsFileError(
      path,
      "no-certificate",
      `certificate file "${path}" holds no CERTIFICATE block (found: ${labels}); did you swap cert and key?`,
    );
  }
  for (const der of chainDer) {
    try {
      subjectPublicKeyInfo(der);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new TlsFileError(
        path,
        "bad-certificate",
        `certificate file "${path}" holds a malformed certificate: ${reason}`,
      );
    }
  }
  return { certPem: chainDer.map((der) => pemEncode("CERTIFICATE", der)).join(""), chainDer };
}

/** Load a PEM private key (PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`). Throws {@link TlsFileError}. */
export async function loadPrivateKey(path: string): Promise<PemBlock & { keyPem: string }> {
  const text = await readTextFile(path, "key", "[server.tls] key");
  const blocks = parsePemFile(path, text, "key");
  const keys = blocks.filter((block) => KEY_LABELS.has(block.label));
  if (keys.length === 0) {
    const labels = [...new Set(blocks.map((block) => block.label))].join(", ");
    const hint = blocks.some((block) => block.label === "ENCRYPTED PRIVATE KEY")
      ? "encrypted keys are not supported; decrypt it with `openssl pkey -in key.pem -out plain.pem`"
      : "did you swap cert and key?";
    throw new TlsFileError(
      path,
      "no-key",
      `key file "${path}" holds no private key (found: ${labels}); ${hint}`,
    );
  }
  if (keys.length > 1) {
    throw new TlsFileError(
      path,
      "bad-key",
      `key file "${path}" holds ${keys.length} private keys; keep exactly one`,
    );
  }
  return { ...keys[0], keyPem: pemEncode(keys[0].label, keys[0].der) };
}

/**
 * Load a certificate chain and its key, and check that the key belongs to the leaf certificate
 * (when the key type is one WebCrypto can test: ECDSA P-256/P-384, RSA, Ed25519).
 * Throws {@link TlsFileError} naming the file at fault.
 */
export async function loadTlsCertificate(certPath: string, keyPath: string): Promise<TlsCertificate> {
  const { certPem, chainDer } = await loadCertificateChain(certPath);
  const key = await loadPrivateKey(keyPath);
  const matches = await keyMatchesCertificate(chainDer[0], key);
  if (matches === false) {
    throw new TlsFileError(
      keyPath,
      "key-mismatch",
      `key file "${keyPath}" does not belong to the certificate in "${certPath}"; pair each cert with its own key`,
    );
  }
  return {
    certPem,
    keyPem: key.keyPem,
    chainDer,
    sha256Hex: await sha256Hex(chainDer[0]),
    certPath,
    keyPath,
  };
}

// ---- key/certificate matching -------------------------------------------------------------------

const OID_EC = "1.2.840.10045.2.1";
const OID_RSA = "1.2.840.113549.1.1.1";
const OID_ED25519 = "1.3.101.112";
const OID_P256 = "1.2.840.10045.3.1.7";
const OID_P384 = "1.3.132.0.34";

/** Bytes backed by a plain `ArrayBuffer` (what WebCrypto and asn1js accept). */
type Bytes = Uint8Array<ArrayBuffer>;

function ownBytes(bytes: Uint8Array): Bytes {
  return new Uint8Array(bytes);
}

/**
 * Decode `der` as exactly one ASN.1 value (no trailing bytes) and build it with `make`, turning
 * every failure into a {@link DerError} naming `what`.
 */
function decodeDer<T>(der: Uint8Array, what: string, make: (schema: asn1js.AsnType) => T): T {
  const bytes = ownBytes(der);
  const asn1 = asn1js.fromBER(bytes);
  if (asn1.offset === -1) throw new DerError(`malformed ${what}: ${asn1.result.error || "invalid BER"}`);
  if (asn1.offset !== bytes.byteLength) {
    throw new DerError(`malformed ${what}: ${bytes.byteLength - asn1.offset} bytes after its end`);
  }
  try {
    return make(asn1.result);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DerError(`malformed ${what}: ${reason}`);
  }
}

/** The OID in an AlgorithmIdentifier's parameters, when they are one (named curves). */
function parameterOid(algorithm: pkijs.AlgorithmIdentifier): string | undefined {
  const params = algorithm.algorithmParams;
  return params instanceof asn1js.ObjectIdentifier ? params.valueBlock.toString() : undefined;
}

/** The DER SubjectPublicKeyInfo of a certificate, with its algorithm OID and parameter OID. */
export function subjectPublicKeyInfo(
  certDer: Uint8Array,
): { spki: Uint8Array; algorithm: string; parameter?: string } {
  const cert = decodeDer(certDer, "certificate", (schema) => new pkijs.Certificate({ schema }));
  const info = cert.subjectPublicKeyInfo;
  return {
    spki: new Uint8Array(info.toSchema().toBER()),
    algorithm: info.algorithm.algorithmId,
    parameter: parameterOid(info.algorithm),
  };
}

/** Normalise a private key to PKCS#8 DER plus its algorithm (SEC1 and PKCS#1 keys are wrapped). */
function toPkcs8(key: PemBlock): { pkcs8: Uint8Array; algorithm: string; parameter?: string } {
  const wrap = (algorithmId: string, algorithmParams: asn1js.AsnType) =>
    new Uint8Array(
      new pkijs.PrivateKeyInfo({
        version: 0,
        privateKeyAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId, algorithmParams }),
        privateKey: new asn1js.OctetString({ valueHex: ownBytes(key.der) }),
      }).toSchema().toBER(),
    );
  if (key.label === "RSA PRIVATE KEY") {
    decodeDer(key.der, "RSA private key", (schema) => new pkijs.RSAPrivateKey({ schema }));
    return { pkcs8: wrap(OID_RSA, new asn1js.Null()), algorithm: OID_RSA };
  }
  if (key.label === "EC PRIVATE KEY") {
    const ec = decodeDer(key.der, "EC private key", (schema) => new pkijs.ECPrivateKey({ schema }));
    const curve = ec.namedCurve;
    if (!curve) throw new DerError("EC key without curve parameters");
    return {
      pkcs8: wrap(OID_EC, new asn1js.ObjectIdentifier({ value: curve })),
      algorithm: OID_EC,
      parameter: curve,
    };
  }
  const info = decodeDer(key.der, "private key", (schema) => new pkijs.PrivateKeyInfo({ schema }));
  return {
    pkcs8: key.der,
    algorithm: info.privateKeyAlgorithm.algorithmId,
    parameter: parameterOid(info.privateKeyAlgorithm),
  };
}

type SignAlgorithm = {
  importParams: AlgorithmIdentifier | EcKeyImportParams | RsaHashedImportParams;
  sign: AlgorithmIdentifier | EcdsaParams;
};

function signAlgorithmFor(algorithm: string, parameter?: string): SignAlgorithm | undefined {
  if (algorithm === OID_EC && parameter === OID_P256) {
    return { importParams: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } };
  }
  if (algorithm === OID_EC && parameter === OID_P384) {
    return { importParams: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } };
  }
  if (algorithm === OID_RSA) {
    return {
      importParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      sign: { name: "RSASSA-PKCS1-v1_5" },
    };
  }
  if (algorithm === OID_ED25519) return { importParams: { name: "Ed25519" }, sign: { name: "Ed25519" } };
  return undefined;
}

/**
 * Whether `key` is the private key of the certificate `certDer`: `true`/`false`, or `undefined`
 * when the key type cannot be checked here (the TLS stack will still refuse a mismatch at listen).
 */
export async function keyMatchesCertificate(
  certDer: Uint8Array,
  key: PemBlock,
): Promise<boolean | undefined> {
  let cert: ReturnType<typeof subjectPublicKeyInfo>;
  let pkcs8: ReturnType<typeof toPkcs8>;
  try {
    cert = subjectPublicKeyInfo(certDer);
    pkcs8 = toPkcs8(key);
  } catch {
    return undefined;
  }
  if (cert.algorithm !== pkcs8.algorithm) return false;
  if (pkcs8.parameter !== undefined && cert.parameter !== undefined && pkcs8.parameter !== cert.parameter) {
    return false;
  }
  const algorithm = signAlgorithmFor(cert.algorithm, cert.parameter ?? pkcs8.parameter);
  if (!algorithm) return undefined;
  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  try {
    publicKey = await crypto.subtle.importKey(
      "spki",
      cert.spki as Uint8Array<ArrayBuffer>,
      algorithm.importParams,
      false,
      [
        "verify",
      ],
    );
  } catch {
    return undefined;
  }
  try {
    privateKey = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8.pkcs8 as Uint8Array<ArrayBuffer>,
      algorithm.importParams,
      false,
      ["sign"],
    );
  } catch {
    return undefined;
  }
  const probe = crypto.getRandomValues(new Uint8Array(32));
  const signature = await crypto.subtle.sign(algorithm.sign, privateKey, probe);
  return await crypto.subtle.verify(algorithm.sign, publicKey, signature, probe);
}
