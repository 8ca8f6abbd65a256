import assert from "node:assert/strict";
import { serveAnnounce } from "./_announce.ts";
import { type TestContext, testContext, type TestContextOptions, TestSource } from "./_test_context.ts";
import {
  type Announce,
  BidiType,
  decodeAnnounce,
  decodeAnnounceInterest,
  encodeAnnounceInterest,
  encodeStreamType,
  Version,
} from "./messages.ts";
import { StreamReader } from "../transport/mod.ts";

/** The peer opens an interest; the relay side serves it; `next()` reads one ANNOUNCE. */
async function interest(t: TestContext, prefix: string, excludeHop: number | bigint = 0) {
  const stream = await t.peer.openBidi();
  // Not awaited yet: with a tiny window the writes wait for the relay side to read.
  const writing = (async () => {
    await stream.send.write(encodeStreamType(BidiType.Announce));
    await stream.send.write(
      encodeAnnounceInterest(Version.Lite04, { prefix, excludeHop: BigInt(excludeHop) }),
    );
  })();
  const server = (await t.ctx.transport.acceptBidi())!;
  const reader = new StreamReader(server.recv);
  assert.equal(await reader.varint(), BidiType.Announce);
  const msg = decodeAnnounceInterest(Version.Lite04, await reader.message(4096));
  await writing;
  const serving = serveAnnounce(t.ctx, server, reader, msg);
  const peerReader = new StreamReader(stream.recv);
  const next = async (): Promise<Announce> => decodeAnnounce(Version.Lite04, await peerReader.message(4096));
  return { stream, serving, next, peerReader };
}

function setup(options: TestContextOptions = {}) {
  return testContext({ version: Version.Lite04, ...options });
}

Deno.test("announce: the current set first, then live changes under the prefix only", async () => {
  const t = setup();
  const a = t.origin.publish("room/a", new TestSource());
  t.origin.publish("other/x", new TestSource());
  const i = await interest(t, "room");
  assert.deepEqual(await i.next(), { active: true, suffix: "a", hops: [] });
  t.origin.publish("room/b", new TestSource());
  assert.deepEqual(await i.next(), { active: true, suffix: "b", hops: [] });
  a.end(false);
  assert.deepEqual(await i.next(), { active: false, suffix: "a", hops: [] });
  await i.stream.send.close();
  await i.serving;
  assert.equal(await i.peerReader.done(), true, "the relay FINs once the peer did");
  t.end();
});

Deno.test("announce: a path announced and ended before it was sent cancels out", async () => {
  const t = setup({ windowBytes: 1 }); // every write waits for the reader: updates pile up
  const i = await interest(t, "");
  const keep = t.origin.publish("keep", new TestSource());
  const flap = t.origin.publish("flap", new TestSource());
  flap.end(false);
  assert.deepEqual(await i.next(), { active: true, suffix: "keep", hops: [] });
  keep.end(false);
  assert.deepEqual(await i.next(), { active: false, suffix: "keep", hops: [] });
  t.origin.publish("last", new TestSource());
  assert.deepEqual(await i.next(), { active: true, suffix: "last", hops: [] }, "flap never appeared");
  t.end();
});

Deno.test("announce: hop ids go only to cluster peers, with this relay's id appended", async () => {
  const plain = setup({ originId: 42 });
  plain.origin.publish("p", new TestSource([7]));
  const i = await interest(plain, "", 99);
  assert.deepEqual(
    await i.next(),
    { active: true, suffix: "p", hops: [] },
    "a plain client gets no route state",
  );
  plain.end();

  const peer = setup({ originId: 42, grant: { internal: true, anonymous: false } });
  peer.origin.publish("p", new TestSource([7]));
  peer.origin.publish("loop", new TestSource([99, 5]));
  const j = await interest(peer, "", 99);
  assert.deepEqual(await j.next(), { active: true, suffix: "p", hops: [7n, 42n] });
  peer.origin.publish("z", new TestSource([1]));
  assert.deepEqual(
    await j.next(),
    { active: true, suffix: "z", hops: [1n, 42n] },
    "loop (via 99) was withheld",
  );
  peer.end();
});

Deno.test("announce: hop ids above 2^53 stay exact, for split horizon and on the wire", async () => {
  // A peer relay with a large random id (moq-relay draws 62-bit ids): as doubles, 2^60 and
  // 2^60 + 1 are the same number, so rounding would both withhold the wrong route and forward a
  // chain in which the peer cannot find its own id.
  const big = 1n << 60n;
  const peer = setup({ originId: 42, grant: { internal: true, anonymous: false } });
  peer.origin.publish("mine", new TestSource([big + 1n]));
  peer.origin.publish("other", new TestSource([big]));
  const j = await interest(peer, "", big);
  assert.deepEqual(await j.next(), { active: true, suffix: "mine", hops: [big + 1n, 42n] });
  peer.origin.publish("z", new TestSource([(1n << 62n) - 1n]));
  assert.deepEqual(
    await j.next(),
    { active: true, suffix: "z", hops: [(1n << 62n) - 1n, 42n] },
    "the route through the excluded hop (other) was withheld, the exact neighbour id was not",
  );
  peer.end();
});
