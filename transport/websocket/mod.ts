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
export type { SessionSocket } from "./_link.ts";
export {
  ConnUpgradeRequest,
  ConnWebSocket,
  type ConnWebSocketOptions,
  MAX_WS_MESSAGE_BYTES,
  MAX_WS_WRITE_QUEUE_BYTES,
  websocketAccept,
} from "./_conn_socket.ts";
