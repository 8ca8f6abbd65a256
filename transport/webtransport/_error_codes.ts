/**
 * WebTransport application error codes carried in HTTP/3 error codes (draft-ietf-webtrans-http3
 * §4.4): a 32-bit application code `n` maps to `first + n + ⌊n / 0x1e⌋`, skipping the HTTP/3
 * GREASE code points. All values are below 2^53, so JS numbers are exact.
 *
 * @module
 */

/** The first HTTP/3 code of the WebTransport application range. */
export const WT_ERROR_FIRST = 0x52e4a40fa8db;
/** The last HTTP/3 code of the range (for n = 0xffffffff). */
export const WT_ERROR_LAST = 0x52e5ac983162;

/** The HTTP/3 error code for WebTransport application code `code` (0 ≤ code < 2^32). */
export function webtransportToHttp3(code: number): number {
  const n = code >>> 0;
  return WT_ERROR_FIRST + n + Math.floor(n / 0x1e);
}

/** Whether an HTTP/3 error code is a reserved GREASE value (`0x1f·N + 0x21`). */
export function isGreaseErrorCode(h3: number): boolean {
  return h3 >= 0x21 && (h3 - 0x21) % 0x1f === 0;
}

/** The WebTransport application code inside HTTP/3 code `h3`, or `null` when it is outside the range or GREASE. */
export function http3ToWebtransport(h3: number): number | null {
  if (!Number.isSafeInteger(h3) || h3 < WT_ERROR_FIRST || h3 > WT_ERROR_LAST) return null;
  if (isGreaseErrorCode(h3)) return null;
  const shifted = h3 - WT_ERROR_FIRST;
  return shifted - Math.floor(shifted / 0x1f);
}
