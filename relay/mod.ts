/**
 * Public face of `relay/`: other folders import only this module.
 *
 * @module
 */
export * from "./broadcast.ts";
export * from "./group.ts";
export * from "./origin.ts";
export * from "./path.ts";
export * from "./stats.ts";
export * from "./track.ts";
