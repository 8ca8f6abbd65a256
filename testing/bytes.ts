/**
 * Bytes for tests: deterministic payloads, hex, reading a stream to its end, base64, text lines.
 *
 * @module
 */

import { concatBytes } from "../codec/mod.ts";

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

/** Bytes as lowercase hex pairs separated by spaces (`"0a ff 00"`), for comparing wire bytes. */
export function spacedHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** The bytes of a hex string (two digits a byte; anything else, e.g. spaces, is skipped). */
export function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const digits = hex.replace(/[^0-9a-f]/gi, "");
  return new Uint8Array((digits.match(/../g) ?? []).map((byte) => parseInt(byte, 16)));
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

/** Read a WHATWG `ReadableStream` to its end and concatenate its chunks. */
export async function readReadable(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = readable.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return concat(parts);
}

/** Write `data` to a WHATWG `WritableStream`, then close it. */
export async function writeAndClose(writable: WritableStream<Uint8Array>, data: Uint8Array): Promise<void> {
  const writer = writable.getWriter();
  await writer.write(data);
  await writer.close();
}

/** The UTF-8 text lines of a byte stream (a last line without a newline included), as they complete. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    yield* lines;
  }
  partial += decoder.decode();
  if (partial) yield partial;
}

/** Concatenate byte arrays (the codec's one implementation, under the name the tests use). */
export const concat: (parts: readonly Uint8Array[]) => Uint8Array = concatBytes;

/** Standard base64 of bytes (for carrying bytes through JSON, e.g. into a browser page). */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += BASE64_CHUNK_BYTES) {
    text += String.fromCharCode(...bytes.subarray(i, i + BASE64_CHUNK_BYTES));
  }
  return btoa(text);
}

/** Bytes of standard base64 text (the inverse of {@link toBase64}). */
export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Bytes spread into one `String.fromCharCode` call (well under the engine's argument limit). */
const BASE64_CHUNK_BYTES = 0x8000;
