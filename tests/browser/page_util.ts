/**
 * Helpers shared by the browser test pages (`page.ts`, `net_page.ts`): base64 for bytes crossing
 * `page.evaluate`, a timeout wrapper and handle lookup.
 *
 * @module
 */

/** Bytes as base64 (payloads cross `page.evaluate` as JSON). */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** The bytes of a base64 string. */
export function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Resolve `promise` or reject after `ms` naming `what`. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`page: timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The value of `handle` in `map`; throws naming `what` when absent. */
export function get<T>(map: Map<number, T>, handle: number, what: string): T {
  const value = map.get(handle);
  if (value === undefined) throw new Error(`page: no ${what} with handle ${handle}`);
  return value;
}
