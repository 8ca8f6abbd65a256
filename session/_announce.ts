/**
 * Serving an Announce stream the peer opened: the current set of broadcasts under its prefix
 * (within its subscribe scope), then live updates, coalesced per path for slow readers.
 *
 * @module
 */

import { isInternalPath } from "../auth/mod.ts";
import { type AnnounceEvent, stripPrefix } from "../relay/mod.ts";
import type { BidiStream, StreamReader } from "../transport/mod.ts";
import { discardRest, type SessionContext } from "./context.ts";
import { type AnnounceInterest, encodeAnnounce, encodeAnnounceInit, isLegacy, Version } from "./messages.ts";
import { encodeAnnounceBroadcast, encodeAnnounceOk } from "./lite05.ts";

interface Pending {
  active: boolean;
  hops: bigint[];
  /** The path was replaced (ended then active) since the peer last heard of it. */
  replaced: boolean;
}

/**
 * Answer one ANNOUNCE_INTEREST until the peer FINs, the stream fails or the session ends.
 * Never writes `ended` for a path the peer does not know, nor two `active` in a row — except on
 * moq-lite-05, where a second `active` is a restart (route change) and replaces an ended/active
 * flap. lite-05 opens with ANNOUNCE_OK (our hop id, the size of the initial set) and leaves our own
 * hop off each chain: the receiver appends ANNOUNCE_OK's hop id (draft-lcurley-moq-lite-05).
 */
export async function serveAnnounce(
  ctx: SessionContext,
  stream: BidiStream,
  reader: StreamReader,
  interest: AnnounceInterest,
): Promise<void> {
  const prefix = ctx.scope.absolute(interest.prefix);
  // Only relays state their id, and only a cluster member (internal credential) is trusted with
  // route state: anyone else gets no hop ids and no split-horizon filtering.
  const excludeHop = ctx.scope.internal ? interest.excludeHop : 0n;
  const sendHops = excludeHop !== 0n;
  const lite05 = ctx.version === Version.Lite05;
  // Valley-free export (docs/relay.md §6.2): over a link we dialed, no route learned over another
  // link we dialed (an edge does not carry one core's broadcasts to its other core); cluster
  // state under `.internal/` (gossip) always flows.
  const dialed = ctx.scope.dialed;
  const visible = (e: AnnounceEvent) =>
    ctx.scope.canSubscribe(e.path) && !(excludeHop !== 0n && e.hops.includes(excludeHop)) &&
    !(dialed && ctx.origin.get(e.path)?.active?.upstream === true && !isInternalPath(e.path));

  const known = new Set<string>();
  const pending = new Map<string, Pending>();
  const waker: { wake: (() => void) | null } = { wake: null };
  const onEvent = (e: AnnounceEvent) => {
    let active = e.active;
    if (active && !visible(e)) {
      // Split horizon (docs/relay.md §6.2): a route change onto a chain that contains this peer
      // withdraws the path from it (a stale route back through us would keep a ghost alive).
      if (!e.reroute) return;
      active = false;
    }
    const p = pending.get(e.path);
    if (active && e.reroute) {
      // Still visible after a route change: the peer keeps what it knows (lite-04 cannot update a
      // chain without an ended/active flap); an unsent withdrawal is cancelled.
      if (p?.active) p.hops = e.hops;
      else if (lite05 && sendHops && known.has(e.path)) {
        pending.set(e.path, { active: true, hops: e.hops, replaced: true });
      } else if (known.has(e.path)) pending.delete(e.path);
      else pending.set(e.path, { active: true, hops: e.hops, replaced: false });
    } else if (active) {
      const replaced = (p !== undefined && !p.active) || (p === undefined && known.has(e.path)) ||
        (p?.replaced ?? false);
      pending.set(e.path, { active: true, hops: e.hops, replaced });
    } else {
      if (!known.has(e.path) && (p === undefined || p.active)) {
        // announce-then-ended cancels out for a path the peer never heard of
        pending.delete(e.path);
      } else {
        pending.set(e.path, { active: false, hops: [], replaced: false });
      }
    }
    waker.wake?.();
  };

  const watch = ctx.origin.watch(prefix, onEvent, { routes: sendHops });
  const ownHop = BigInt(ctx.originId);
  const hopsFor = (
    hops: bigint[],
  ) => (sendHops && ownHop !== 0n && !lite05 ? [...hops, ownHop] : sendHops ? hops : []);
  const encode = (active: boolean, suffix: string, hops: bigint[]): Uint8Array =>
    lite05
      ? encodeAnnounceBroadcast({ active, suffix, hops })
      : encodeAnnounce(ctx.version, { active, suffix, hops });
  const suffixOf = (path: string) => stripPrefix(path, prefix);
  let finished = false;
  const stopped = () => finished || ctx.signal.aborted;

  // The peer FINs (or resets) its side to stop; we then FIN ours.
  const peerDone = (async () => {
    try {
      await discardRest(reader); // nothing is expected after the interest; skip whatever comes
    } catch {
      // reset or session loss: same outcome
    }
    finished = true;
    waker.wake?.();
  })();

  try {
    const initial = watch.initial.filter(visible);
    // Known before the writes: an ended (or a withdrawal) arriving while the initial set is being
    // written must still reach the peer afterwards, not cancel out.
    for (const e of initial) known.add(e.path);
    if (isLegacy(ctx.version)) {
      await stream.send.write(encodeAnnounceInit(initial.map((e) => suffixOf(e.path))));
    } else {
      if (lite05) {
        await stream.send.write(encodeAnnounceOk({ hop: ownHop, activeCount: initial.length }));
      }
      for (const e of initial) {
        await stream.send.write(encode(true, suffixOf(e.path), hopsFor(e.hops)));
        ctx.stats.announced("out", e.path, true);
      }
    }
    // Drop pending updates that the initial set already reflects.
    for (const e of initial) {
      const p = pending.get(e.path);
      if (p && p.active && !p.replaced) pending.delete(e.path);
    }

    while (!stopped()) {
      if (pending.size === 0) {
        await new Promise<void>((resolve) => {
          waker.wake = resolve;
        });
        waker.wake = null;
        continue;
      }
      const [path, p] = pending.entries().next().value as [string, Pending];
      pending.delete(path);
      const suffix = suffixOf(path);
      if (p.active) {
        if (known.has(path)) {
          if (!p.replaced) continue;
          if (!lite05) await stream.send.write(encode(false, suffix, []));
          ctx.stats.announced("out", path, false);
        }
        await stream.send.write(encode(true, suffix, hopsFor(p.hops)));
        ctx.stats.announced("out", path, true);
        known.add(path);
      } else if (known.has(path)) {
        await stream.send.write(encode(false, suffix, []));
        ctx.stats.announced("out", path, false);
        known.delete(path);
      }
    }
  } catch (err) {
    ctx.log.debug("announce stream ended", { prefix, error: String(err) });
  } finally {
    watch.stop();
    finished = true;
    // What the peer still holds ends with the stream.
    for (const path of known) ctx.stats.announced("out", path, false);
    await stream.send.close();
    await peerDone;
  }
}
