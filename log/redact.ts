/**
 * The one place secrets are masked before text reaches a log line, an error the relay stores, or
 * an endpoint: `jwt=` / `token=` / `access_token=` query values, `Authorization:` header values,
 * `Bearer …` tokens, and anything shaped like a JWT (three base64url parts, the first starting
 * with `eyJ`, the encoding of `{"`).
 *
 * @module
 */

/** What a masked secret is replaced with. */
export const REDACTED = "[redacted]";

/** A secret query value: everything up to the next separator (`&`, `#`, space, quote, `:`, `,`, `;`, `)`). */
const QUERY_SECRET = /([?&;](?:jwt|token|access_token|auth)=)[^&#\s"'<>:,;)]*/gi;
const AUTH_HEADER = /(authorization\s*[:=]\s*)(?:(bearer|basic)\s+)?[^\s,;"']+/gi;
const BEARER = /(\bbearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const JWT_SHAPE = /\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
/** Cheap pre-check: text without any of these cannot hold a secret the patterns match. */
const MAYBE_SECRET = /jwt=|token=|auth=|authorization|bearer|eyJ/i;

/** `text` with every secret-looking value replaced by {@link REDACTED}. */
export function redactSecrets(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  return text
    .replace(QUERY_SECRET, `$1${REDACTED}`)
    .replace(
      AUTH_HEADER,
      (_m, head: string, scheme?: string) => `${head}${scheme ? `${scheme} ` : ""}${REDACTED}`,
    )
    .replace(BEARER, `$1${REDACTED}`)
    .replace(JWT_SHAPE, REDACTED);
}

/** An error's message (or the value as text), redacted: for errors that are stored or served. */
export function redactedError(err: unknown): string {
  return redactSecrets(err instanceof Error ? err.message : String(err));
}
