/**
 * What the parts of a WebSocket session share: the framing, the logger, whether the session is
 * closed, and how to send a control frame.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type { Frame, Framing } from "./framing.ts";

/** The session as its parts (flow control, stream table, send pump, receive path) see it. */
export interface SessionLink {
  /** The negotiated framing. */
  readonly framing: Framing;
  /** A qmux framing (transport parameters and flow control on) rather than `webtransport`. */
  readonly qmux: boolean;
  /** A record framing (`qmux-01`, `qmux-02`): several frames per message, QX_PING, idle timeout. */
  readonly records: boolean;
  /** The session's logger. */
  readonly log: Logger;
  /** True once the session is closed: nothing is sent, created or granted any more. */
  readonly closed: boolean;
  /** Send one control frame now (bypasses the stream queues). Never throws. */
  sendFrame(frame: Frame): void;
}
