/**
 * Unit tests of session version negotiation over in-memory streams: the SETUP grace period
 * decides only on complete input.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { Origin, RelayStats } from "../relay/mod.ts";
import type { SessionGrant } from "../auth/mod.ts";
import { memoryTransportPair } from "../testing/mod.ts";
import {
  BidiType,
  decodeAnnounceInterest,
  decodeServerSetup,
  encodeClientSetup,
  Version,
} from "./messages.ts";
import { BodyReader } from "../codec/mod.ts";
import { StreamReader } from "../transport/mod.ts";
import { MoqSession, SETUP_GRACE_MS } from "./session.ts";

const GRANT: SessionGrant = { root: "", publish: [""], subscribe: [""], internal: false, anonymous: true };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function start() {
  const [client, server] = memoryTransportPair({ protocol: "moq-lite-04" });
  const session = new MoqSession({
    id: 1,
    transport: server,
    grant: GRANT,
    origin: new Origin({ logger: silentLogger() }),
    stats: new RelayStats(),
    logger: silentLogger(),
  });
  return { client, session };
}

/** The relay's first stream to the client must be an ANNOUNCE_INTEREST in `version`'s layout. */
async function expectInterest(client: ReturnType<typeof start>["client"], version: Version): Promise<void> {
  const s = await client.acceptBidi();
  assert.ok(s, "the relay opened an announce interest stream");
  const r = new StreamReader(s.recv);
  assert.equal(await r.varint(), BidiType.Announce);
  const interest = decodeAnnounceInterest(version, await r.message(4096));
  assert.equal(interest.prefix, "");
}

async function expectServerSetup(reader: StreamReader): Promise<number> {
  assert.equal(await reader.varint(), 0x21, "SERVER_SETUP");
  const len = (await reader.u8() << 8) | await reader.u8();
  return decodeServerSetup(new BodyReader(await reader.exact(len)));
}

Deno.test("a CLIENT_SETUP whose body arrives after the grace period still selects the legacy version", async () => {
  const { client, session } = start();
  const setup = encodeClientSetup([Version.Lite02, Version.Lite01]);
  const s = await client.openBidi();
  await s.send.write(setup.subarray(0, 1)); // the type byte only
  await sleep(SETUP_GRACE_MS + 150);
  await s.send.write(setup.subarray(1, 3)); // the length
  await sleep(50);
  await s.send.write(setup.subarray(3));
  assert.equal(await expectServerSetup(new StreamReader(s.recv)), Version.Lite02);
  await expectInterest(client, Version.Lite02);
  assert.equal(session.version, Version.Lite02);
  client.close(0, "done");
  await session.done;
});

Deno.test("a stream whose type byte arrives after the grace period decides the version", async () => {
  const { client, session } = start();
  const setup = encodeClientSetup([Version.Lite02]);
  const s = await client.openBidi();
  await sleep(SETUP_GRACE_MS + 150);
  await s.send.write(setup);
  assert.equal(await expectServerSetup(new StreamReader(s.recv)), Version.Lite02);
  await expectInterest(client, Version.Lite02);
  client.close(0, "done");
  await session.done;
});

Deno.test("without any stream the session starts as the negotiated lite-04 after the grace period", async () => {
  const { client, session } = start();
  await expectInterest(client, Version.Lite04);
  assert.equal(session.version, Version.Lite04);
  client.close(0, "done");
  const info = await session.done;
  assert.equal(info.code, 0);
});

Deno.test("a CLIENT_SETUP reset half-way closes the session with a protocol violation", async () => {
  const { client, session } = start();
  const s = await client.openBidi();
  await s.send.write(new Uint8Array([0x20, 0x00]));
  await sleep(20);
  s.send.reset(3);
  const info = await session.done;
  assert.equal(info.code, 15);
});

Deno.test("a first stream reset before its type byte does not keep the session from starting", async () => {
  const { client, session } = start();
  const s = await client.openBidi();
  await sleep(SETUP_GRACE_MS + 100);
  s.send.reset(0);
  await expectInterest(client, Version.Lite04);
  client.close(0, "done");
  await session.done;
});
