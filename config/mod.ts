/**
 * Public face of `config/`: other folders import only this module.
 *
 * @module
 */
export * from "./cli.ts";
export * from "./defaults.ts";
export * from "./keys.ts";
export * from "./load.ts";
export * from "./types.ts";
export * from "./version.ts";
