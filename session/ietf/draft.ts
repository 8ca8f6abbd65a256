/**
 * IETF moq-transport drafts 14–20: version codes, ALPN / WebTransport protocol strings and the
 * per-draft switches the codec branches on (draft-ietf-moq-transport-14 … -20).
 *
 * @module
 */

/** A moq-transport draft number this codec speaks. */
export type Draft = 14 | 15 | 16 | 17 | 18 | 19 | 20;

/** Every draft the codec speaks, oldest first. */
export const DRAFTS: readonly Draft[] = [14, 15, 16, 17, 18, 19, 20];

/** The SETUP version code of a draft: `0xff000000 + draft`. */
export function draftVersion(draft: Draft): number {
  return 0xff000000 + draft;
}

/** The draft for a SETUP version code, or undefined when the codec does not speak it. */
export function draftFromVersion(version: number): Draft | undefined {
  const n = version - 0xff000000;
  return isDraft(n) ? n : undefined;
}

/** Whether `n` is a draft number the codec speaks. */
export function isDraft(n: number): n is Draft {
  return Number.isInteger(n) && n >= 14 && n <= 20;
}

/** The ALPN / WebTransport protocol string of a draft (`moq-00` for 14, `moqt-NN` after). */
export function draftAlpn(draft: Draft): string {
  return draft === 14 ? "moq-00" : `moqt-${draft}`;
}

/** The draft an ALPN / WebTransport protocol string selects, or undefined. */
export function draftFromAlpn(alpn: string): Draft | undefined {
  if (alpn === "moq-00") return 14;
  const m = /^moqt-(\d\d)$/.exec(alpn);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= 15 && isDraft(n) ? n : undefined;
}

/** The draft's name as used in logs, e.g. `moq-transport-17`. */
export function draftName(draft: Draft): string {
  return `moq-transport-${draft}`;
}

/**
 * Whether the draft encodes integers as leading-ones varints (draft-17 §1.4.1 and later) instead of
 * QUIC varints (RFC 9000 §16).
 */
export function usesLeadingOnes(draft: Draft): boolean {
  return draft >= 17;
}

/**
 * Whether the draft runs the legacy handshake (CLIENT_SETUP/SERVER_SETUP on one bidi control
 * stream, 14–16) rather than the unified SETUP on uni streams with one bidi stream per request (17+).
 */
export function usesControlStream(draft: Draft): boolean {
  return draft <= 16;
}

/** Whether responses on a per-request stream omit the Request ID (17+). */
export function responsesOmitRequestId(draft: Draft): boolean {
  return draft >= 17;
}

/** Whether parameter and property types are delta-encoded (16+). */
export function deltaTypes(draft: Draft): boolean {
  return draft >= 16;
}
