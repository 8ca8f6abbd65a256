/**
 * Public face of `transport/`: other folders import only this module.
 *
 * @module
 */
export * from "./chunk_writer.ts";
export * from "./server.ts";
export * from "./stream_reader.ts";
export * from "./types.ts";
export * from "./quic/mod.ts";
export * from "./tls/mod.ts";
export * from "./websocket/mod.ts";
export * from "./stream/mod.ts";
export * from "./webtransport/mod.ts";
export * from "./versions.ts";
