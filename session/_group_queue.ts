/**
 * The scheduling policy of one downstream subscription, shared by moq-lite (`_subscribe.ts`) and
 * moq-transport (`ietf/_publisher.ts`) subscribers: which of a track's groups get a stream, when,
 * and which are dropped when the subscriber falls behind (docs/relay.md §5).
 *
 * A group waits in the list until its turn (see {@link MAX_GROUPS_BEHIND}); a waiting group costs
 * its entry only (no stream, no task). Over the budget the oldest waiting groups are dropped
 * unopened first, then the oldest started ones are reset: a subscriber that cannot keep up gets
 * whole recent groups one after the other. Each pump {@link Group.hold holds} its group until the
 * subscription is done with it or passed over it, so the relay track can abandon groups nobody
 * will read (the consumer is `selective`).
 *
 * @module
 */

import type { Group } from "../relay/mod.ts";
import type { SendStream } from "../transport/mod.ts";

/** What one group stream in flight costs a subscriber's budget beyond its frames (pump and stream state). */
export const GROUP_STREAM_OVERHEAD_BYTES = 2048;

/**
 * Most group streams one subscription keeps open (started and not done); a newer group waits for
 * its turn beyond that, and at most this many wait (the oldest waiting one is dropped unopened).
 */
export const MAX_GROUPS_IN_FLIGHT = 16;

/**
 * A new group's stream opens only while fewer than this many older started groups of the
 * subscription are behind (frames not yet handed to the transport). Otherwise it waits; over the
 * budget, waiting groups are dropped unopened (reported like any dropped group) before a started
 * one is reset: a subscriber that cannot keep up gets whole groups one after the other instead of
 * every group started and then cut short (each reset also costs a stream).
 */
export const MAX_GROUPS_BEHIND = 1;

/** One group of a subscription: waiting for its turn, or served on a stream of its own. */
export class GroupPump {
  readonly group: Group;
  stream: SendStream | null = null;
  sentBytes = 0;
  cancelled = false;
  cancelCode = 0;
  /** Allowed to open its stream (see {@link MAX_GROUPS_BEHIND}). */
  started = false;
  /** Started, and every cached frame was handed to the transport. */
  caughtUp = false;
  /** Every frame handed to the transport and the group done: only the close is pending. */
  closing = false;
  /** This pump holds its group ({@link Group.hold}): it may still read it. */
  #held = true;

  constructor(group: Group) {
    this.group = group;
    group.hold();
  }

  /** The subscription is done with the group or passed over it: let go of it (once). */
  letGo(): void {
    if (!this.#held) return;
    this.#held = false;
    this.group.unhold();
  }

  /**
   * What this group stream costs until the subscriber has it: the stream itself, the frames not
   * written yet (their cache cost) and the bytes queued in the transport.
   */
  backlog(): number {
    return GROUP_STREAM_OVERHEAD_BYTES + this.group.totalBytes - this.sentBytes +
      (this.stream?.bufferedBytes ?? 0);
  }

  /** Stop serving the group (reset its stream if open) with `code`; once. */
  cancel(code: number): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelCode = code;
    this.stream?.reset(code);
  }
}

/** What differs between the protocols that serve a {@link GroupQueue}. */
export interface GroupQueueOptions {
  /** The backlog budget in bytes (`limits.subscriberQueueBytes`). */
  readonly limitBytes: number;
  /** The stream reset code of a dropped group (moq-lite `old`, moq-transport DELIVERY_TIMEOUT). */
  readonly dropCode: number;
  /**
   * Serve a pump whose turn came: open its stream and write its group, setting `caughtUp` /
   * `closing` as it goes and calling {@link GroupQueue.startWaiting} when they change, and
   * {@link GroupQueue.ended} once done. Must not throw.
   */
  serve(pump: GroupPump): void;
  /** A group was dropped before the subscriber had it (counted, reported on lite-05). */
  dropped(sequence: number, code: number): void;
}

/** The groups one subscription may still serve, in arrival order, and the policy over them. */
export class GroupQueue {
  readonly #options: GroupQueueOptions;
  readonly #pumps: GroupPump[] = [];
  /** Pumps in {@link #pumps} not started and not cancelled. */
  #waiting = 0;
  /**
   * What the groups dropped unopened since a group last started would have cost: the subscriber is
   * behind by that much too, so it counts against the budget (and, once that alone is too much,
   * resets the group it is stuck on, so the next one served is recent).
   */
  #skippedBytes = 0;
  #closed = false;

  constructor(options: GroupQueueOptions) {
    this.#options = options;
  }

  /** Groups waiting or in flight. */
  get size(): number {
    return this.#pumps.length;
  }

  /** Whether `group` is waiting or in flight already. */
  has(group: Group): boolean {
    for (const p of this.#pumps) if (p.group === group) return true;
    return false;
  }

  /**
   * Queue `group`; it starts when its turn comes. Call {@link GroupQueue.enforceBudget} first to
   * make room for it.
   */
  push(group: Group): void {
    if (this.#closed) return;
    this.#pumps.push(new GroupPump(group));
    this.#waiting++;
    this.startWaiting();
  }

  /**
   * Start the waiting groups whose turn it is, oldest first: a group starts while fewer than
   * {@link MAX_GROUPS_BEHIND} older started groups are behind and fewer than
   * {@link MAX_GROUPS_IN_FLIGHT} are started and not done.
   */
  startWaiting(): void {
    if (this.#waiting === 0 || this.#closed) return;
    let behind = 0, open = 0;
    for (const p of this.#pumps) {
      if (p.cancelled || p.closing) continue;
      if (!p.started) {
        if (open >= MAX_GROUPS_IN_FLIGHT || behind >= MAX_GROUPS_BEHIND) return;
        p.started = true;
        this.#waiting--;
        this.#skippedBytes = 0;
        this.#options.serve(p);
      }
      open++;
      if (!p.caughtUp) behind++;
    }
  }

  /** `pump`'s task is over: it leaves the list, and a waiting group may start. */
  ended(pump: GroupPump): void {
    this.forget(pump);
    this.startWaiting();
  }

  /**
   * Make room for one more group: drop the oldest groups while too many wait or the backlog
   * exceeds the budget. Every iteration removes one pump, so the loops always end.
   */
  enforceBudget(): void {
    const pumps = this.#pumps;
    // Open groups are capped by startWaiting; the ones waiting for their turn are capped here,
    // the oldest dropped first (never opened).
    for (let i = 0; this.#waiting >= MAX_GROUPS_IN_FLIGHT && i < pumps.length; i++) {
      const p = pumps[i];
      if (p.started || p.cancelled) continue;
      this.#drop(p);
      i--;
    }
    // Over budget: drop the oldest groups still waiting first (never opened: no stream to reset,
    // and the subscriber gets whole groups), then reset the oldest started ones.
    const limit = this.#options.limitBytes;
    let total = this.#skippedBytes;
    for (const p of pumps) total += p.backlog();
    let skipped = 0;
    for (let i = 0; total > limit && i < pumps.length; i++) {
      const p = pumps[i];
      if (p.started) continue;
      const cost = p.backlog();
      total -= cost;
      skipped += cost;
      this.#drop(p);
      i--;
    }
    this.#skippedBytes += skipped;
    while (total > limit && pumps.length > 0) {
      const p = pumps[0];
      total -= p.backlog();
      if (p.started) {
        total -= this.#skippedBytes;
        this.#skippedBytes = 0;
      }
      this.#drop(p);
    }
  }

  /** Take `p` out of the list (always) and reset its stream if it still runs. */
  #drop(p: GroupPump): void {
    this.forget(p);
    if (p.cancelled) return;
    if (!p.started) this.#waiting--;
    const code = this.#options.dropCode;
    p.cancel(code);
    this.#options.dropped(p.group.sequence, code);
  }

  /** Remove `p` from the list and let go of its group; a pump the peer stopped no longer counts. */
  forget(p: GroupPump): void {
    p.letGo();
    const i = this.#pumps.indexOf(p);
    if (i >= 0) this.#pumps.splice(i, 1);
  }

  /** The peer stopped `p`'s stream with `code`: it no longer counts, a waiting group may start. */
  stopped(p: GroupPump, code: number): void {
    p.cancel(code);
    this.forget(p);
    this.startWaiting();
  }

  /** Unsubscribe: cancel every group waiting or in flight with `code`. */
  close(code: number): void {
    this.#closed = true;
    this.#waiting = 0;
    for (const p of this.#pumps.splice(0)) {
      p.cancel(code);
      p.letGo();
    }
  }
}
