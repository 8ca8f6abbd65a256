/**
 * The HPACK Huffman code (RFC 7541 Appendix B), used by QPACK string literals (RFC 9204 §4.1.2).
 *
 * The code is canonical: codes are assigned in order of length, then symbol. So the table below
 * only lists each symbol's code length (0–255, then EOS = 256) and the codes are derived.
 *
 * @module
 */

/** Raised for an invalid Huffman-coded string. */
export class HuffmanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HuffmanError";
  }
}

// Code lengths in bits for symbols 0..256 (256 = EOS), RFC 7541 Appendix B.
const CODE_LENGTHS: readonly number[] = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28, // 0-15
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28, // 16-31
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6, // 32-47
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10, // 48-63
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7, // 64-79
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6, // 80-95
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5, // 96-111
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28, // 112-127
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23, // 128-143
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24, // 144-159
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23, // 160-175
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23, // 176-191
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25, // 192-207
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27, // 208-223
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23, // 224-239
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26, // 240-255
  30, // EOS
];

const EOS = 256;
const MAX_CODE_LENGTH = 30;

interface CanonicalTable {
  /** codes[symbol] = code value (right-aligned in its length). */
  codes: number[];
  /** For each length L: the first code of length L. */
  firstCode: number[];
  /** For each length L: index into `sorted` of the first symbol of length L. */
  firstIndex: number[];
  /** For each length L: how many symbols have length L. */
  count: number[];
  /** Symbols sorted by (length, symbol). */
  sorted: number[];
}

function buildTable(): CanonicalTable {
  const count = new Array<number>(MAX_CODE_LENGTH + 1).fill(0);
  for (const length of CODE_LENGTHS) count[length]++;
  const sorted = CODE_LENGTHS.map((length, symbol) => ({ length, symbol }))
    .sort((a, b) => a.length - b.length || a.symbol - b.symbol)
    .map((entry) => entry.symbol);
  const firstCode = new Array<number>(MAX_CODE_LENGTH + 1).fill(0);
  const firstIndex = new Array<number>(MAX_CODE_LENGTH + 1).fill(0);
  let code = 0;
  let index = 0;
  for (let length = 1; length <= MAX_CODE_LENGTH; length++) {
    firstCode[length] = code;
    firstIndex[length] = index;
    code = (code + count[length]) * 2;
    index += count[length];
  }
  const codes = new Array<number>(CODE_LENGTHS.length).fill(0);
  for (let length = 1; length <= MAX_CODE_LENGTH; length++) {
    for (let i = 0; i < count[length]; i++) codes[sorted[firstIndex[length] + i]] = firstCode[length] + i;
  }
  return { codes, firstCode, firstIndex, count, sorted };
}

const TABLE = buildTable();

/** The code and length of `symbol` (0–256), for tests and encoders. */
export function huffmanCode(symbol: number): { code: number; length: number } {
  return { code: TABLE.codes[symbol], length: CODE_LENGTHS[symbol] };
}

/**
 * Decode a Huffman-coded string. Throws {@link HuffmanError} for an EOS symbol in the data,
 * padding longer than 7 bits, or padding that is not all ones (RFC 7541 §5.2).
 */
export function huffmanDecode(input: Uint8Array): Uint8Array {
  const out: number[] = [];
  let code = 0;
  let length = 0;
  let allOnes = true;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      code = code * 2 + b;
      length++;
      if (b === 0) allOnes = false;
      const offset = code - TABLE.firstCode[length];
      if (offset >= 0 && offset < TABLE.count[length]) {
        const symbol = TABLE.sorted[TABLE.firstIndex[length] + offset];
        if (symbol === EOS) throw new HuffmanError("EOS symbol inside a Huffman-coded string");
        out.push(symbol);
        code = 0;
        length = 0;
        allOnes = true;
      } else if (length >= MAX_CODE_LENGTH) {
        throw new HuffmanError("invalid Huffman code");
      }
    }
  }
  if (length > 7) throw new HuffmanError("Huffman padding longer than 7 bits");
  if (!allOnes) throw new HuffmanError("Huffman padding is not all ones");
  return Uint8Array.from(out);
}

/** Huffman-encode bytes (pads with the EOS prefix: ones). */
export function huffmanEncode(input: Uint8Array): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const symbol of input) {
    const { code, length } = huffmanCode(symbol);
    for (let i = length - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** i) & 1);
      bits++;
      if (bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Uint8Array.from(out);
}

/** The Huffman-coded length of `input` in bytes. */
export function huffmanEncodedLength(input: Uint8Array): number {
  let bits = 0;
  for (const symbol of input) bits += CODE_LENGTHS[symbol];
  return Math.ceil(bits / 8);
}
