import assert from "node:assert/strict";
import { silentLogger } from "../../log/mod.ts";
import { type BroadcastSource, Origin, RelayStats, type Track } from "../../relay/mod.ts";
import type { SessionGrant } from "../../auth/mod.ts";
import { encodeFrame as frame, memoryTransportPair, sleep, within } from "../../testing/mod.ts";
import { type IetfProtocol, StreamReader, StreamResetError } from "../../transport/mod.ts";
import { DEFAULT_LIMITS } from "../context.ts";
import { encodeControl } from "./control.ts";
import { draftAlpn } from "./draft.ts";
import { IetfSession } from "./session.ts";
import { readControl, readDraftVarint, readObject } from "./_io.ts";

const GRANT: SessionGrant = { root: "", publish: [""], subscribe: [""], internal: false, anonymous: true };

Deno.test("draft-14: a subscriber that cannot keep up gets whole recent groups; passed-over groups are let go", async () => {
  // The peer reads 4 KiB at a time: a 16 KiB group is behind until the test reads it.
  const [client, server] = memoryTransportPair({
    protocol: draftAlpn(14) as IetfProtocol,
    windowBytes: 4096,
  });
  const origin = new Origin({ logger: silentLogger() });
  const stats = new RelayStats();
  const session = new IetfSession({
    id: 1,
    transport: server,
    draft: 14,
    grant: GRANT,
    origin,
    stats,
    logger: silentLogger(),
    limits: { ...DEFAULT_LIMITS, subscriberQueueBytes: 64 * 1024 },
  });
  const tracks: Track[] = [];
  const source: BroadcastSource = {
    label: "test source",
    hops: [],
    subscribe(track) {
      tracks.push(track);
      queueMicrotask(() => track.ready());
      return { cancel: () => {} };
    },
  };
  origin.publish("b", source);
  const control = await client.openBidi();
  const reader = new StreamReader(control.recv);
  await control.send.write(encodeControl({ kind: "clientSetup", versions: [0xff00000e], options: [] }, 14));
  assert.equal((await readControl(reader, 14))?.kind, "serverSetup");
  await control.send.write(encodeControl({
    kind: "subscribe",
    requestId: 0,
    namespace: ["b"],
    name: "t",
    subscriberPriority: 128,
    groupOrder: 0,
    forward: true,
    filter: { type: "largestObject" },
    params: [],
  }, 14));
  let reply = await readControl(reader, 14);
  while (reply?.kind === "maxRequestId") reply = await readControl(reader, 14);
  assert.equal(reply?.kind, "subscribeOk");
  const track = tracks[0];
  const payload = (seq: number) => new Uint8Array(16 * 1024).fill(seq + 1);
  // Six groups arrive while the subscriber is behind on the first; they stay open for now.
  const groups = [];
  for (let seq = 0; seq < 6; seq++) {
    const g = track.startGroup(seq);
    g.append(frame(payload(seq)));
    groups.push(g);
  }
  await sleep(50);
  // The groups passed over (dropped unopened) are let go of, so the track stops reading them.
  assert.ok(
    track.groupsAbandoned + track.groupsSkipped > 0,
    `passed-over groups abandoned: ${track.groupsAbandoned}, skipped: ${track.groupsSkipped}`,
  );
  for (const g of groups) if (g.state === "open") g.finish();
  const received: number[] = [];
  while (received.at(-1) !== 5) {
    const uni = (await within(2_000, "a subgroup stream", client.acceptUni()))!;
    const r = new StreamReader(uni);
    let seq = -1;
    try {
      await readDraftVarint(r, 14); // stream type
      assert.equal(await readDraftVarint(r, 14), 0, "track alias");
      seq = await readDraftVarint(r, 14);
      await r.u8(); // publisher priority
      assert.ok(seq > (received.at(-1) ?? -1), `groups in order: ${received}, ${seq}`);
      received.push(seq);
      const o = await readObject(r, 14, undefined, false, 1 << 20);
      assert.deepEqual(o.frame, frame(payload(seq)));
      assert.equal(await r.done(), true);
    } catch (err) {
      if (err instanceof StreamResetError) assert.fail(`group ${seq} was cut short (reset ${err.code})`);
      throw err;
    }
  }
  assert.ok(received.length < 6, `some groups were passed over: ${received}`);
  session.close(0, "done");
  await session.done;
  origin.close();
});
