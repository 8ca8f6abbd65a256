/**
 * The relay's version, printed by `--version` as `moq-relay-deno <VERSION>`.
 *
 * @module
 */

/** Semantic version of this relay. */
export const VERSION = "0.1.0";

/** The program name used in `--version` and `--help`. */
export const PROGRAM_NAME = "moq-relay-deno";
