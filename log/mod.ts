/**
 * Public face of `log/`: other folders import only this module.
 *
 * @module
 */
export * from "./logger.ts";
export * from "./redact.ts";
