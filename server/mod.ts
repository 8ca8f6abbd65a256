/**
 * Public face of `server/`: other folders import only this module.
 *
 * @module
 */
export * from "./admission.ts";
export * from "./certificates.ts";
export * from "./start.ts";
