/**
 * FNV-1a, 64 bits (the standard prime), with a selectable offset basis: origin ids hash the node
 * identity with the standard basis; route tie-breaks use moq-relay's basis (docs/relay.md §6.2).
 *
 * @module
 */

/** The standard FNV-1a 64 offset basis. */
export const FNV64_OFFSET_BASIS = 0xcbf29ce484222325n;
/** The FNV 64-bit prime. */
export const FNV64_PRIME = 0x100000001b3n;
const MASK_64 = (1n << 64n) - 1n;

/** FNV-1a 64 of `bytes` (a string is hashed as its UTF-8 bytes), starting from `basis`. */
export function fnv1a64(bytes: Uint8Array | string, basis: bigint = FNV64_OFFSET_BASIS): bigint {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let h = basis;
  for (const b of data) h = ((h ^ BigInt(b)) * FNV64_PRIME) & MASK_64;
  return h;
}
