/**
 * The streams of a WebSocket session: creation (ours on open, the peer's on first sight of a new
 * id), the accept queues, and forgetting a stream once both halves are done.
 *
 * @module
 */

import type { FlowControl } from "./_flow_control.ts";
import { CLOSE_CODE_BOUNDS_EXCEEDED, PeerError } from "./_limits.ts";
import type { SessionLink } from "./_link.ts";
import {
  type Dir,
  isServerStream,
  type LocalStreamIds,
  type PeerStreamIds,
  streamDir,
  streamIndex,
} from "./_stream_ids.ts";
import { StreamState } from "./_stream_state.ts";

/** Every live stream of one session, by wire id, plus our streams that have no id yet. */
export class StreamTable {
  readonly #link: SessionLink;
  readonly #flow: FlowControl;
  readonly #isServer: boolean;
  readonly #localIds: LocalStreamIds;
  readonly #peerIds: PeerStreamIds;
  readonly #maxOpenStreams: number;

  readonly #streams = new Map<number, StreamState>();
  /** Streams we opened that have not sent a frame yet (no wire id; see {@link LocalStreamIds}). */
  readonly #unsentLocal = new Set<StreamState>();
  #peerOpenStreams = 0;
  #acceptQueue: Record<Dir, StreamState[]> = { bidi: [], uni: [] };
  #acceptWaiters: Record<Dir, Array<(state: StreamState | null) => void>> = { bidi: [], uni: [] };

  constructor(
    link: SessionLink,
    flow: FlowControl,
    isServer: boolean,
    ids: { local: LocalStreamIds; peer: PeerStreamIds },
    maxOpenStreams: number,
  ) {
    this.#link = link;
    this.#flow = flow;
    this.#isServer = isServer;
    this.#localIds = ids.local;
    this.#peerIds = ids.peer;
    this.#maxOpenStreams = maxOpenStreams;
  }

  /** The stream with wire id `id`, if it is live. */
  get(id: number): StreamState | undefined {
    return this.#streams.get(id);
  }

  /** A stream we open; its stream credit was already reserved (FlowControl.takeStreamCredit). */
  createLocal(dir: Dir): StreamState {
    const state = new StreamState(-1, dir, true, true);
    this.#flow.initStream(state);
    this.#unsentLocal.add(state);
    return state;
  }

  /** Give a local stream its wire id (on its first frame). */
  assignId(state: StreamState): void {
    state.id = this.#localIds.assign(state.dir);
    this.#unsentLocal.delete(state);
    this.#streams.set(state.id, state);
  }

  /** A local stream reset before its first frame: forget it and give its stream credit back. */
  dropUnsent(state: StreamState): void {
    this.#unsentLocal.delete(state);
    this.#localIds.release(state.dir);
    this.#flow.wakeOpenWaiters(state.dir);
  }

  /** Find the stream for a frame's id, creating peer streams on first sight; `undefined` = ignore. */
  lookup(id: number, create: boolean): StreamState | undefined {
    const existing = this.#streams.get(id);
    if (existing) return existing;
    if (isServerStream(id) === this.#isServer) return undefined; // ours: never opened, or finished and forgotten
    const dir = streamDir(id);
    const index = streamIndex(id);
    if (!this.#peerIds.isUnused(dir, index)) return undefined; // finished and forgotten
    if (!create) return undefined;
    this.#flow.checkPeerStreamLimit(dir, index, "opened");
    this.#peerIds.use(dir, index);
    if (this.#peerOpenStreams >= this.#maxOpenStreams) {
      throw new PeerError(
        CLOSE_CODE_BOUNDS_EXCEEDED,
        `too many concurrently open peer streams (limit ${this.#maxOpenStreams})`,
      );
    }
    const state = new StreamState(id, dir, false, false);
    this.#flow.initStream(state);
    this.#streams.set(id, state);
    this.#peerOpenStreams++;
    const waiter = this.#acceptWaiters[dir].shift();
    if (waiter) {
      state.accepted = true;
      waiter(state);
    } else {
      this.#acceptQueue[dir].push(state);
    }
    return state;
  }

  /** For a RESET_STREAM on a never-seen peer id: mark the id used; returns its direction or null. */
  useForResetOnly(id: number): Dir | null {
    if (isServerStream(id) === this.#isServer) return null;
    const dir = streamDir(id);
    const index = streamIndex(id);
    if (!this.#peerIds.isUnused(dir, index)) return null;
    this.#flow.checkPeerStreamLimit(dir, index, "reset");
    this.#peerIds.use(dir, index);
    return dir;
  }

  /** The next peer stream of `dir`, or `null` once the session is closed. */
  accept(dir: Dir): Promise<StreamState | null> {
    const queued = this.#acceptQueue[dir].shift();
    if (queued) {
      queued.accepted = true;
      this.maybeRelease(queued);
      return Promise.resolve(queued);
    }
    if (this.#link.closed) return Promise.resolve(null);
    const { promise, resolve } = Promise.withResolvers<StreamState | null>();
    this.#acceptWaiters[dir].push(resolve);
    return promise;
  }

  /** Forget a stream whose both halves are done; return stream credit for peer streams. */
  maybeRelease(state: StreamState): void {
    if (!state.accepted || !state.sendFinished || !state.recvFinished) return;
    if (this.#streams.get(state.id) !== state) return;
    this.#streams.delete(state.id);
    if (state.local) return;
    this.#peerOpenStreams--;
    this.#flow.retirePeerStream(state.dir);
  }

  /** Empty the table (the session closed): returns every stream it held; acceptors get `null`. */
  clear(): StreamState[] {
    const all = [...this.#streams.values(), ...this.#unsentLocal];
    this.#streams.clear();
    this.#unsentLocal.clear();
    for (const dir of ["bidi", "uni"] as const) {
      this.#acceptQueue[dir] = [];
      for (const resolve of this.#acceptWaiters[dir]) resolve(null);
      this.#acceptWaiters[dir] = [];
    }
    return all;
  }
}
