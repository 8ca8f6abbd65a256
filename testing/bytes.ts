/**
 * Bytes for tests: deterministic payloads, reading a stream to its end, hex.
 *
 * @module
 */

/** `length` deterministic pseudo-random bytes; the same `seed` gives the same bytes. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Read a stream to its end and concatenate its chunks. */
export async function readAll(recv: { read(): Promise<Uint8Array | null> }): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  while (true) {
    const chunk = await recv.read();
    if (chunk === null) break;
    parts.push(chunk);
  }
  return concat(parts);
}

/** Concatenate byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
