/**
 * UTF-8 helpers.
 *
 * @module
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function cut(bytes: Uint8Array, maxBytes: number): Uint8Array {
  let end = Math.max(maxBytes, 0);
  // Back up over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/**
 * The UTF-8 bytes of `text`, cut to at most `maxBytes` without splitting a character (close reasons
 * have byte limits: RFC 6455 §5.5, RFC 9000 §19.19, WebTransport CLOSE_WEBTRANSPORT_SESSION).
 */
export function truncateUtf8(text: string, maxBytes: number): Uint8Array {
  const bytes = textEncoder.encode(text);
  return bytes.length <= maxBytes ? bytes : cut(bytes, maxBytes);
}

/** Like {@link truncateUtf8}, as a string. */
export function truncateUtf8String(text: string, maxBytes: number): string {
  const bytes = textEncoder.encode(text);
  return bytes.length <= maxBytes ? text : textDecoder.decode(cut(bytes, maxBytes));
}
