/**
 * Public face of `transport/tls/`: other folders import only this module.
 *
 * @module
 */
export * from "./pem.ts";
export * from "./self_signed.ts";
