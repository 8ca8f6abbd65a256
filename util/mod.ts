/**
 * Public face of `util/`: other folders import only this module.
 *
 * @module
 */
export * from "./async_queue.ts";
export * from "./host_port.ts";
export * from "./sleep.ts";
export * from "./fnv.ts";
