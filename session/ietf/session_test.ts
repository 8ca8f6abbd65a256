/**
 * Unit tests of the moq-transport session over in-memory transports: the drafts 14–16 handshake and
 * request-id rules, the draft-17+ SETUP, the legacy CLIENT_SETUP peek and the control-stream mux.
 */

import assert from "node:assert/strict";
import { silentLogger } from "../../log/mod.ts";
import { Origin, RelayStats } from "../../relay/mod.ts";
import type { SessionGrant } from "../../auth/mod.ts";
import { memoryTransportPair } from "../../testing/mod.ts";
import { type IetfProtocol, StreamReader } from "../../transport/mod.ts";
import { DecodeError } from "../../codec/mod.ts";
import { decodeControl, encodeControl } from "./control.ts";
import { type Draft, draftAlpn } from "./draft.ts";
import { SessionCode } from "./errors.ts";
import { peekClientSetup } from "./legacy.ts";
import { IetfSession } from "./session.ts";
import { ControlMux, MAX_QUEUED_REQUEST_MESSAGES } from "./_requests.ts";
import { readControl, readObject } from "./_io.ts";

const GRANT: SessionGrant = { root: "", publish: [""], subscribe: [""], internal: false, anonymous: true };

function start(draft: Draft) {
  const [client, server] = memoryTransportPair({
    protocol: draftAlpn(draft) as IetfProtocol,
  });
  const origin = new Origin({ logger: silentLogger() });
  const session = new IetfSession({
    id: 1,
    transport: server,
    draft,
    grant: GRANT,
    origin,
    stats: new RelayStats(),
    logger: silentLogger(),
  });
  return { client, server, session, origin };
}

Deno.test("draft-16: SERVER_SETUP grants MAX_REQUEST_ID; an odd client request id closes the session", async () => {
  const { client, session, origin } = start(16);
  const control = await client.openBidi();
  await control.send.write(encodeControl({ kind: "clientSetup", versions: [], options: [] }, 16));
  const reader = new StreamReader(control.recv);
  const reply = await readControl(reader, 16);
  assert.equal(reply?.kind, "serverSetup");
  assert.deepEqual(reply?.kind === "serverSetup" && reply.options.find((o) => o.type === 0x02)?.value, 256);
  await control.send.write(
    encodeControl({ kind: "publishNamespace", requestId: 1, namespace: ["x"], params: [] }, 16),
  );
  const info = await session.done;
  assert.equal(info.code, SessionCode.InvalidRequestId);
  origin.close();
});

Deno.test("draft-14: a CLIENT_SETUP without 0xff00000e closes the session with VERSION_NEGOTIATION_FAILED", async () => {
  const { client, session, origin } = start(14);
  const control = await client.openBidi();
  await control.send.write(encodeControl({ kind: "clientSetup", versions: [0xff00000d], options: [] }, 14));
  const info = await session.done;
  assert.equal(info.code, SessionCode.VersionNegotiationFailed);
  origin.close();
});

Deno.test("draft-18: the relay's SETUP arrives on a uni stream; requests before the peer's SETUP wait", async () => {
  const { client, session, origin } = start(18);
  const uni = await client.acceptUni();
  assert.ok(uni);
  const r = new StreamReader(uni);
  assert.equal(await r.u8(), 0xaf); // 0x2F00 as a two-byte leading-ones varint
  assert.equal(await r.u8(), 0x00);
  const len = (await r.u8() << 8) | await r.u8();
  assert.equal(decodeControl(0x2f00, await r.exact(len), 18).kind, "setup");
  // A request sent before our SETUP is answered only after it.
  const req = await client.openBidi();
  await req.send.write(
    encodeControl({ kind: "publishNamespace", requestId: 0, namespace: ["a"], params: [] }, 18),
  );
  const answer = readControl(new StreamReader(req.recv), 18);
  const early = await Promise.race([
    answer,
    new Promise((resolve) => setTimeout(() => resolve("none"), 100)),
  ]);
  assert.equal(early, "none");
  const setup = await client.openUni();
  await setup.write(encodeControl({ kind: "setup", options: [] }, 18));
  assert.equal((await answer)?.kind, "requestOk");
  assert.ok(origin.get("a"), "the namespace is announced in the origin");
  session.close(0, "done");
  await session.done;
  origin.close();
});

Deno.test("peekClientSetup reads the offered versions and replays every byte", async () => {
  const [client, server] = memoryTransportPair({ protocol: "" });
  const s = await client.openBidi();
  const setup = encodeControl({ kind: "clientSetup", versions: [0xff0dad02, 0xff00000e], options: [] }, 14);
  await s.send.write(setup.subarray(0, 3));
  await s.send.write(setup.subarray(3));
  await s.send.write(Uint8Array.of(9, 9));
  const peeked = await peekClientSetup(server, 1_000);
  assert.deepEqual(peeked.versions, [0xff0dad02, 0xff00000e]);
  const again = await peeked.transport.acceptBidi();
  assert.ok(again);
  const r = new StreamReader(again.recv);
  assert.deepEqual(await r.exact(setup.length + 2), Uint8Array.from([...setup, 9, 9]));
  client.close(0, "");
});

Deno.test("peekClientSetup: a first stream that is not CLIENT_SETUP offers nothing", async () => {
  const [client, server] = memoryTransportPair({ protocol: "" });
  const s = await client.openBidi();
  await s.send.write(Uint8Array.of(0x01, 0x02));
  const peeked = await peekClientSetup(server, 1_000);
  assert.deepEqual(peeked.versions, []);
  const again = await peeked.transport.acceptBidi();
  assert.deepEqual(await new StreamReader(again!.recv).exact(2), Uint8Array.of(1, 2));
  client.close(0, "");
});

Deno.test("ControlMux routes by request id and bounds each request's queue", async () => {
  const [a] = memoryTransportPair();
  const mux = new ControlMux(await a.openBidi(), 15);
  const req = mux.openIncoming(4);
  assert.ok(mux.deliver("incoming", 4, { kind: "unsubscribe", requestId: 4 }));
  assert.equal(mux.deliver("incoming", 6, { kind: "unsubscribe", requestId: 6 }), false);
  assert.equal((await req.next())?.kind, "unsubscribe");
  for (let i = 0; i < MAX_QUEUED_REQUEST_MESSAGES; i++) {
    mux.deliver("incoming", 4, { kind: "unsubscribe", requestId: 4 });
  }
  assert.throws(() => mux.deliver("incoming", 4, { kind: "unsubscribe", requestId: 4 }), DecodeError);
  mux.deliver("incoming", 4, null);
  assert.equal(mux.incoming.has(4), false);
  a.close(0, "");
});

Deno.test("readObject keeps the payload as an encoded frame in every varint form", async () => {
  for (const draft of [16, 18] as Draft[]) {
    const [a, b] = memoryTransportPair();
    const s = await a.openUni();
    const payload = new Uint8Array(300).fill(7);
    const w = draft >= 17 ? [0x00, 0x81, 0x2c] : [0x00, 0x41, 0x2c]; // delta 0, length 300
    await s.write(Uint8Array.from([...w, ...payload, 0x02, 0x00, 0x03])); // then id 3: empty, END_OF_GROUP
    const uni = await b.acceptUni();
    const r = new StreamReader(uni!);
    const o = await readObject(r, draft, undefined, false, 1 << 20);
    assert.equal(o.objectId, 0);
    assert.deepEqual(o.frame, Uint8Array.from([0x41, 0x2c, ...payload]));
    const end = await readObject(r, draft, 0, false, 1 << 20);
    assert.deepEqual([end.objectId, end.status, end.frame], [3, 3, undefined]);
    a.close(0, "");
  }
});

Deno.test("peekClientSetup closes a session that sends no CLIENT_SETUP in time", async () => {
  const [client, server] = memoryTransportPair({ protocol: "" });
  const peeked = await peekClientSetup(server, 50);
  assert.deepEqual(peeked.versions, []);
  const info = await client.closed;
  assert.equal(info.code, 3);
});
