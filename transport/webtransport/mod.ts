/**
 * Public face of `transport/webtransport/`: other folders import only this module.
 *
 * @module
 */
export * from "./client.ts";
export * from "./h3.ts";
export * from "./h3_connection.ts";
export * from "./raw_h3_client.ts";
export * from "./session.ts";
