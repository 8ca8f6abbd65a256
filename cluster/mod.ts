/**
 * Public face of `cluster/`: other folders import only this module.
 *
 * @module
 */
export * from "./cluster.ts";
export * from "./origin_id.ts";
export { ClusterConfigError } from "./_preflight.ts";
