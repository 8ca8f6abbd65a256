/**
 * Helpers for tests of the relay core (`relay/`): a track consumer that records what it is given.
 *
 * @module
 */

import type { Group, TrackConsumer } from "../relay/mod.ts";

/** A {@link TrackConsumer} that keeps every group it is offered and how the track closed. */
export class GroupCollector implements TrackConsumer {
  /** The groups offered, in order. */
  groups: Group[] = [];
  /** The close code (`null`: ended cleanly); `undefined` while the track is open. */
  closed: number | null | undefined = undefined;

  /** Record `g`. */
  onGroup(g: Group): void {
    this.groups.push(g);
  }

  /** Record the close `code`. */
  onClose(code: number | null): void {
    this.closed = code;
  }
}
