/**
 * Attack tests (project issue 13): each attack runs against a real relay process while a
 * legitimate `@moq/lite` pair streams alongside ({@link Guard}); the relay must stay responsive,
 * alive, under a memory bound, and keep delivering the pair's groups byte-exact.
 */

import assert from "node:assert/strict";
import { e2e, type RelayOptions, sleep, within } from "./harness.ts";
import { Guard } from "./guard.ts";
import { eventually } from "./moq.ts";
import { encodeFrame, RawMoqPeer } from "./raw_moq.ts";

const ATTACK: RelayOptions = { internal: true, log: "warn" };
/** RSS bound for attacks that should cost the relay next to nothing. */
const SMALL_RSS_MIB = 200;

e2e("attack: STOP_SENDING the oldest of 16 open groups, then a 17th group (budget loop)", async (relay) => {
  const guard = await Guard.start(relay, SMALL_RSS_MIB);
  const pub = await RawMoqPeer.connect(relay.port);
  await pub.announce("atk");
  const sub = await RawMoqPeer.connect(relay.port);
  const subscribing = sub.subscribe(1n, "atk", "t");
  const up = await pub.request();
  await within(5_000, "SUBSCRIBE_OK", subscribing);
  const open = [];
  for (let seq = 0; seq < 16; seq++) {
    const s = await pub.openGroup(up.msg.id, seq);
    await s.write(encodeFrame(new Uint8Array([seq])));
    open.push(s);
  }
  await eventually("16 group streams reach the subscriber", () => sub.groups.length >= 16, 5_000);
  sub.groups.find((g) => g.sequence === 0)!.stream.stop(7);
  await sleep(200);
  const s16 = await pub.openGroup(up.msg.id, 16);
  await s16.write(encodeFrame(new Uint8Array([16])));
  await s16.close();
  await eventually("group 16 reaches the subscriber", () => sub.groups.some((g) => g.sequence === 16), 5_000);
  await guard.verify();
  pub.close();
  sub.close();
}, ATTACK);
