/**
 * Teardown of a WebSocket session: every pending operation of every stream settles exactly once,
 * and the session's parts let go of their streams and timers.
 *
 * @module
 */

import { type CloseInfo, SessionClosedError } from "../types.ts";
import type { FlowControl } from "./_flow_control.ts";
import type { SendPump } from "./_send_pump.ts";
import type { StreamTable } from "./_stream_table.ts";

/**
 * Settle everything the application waits on after the session closed with `info`: writes,
 * reads, opens and accepts fail with a {@link SessionClosedError} (accepts get `null`), `close()`
 * and `stopped` resolve.
 */
export function settleOnClose(
  parts: { table: StreamTable; pump: SendPump; flow: FlowControl },
  info: CloseInfo,
): void {
  parts.pump.stop();
  const closedError = new SessionClosedError(
    `the WebSocket session is closed (code ${info.code}${info.reason ? `: ${info.reason}` : ""})`,
  );
  for (const state of parts.table.clear()) {
    if (state.sendState === "open") state.abandonSend(closedError);
    state.resolveStopped(-1);
    if (state.recvState === "open") {
      state.chunks = [];
      for (const waiter of state.readWaiters) waiter.reject(closedError);
      state.readWaiters = [];
    }
  }
  parts.flow.rejectOpenWaiters(closedError);
}
