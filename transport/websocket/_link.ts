/**
 * What the parts of a WebSocket session share: the framing mode, the logger, whether the session
 * is closed, and how to send a control frame.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type { Frame } from "./framing.ts";

/** The session as its parts (flow control, stream table, send pump, receive path) see it. */
export interface SessionLink {
  /** `qmux-00` framing (flow control on) rather than `webtransport` framing. */
  readonly qmux: boolean;
  /** The session's logger. */
  readonly log: Logger;
  /** True once the session is closed: nothing is sent, created or granted any more. */
  readonly closed: boolean;
  /** Send one control frame now (bypasses the stream queues). Never throws. */
  sendFrame(frame: Frame): void;
}
