/**
 * The certificates the QUIC listener serves: PEM files from `[server.tls] cert/key` and, with
 * `generate`, a self-signed development certificate (ECDSA P-256, CA:FALSE, 14-day span) that
 * browsers accept through `serverCertificateHashes`. Its hash is what `/certificate.sha256` serves.
 *
 * @module
 */

import type { RelayConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { loadTlsCertificate } from "../transport/tls/pem.ts";
import { generateSelfSignedCertificate } from "../transport/tls/self_signed.ts";

/** One certificate + key pair as PEM. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
  sha256Hex: string;
  /** When it stops being valid (generated certificates), ms since epoch. */
  notAfterMs?: number;
  generated: boolean;
}

/** What the relay serves. */
export interface ServedCertificates {
  /** The pair the QUIC listener presents (the first: Deno's listener takes one). */
  quic: CertificatePair | undefined;
  /** Lowercase hex SHA-256 of every served certificate, the presented one first. */
  hashes(): string[];
  /** Every pair, file certificates first. */
  all?: CertificatePair[];
}

/** Load file certificates and generate the development certificate (throws naming the file). */
export async function loadCertificates(
  config: RelayConfig,
  logger: Logger,
  _signal: AbortSignal,
): Promise<ServedCertificates> {
  const tls = config.server.tls;
  const pairs: CertificatePair[] = [];
  for (let i = 0; i < tls.cert.length; i++) {
    const c = await loadTlsCertificate(tls.cert[i], tls.key[i]);
    pairs.push({ certPem: c.certPem, keyPem: c.keyPem, sha256Hex: c.sha256Hex, generated: false });
  }
  if (tls.generate.length > 0) {
    const g = await generateSelfSignedCertificate(tls.generate);
    pairs.push({
      certPem: g.certPem,
      keyPem: g.keyPem,
      sha256Hex: g.sha256Hex,
      notAfterMs: g.notAfterMs,
      generated: true,
    });
    logger.child("tls").info("generated development certificate", {
      names: tls.generate.join(","),
      sha256: g.sha256Hex,
      not_after: new Date(g.notAfterMs).toISOString(),
    });
  }
  if (pairs.length === 0) {
    throw new Error(
      '[server.tls]: the QUIC listener needs a certificate: set cert + key (PEM files) or generate = ["localhost"]',
    );
  }
  if (pairs.length > 1) {
    logger.child("tls").warn("only the first certificate is presented on QUIC (no SNI selection)", {
      presented: pairs[0].sha256Hex,
    });
  }
  return { quic: pairs[0], hashes: () => pairs.map((p) => p.sha256Hex), all: pairs };
}
