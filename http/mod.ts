/**
 * Public face of `http/`: other folders import only this module.
 *
 * @module
 */
export * from "./console.ts";
export * from "./internal.ts";
export * from "./metrics.ts";
export * from "./peer_count.ts";
export * from "./responses.ts";
export * from "./serve.ts";
export * from "./stats_json.ts";
export * from "./web.ts";
