/**
 * Public face of `cluster/`: other folders import only this module.
 *
 * @module
 */
export * from "./cluster.ts";
export * from "./origin_id.ts";
export { ClusterConfigError } from "./_preflight.ts";
export { GOSSIP_DIAL_GRACE_MS, gossipDialer } from "./_gossip_policy.ts";
export { ACCEPTED_SILENCE_MS, AcceptedLinks } from "./_accepted.ts";
