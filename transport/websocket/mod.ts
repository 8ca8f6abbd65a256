/**
 * Public face of `transport/websocket/`: other folders import only this module.
 *
 * @module
 */
export * from "./framing.ts";
export * from "./subprotocol.ts";
export * from "./upgrade.ts";
export { WebSocketSession, type WebSocketSessionOptions } from "./_websocket_session.ts";
export type { WebSocketSessionLimits } from "./_limits.ts";
