/**
 * Public face of `transport/quic/`: other folders import only this module.
 *
 * @module
 */
export * from "./dial.ts";
export * from "./errors.ts";
export * from "./hooks.ts";
export * from "./quic_session.ts";
export * from "./streams.ts";
