/**
 * Public face of `transport/websocket/`: other folders import only this module.
 *
 * @module
 */
export * from "./framing.ts";
export * from "./subprotocol.ts";
export * from "./upgrade.ts";
export type { WebSocketSession } from "./_websocket_session.ts";
