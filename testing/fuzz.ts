/**
 * Shared settings for the `*_fuzz_test.ts` property tests: how many runs each property gets.
 * `deno task test` uses fast-check's default (100 runs, a few seconds in total); `deno task fuzz`
 * sets `FUZZ_RUNS` (e.g. 200000) for a run of minutes.
 *
 * @module
 */

// Test-only: pinned here, not in deno.json (tests/deps_test.ts).
// deno-lint-ignore no-import-prefix
import fc from "npm:fast-check@4.11.0";

/** `fast-check`, pinned here once for every fuzz test (test-only: not in deno.json). */
export { fc };

/** The default number of runs per property when `FUZZ_RUNS` is unset. */
export const DEFAULT_FUZZ_RUNS = 100;

/** Runs per property: `FUZZ_RUNS` from the environment, else {@link DEFAULT_FUZZ_RUNS}. */
export function fuzzRuns(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("FUZZ_RUNS");
  } catch {
    text = undefined; // no --allow-env: use the default
  }
  const runs = Number(text);
  return text !== undefined && Number.isSafeInteger(runs) && runs > 0 ? runs : DEFAULT_FUZZ_RUNS;
}

/** fast-check parameters for every fuzz property (the run count above; seed printed on failure). */
export function fuzzParams<T>(): fc.Parameters<T> {
  return { numRuns: fuzzRuns() };
}

/** A constructor of an error class a decoder is allowed to throw. */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

/** Raised when a decoder throws something outside its declared error classes. */
export class UnexpectedThrowError extends Error {
  constructor(what: string, error: unknown) {
    super(
      `${what} threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, ` +
        "which is not one of its declared error classes: map it to the codec's own error",
      { cause: error },
    );
    this.name = "UnexpectedThrowError";
  }
}

/**
 * Run `decode`; return its result, or `undefined` when it threw one of `allowed`. Anything else
 * thrown becomes an {@link UnexpectedThrowError} (which fails the property).
 */
export function decodeOrReject<T>(
  what: string,
  allowed: readonly ErrorClass[],
  decode: () => T,
): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (allowed.some((cls) => error instanceof cls)) return undefined;
    throw new UnexpectedThrowError(what, error);
  }
}

/** Async form of {@link decodeOrReject}. */
export async function decodeOrRejectAsync<T>(
  what: string,
  allowed: readonly ErrorClass[],
  decode: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await decode();
  } catch (error) {
    if (allowed.some((cls) => error instanceof cls)) return undefined;
    throw new UnexpectedThrowError(what, error);
  }
}

/** Bytes with a size skewed towards small inputs, up to `maxLength`. */
export function bytes(maxLength = 256): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ maxLength });
}

/**
 * Decoded output must not outgrow the input: `size` (bytes, elements or characters the decoder
 * produced) must be at most `factor · inputBytes + constant`.
 */
export function assertBounded(
  what: string,
  size: number,
  inputBytes: number,
  factor = 1,
  constant = 64,
): void {
  if (size > factor * inputBytes + constant) {
    throw new UnboundedDecodeError(
      `${what}: decoded ${size} units from ${inputBytes} input bytes (bound ${factor}x + ${constant})`,
    );
  }
}

/** Raised when a decoder produced more than its input can justify. */
export class UnboundedDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnboundedDecodeError";
  }
}

/** Longest run of one repeated byte that {@link mutated} inserts. */
export const MAX_RUN_BYTES = 300;

/**
 * Bytes derived from a valid encoding by a few random edits (overwrite, insert, delete, truncate, or
 * insert a run of up to {@link MAX_RUN_BYTES} copies of one byte — long varint/prefix-integer
 * continuations), so decoders are exercised past their first field as well as by {@link bytes}.
 */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(
    fc.constantFrom("set", "insert", "delete", "truncate", "run"),
    fc.nat(),
    fc.nat(255),
    fc.nat(MAX_RUN_BYTES),
  );
  return fc.tuple(valid, fc.array(edit, { maxLength: 4 })).map(([input, edits]) => {
    const out = [...input];
    for (const [kind, at, value, runLength] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (kind === "set" && out.length > 0) out[i] = value;
      else if (kind === "insert") out.splice(i, 0, value);
      else if (kind === "delete") out.splice(i, 1);
      else if (kind === "truncate") out.length = i;
      else if (kind === "run") {
        // Half of the runs are 0x80: continuation bytes that carry no value bits.
        out.splice(i, 0, ...new Array<number>(runLength).fill(value % 2 === 0 ? 0x80 : value));
      }
    }
    return Uint8Array.from(out);
  });
}
