/**
 * The certificates the QUIC listener serves: PEM files from `[server.tls] cert/key` and, with
 * `generate`, a self-signed development certificate (ECDSA P-256, CA:FALSE, 14-day span) that
 * browsers accept through `serverCertificateHashes`. Its hash is what `/certificate.sha256` serves.
 *
 * The generated certificate is renewed before it expires, without a restart (docs/relay.md §8 item 6):
 * {@link RENEW_BEFORE_EXPIRY_MS} before its `notAfter` a fresh pair replaces it, `quic`, `all` and
 * `hashes()` switch to the new pair, and every {@link ServedCertificates.onRenew} listener is told so
 * the QUIC listener can present the new certificate to new connections (existing ones keep theirs).
 *
 * @module
 */

import type { RelayConfig } from "../config/mod.ts";
import type { Logger } from "../log/mod.ts";
import { DAY_MS, generateSelfSignedCertificate, loadTlsCertificate } from "../transport/mod.ts";

/** How long before its `notAfter` the generated certificate is replaced (it lives 13 days ahead). */
export const RENEW_BEFORE_EXPIRY_MS = 2 * DAY_MS;
/** Wait before retrying a renewal that failed. */
export const RENEW_RETRY_MS = 60_000;
/** Shortest delay the renewal timer is armed with (guards against a busy loop). */
export const MIN_RENEW_DELAY_MS = 1_000;
/** Longest single `setTimeout` delay (2^31 − 1 ms); longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

/** One certificate + key pair as PEM. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
  sha256Hex: string;
  /** When it stops being valid (generated certificates), ms since epoch. */
  notAfterMs?: number;
  generated: boolean;
}

/** What an {@link ServedCertificates.onRenew} listener is told. */
export interface CertificateRenewal {
  /** The generated pair that was replaced. */
  previous: CertificatePair;
  /** The freshly generated pair. */
  current: CertificatePair;
  /** The pair the QUIC listener should now present (the first one; `current` when no file certs). */
  quic: CertificatePair;
}

/** Called after the generated certificate was renewed. Errors are logged, never thrown. */
export type RenewListener = (renewal: CertificateRenewal) => void | Promise<void>;

/** What the relay serves. */
export interface ServedCertificates {
  /** The pair the QUIC listener presents (the first: Deno's listener takes one). Tracks renewals. */
  readonly quic: CertificatePair | undefined;
  /** Lowercase hex SHA-256 of every served certificate, the presented one first. */
  hashes(): string[];
  /** Every pair, file certificates first (tracks renewals). */
  readonly all: readonly CertificatePair[];
  /**
   * Register a listener for renewals of the generated certificate; returns an unsubscribe
   * function. Never called when no certificate is generated.
   */
  onRenew(listener: RenewListener): () => void;
}

/** Options of {@link loadCertificates} (tests shorten the schedule). */
export interface CertificateOptions {
  /** Renew this long before `notAfter` (default {@link RENEW_BEFORE_EXPIRY_MS}). */
  renewBeforeMs?: number;
  /** Shortest timer delay (default {@link MIN_RENEW_DELAY_MS}). */
  minRenewDelayMs?: number;
  /** Retry delay after a failed renewal (default {@link RENEW_RETRY_MS}). */
  retryMs?: number;
}

/** No certificates (QUIC disabled): empty hashes, nothing to renew. */
export function noCertificates(): ServedCertificates {
  return { quic: undefined, hashes: () => [], all: [], onRenew: () => () => {} };
}

async function generatePair(names: string[]): Promise<CertificatePair> {
  const g = await generateSelfSignedCertificate(names);
  return {
    certPem: g.certPem,
    keyPem: g.keyPem,
    sha256Hex: g.sha256Hex,
    notAfterMs: g.notAfterMs,
    generated: true,
  };
}

/**
 * Load file certificates and generate the development certificate (throws naming the file). When
 * a certificate is generated, a renewal timer runs until `signal` aborts.
 */
export async function loadCertificates(
  config: RelayConfig,
  logger: Logger,
  signal: AbortSignal,
  options: CertificateOptions = {},
): Promise<ServedCertificates> {
  const tls = config.server.tls;
  const log = logger.child("tls");
  const pairs: CertificatePair[] = [];
  for (let i = 0; i < tls.cert.length; i++) {
    const c = await loadTlsCertificate(tls.cert[i], tls.key[i]);
    pairs.push({ certPem: c.certPem, keyPem: c.keyPem, sha256Hex: c.sha256Hex, generated: false });
  }
  let generatedIndex = -1;
  if (tls.generate.length > 0) {
    const g = await generatePair(tls.generate);
    generatedIndex = pairs.length;
    pairs.push(g);
    log.info("generated development certificate", {
      names: tls.generate.join(","),
      sha256: g.sha256Hex,
      not_after: new Date(g.notAfterMs!).toISOString(),
    });
  }
  if (pairs.length === 0) {
    throw new Error(
      '[server.tls]: the QUIC listener needs a certificate: set cert + key (PEM files) or generate = ["localhost"]',
    );
  }
  if (pairs.length > 1) {
    log.warn("only the first certificate is presented on QUIC (no SNI selection)", {
      presented: pairs[0].sha256Hex,
    });
  }

  const listeners = new Set<RenewListener>();
  if (generatedIndex >= 0) {
    scheduleRenewal({
      names: tls.generate,
      log,
      signal,
      renewBeforeMs: options.renewBeforeMs ?? RENEW_BEFORE_EXPIRY_MS,
      minDelayMs: options.minRenewDelayMs ?? MIN_RENEW_DELAY_MS,
      retryMs: options.retryMs ?? RENEW_RETRY_MS,
      current: () => pairs[generatedIndex],
      replace: (next) => {
        const previous = pairs[generatedIndex];
        pairs[generatedIndex] = next;
        const renewal = { previous, current: next, quic: pairs[0] };
        for (const listener of [...listeners]) notify(listener, renewal, log);
      },
    });
  }
  return {
    get quic() {
      return pairs[0];
    },
    get all() {
      return [...pairs];
    },
    hashes: () => pairs.map((p) => p.sha256Hex),
    onRenew(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function notify(listener: RenewListener, renewal: CertificateRenewal, log: Logger): void {
  const failed = (err: unknown) =>
    log.error("certificate renewal listener failed", {
      error: err instanceof Error ? err.message : String(err),
    });
  try {
    Promise.resolve(listener(renewal)).catch(failed);
  } catch (err) {
    failed(err);
  }
}

interface RenewalPlan {
  names: string[];
  log: Logger;
  signal: AbortSignal;
  renewBeforeMs: number;
  minDelayMs: number;
  retryMs: number;
  current(): CertificatePair;
  replace(next: CertificatePair): void;
}

/** Arm the renewal timer for the generated pair; re-arms after every renewal until `signal` aborts. */
function scheduleRenewal(plan: RenewalPlan): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => clearTimeout(timer);
  if (plan.signal.aborted) return;
  plan.signal.addEventListener("abort", stop, { once: true });

  const arm = (dueMs: number) => {
    const delay = Math.max(plan.minDelayMs, dueMs - Date.now());
    timer = setTimeout(() => {
      if (Date.now() < dueMs) arm(dueMs); // a wait longer than one setTimeout
      else void renew();
    }, Math.min(delay, MAX_TIMER_MS));
  };
  const armFor = (pair: CertificatePair) => arm((pair.notAfterMs ?? Date.now()) - plan.renewBeforeMs);

  const renew = async () => {
    let next: CertificatePair;
    try {
      next = await generatePair(plan.names);
    } catch (err) {
      plan.log.error("could not renew the development certificate; retrying", {
        error: err instanceof Error ? err.message : String(err),
        retry_ms: plan.retryMs,
      });
      if (!plan.signal.aborted) arm(Date.now() + plan.retryMs);
      return;
    }
    if (plan.signal.aborted) return;
    const previous = plan.current();
    plan.replace(next);
    plan.log.info("renewed development certificate", {
      names: plan.names.join(","),
      sha256: next.sha256Hex,
      previous: previous.sha256Hex,
      not_after: new Date(next.notAfterMs!).toISOString(),
    });
    armFor(next);
  };

  armFor(plan.current());
}
