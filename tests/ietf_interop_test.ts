/**
 * The IETF MoQT interop runner's test cases (englishm/moq-interop-runner `docs/tests/TEST-CASES.md`)
 * re-implemented against the relay with a raw moq-transport client, for every draft from 17 on
 * (the runner targets draft-18). docs/ietf.md §9 has the pass table.
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  expectReply,
  publishNamespaceRequest,
  publishRequest,
  RawIetfPeer,
  sleep,
  subscribeRequest,
  within,
} from "../testing/mod.ts";

const NS = ["moq-test", "interop"];
const PUBLISH_NS = ["moq-test", "publish"];
const text = (s: string) => new TextEncoder().encode(s);

for (const draft of [14, 15, 16, 17, 18, 19, 20] as Draft[]) {
  const opts = { server: `version = ["moq-transport-${draft}"]` };
  // Draft-14 answers with per-message replies; 15–16 PUBLISH with PUBLISH_OK; else REQUEST_OK / _ERROR.
  const nsOk = draft === 14 ? "publishNamespaceOk" : "requestOk";
  const subErr = draft === 14 ? "subscribeError" : "requestError";
  const pubOk = draft <= 16 ? "publishOk" : "requestOk";

  e2e(`interop d${draft} setup-only`, async (relay) => {
    const peer = await within(2_000, "connect", RawIetfPeer.connect(relay.port, draft));
    assert.equal(peer.setup?.kind, draft <= 16 ? "serverSetup" : "setup");
    peer.close();
    const info = await peer.transport.closed;
    assert.equal(info.code, 0);
  }, opts);

  e2e(`interop d${draft} announce-only`, async (relay) => {
    const peer = await RawIetfPeer.connect(relay.port, draft);
    const req = await peer.request(publishNamespaceRequest(NS));
    await expectReply(req.next(), nsOk, "PUBLISH_NAMESPACE");
    peer.close();
  }, opts);

  e2e(`interop d${draft} publish-namespace-done`, async (relay) => {
    const peer = await RawIetfPeer.connect(relay.port, draft);
    const req = await peer.request(publishNamespaceRequest(NS));
    await expectReply(req.next(), nsOk, "PUBLISH_NAMESPACE");
    await req.finish();
    assert.equal(await within(2_000, "request FIN", req.next()), null);
    await relay.waitForLog(/broadcast unpublished.*moq-test\/interop/);
    peer.close();
    assert.equal((await peer.transport.closed).code, 0);
  }, opts);

  e2e(`interop d${draft} subscribe-error`, async (relay) => {
    const peer = await RawIetfPeer.connect(relay.port, draft);
    const req = await peer.request({
      kind: "subscribe",
      requestId: 0,
      namespace: ["nonexistent", "namespace"],
      name: "test-track",
      params: [],
    });
    const m = await expectReply(req.next(), subErr, "SUBSCRIBE");
    assert.equal("code" in m && m.code, draft === 14 ? 0x4 : 0x10); // (TRACK_)DOES_NOT_EXIST
    peer.close();
  }, { ...opts, toml: `[limits]\nsubscribe_wait = "500ms"` });

  e2e(`interop d${draft} announce-subscribe`, async (relay) => {
    const pub = await RawIetfPeer.connect(relay.port, draft);
    const ann = await pub.request(publishNamespaceRequest(NS));
    await expectReply(ann.next(), nsOk, "PUBLISH_NAMESPACE");
    const sub = await RawIetfPeer.connect(relay.port, draft);
    const req = await sub.request(subscribeRequest(NS, "test-track"));
    const up = await pub.answerSubscribe(7);
    assert.equal(up.first.kind === "subscribe" && up.first.name, "test-track");
    await expectReply(req.next(), "subscribeOk", "SUBSCRIBE");
    // Data flows too: one object, byte-exact.
    await pub.sendSubgroup(7, 0, [{ id: 0, payload: text("hello interop") }]);
    await eventually("object", () => sub.data.length > 0, 5_000);
    assert.deepEqual(sub.data[0].objects.map((o) => o.payload), [text("hello interop")]);
    pub.close();
    sub.close();
  }, opts);

  e2e(`interop d${draft} subscribe-before-announce`, async (relay) => {
    const sub = await RawIetfPeer.connect(relay.port, draft);
    const req = await sub.request(subscribeRequest(NS, "test-track"));
    await sleep(500);
    const pub = await RawIetfPeer.connect(relay.port, draft);
    const ann = await pub.request(publishNamespaceRequest(NS));
    await expectReply(ann.next(), nsOk, "PUBLISH_NAMESPACE");
    await pub.answerSubscribe(3);
    // The relay holds the pending SUBSCRIBE until the namespace appears: SUBSCRIBE_OK.
    await expectReply(req.next(), "subscribeOk", "pending SUBSCRIBE");
    pub.close();
    sub.close();
  }, opts);

  e2e(`interop d${draft} publish-without-subscriber`, async (relay) => {
    const pub = await RawIetfPeer.connect(relay.port, draft);
    const req = await pub.request(publishRequest(PUBLISH_NS, "published-track", 1));
    const ok = await expectReply(req.next(), pubOk, "PUBLISH");
    if (ok.kind === "publishOk") assert.notEqual(ok.forward, false, "forward 1");
    else assert.ok(ok.kind === "requestOk" && !ok.params.some((p) => p.type === 0x10 && p.value === 0));
    await pub.sendSubgroup(1, 0, [{ id: 0, payload: text(`moqt${draft}-publish-track-only`) }]);
    await req.send({ kind: "publishDone", requestId: 0, statusCode: 0x2, streamCount: 1, reason: "" });
    await req.finish();
    assert.equal(await within(5_000, "request FIN", req.next()), null);
    pub.close();
    assert.equal((await pub.transport.closed).code, 0);
    assert.ok(!relay.logs.some((l) => l.includes("WARN")), relay.logs.join("\n"));
  }, opts);

  e2e(`interop d${draft} publish-to-pending-subscription`, async (relay) => {
    const sub = await RawIetfPeer.connect(relay.port, draft);
    const subReq = await sub.request({
      kind: "subscribe",
      requestId: 0,
      namespace: PUBLISH_NS,
      name: "published-track",
      params: [{ type: 0x04, value: 5000 }], // RENDEZVOUS_TIMEOUT
    });
    await sleep(300);
    const pub = await RawIetfPeer.connect(relay.port, draft);
    const req = await pub.request(publishRequest(PUBLISH_NS, "published-track", 5));
    await expectReply(req.next(), pubOk, "PUBLISH");
    await expectReply(subReq.next(), "subscribeOk", "pending SUBSCRIBE");
    const payload = text(`moqt${draft}-publish-track-subscribe`);
    await pub.sendSubgroup(5, 0, [{ id: 0, payload }]);
    await req.send({ kind: "publishDone", requestId: 0, statusCode: 0x2, streamCount: 1, reason: "" });
    await req.finish();
    const done = await expectReply(subReq.next(), "publishDone", "PUBLISH_DONE to the subscriber");
    assert.equal(done.kind === "publishDone" && done.statusCode, 0x2);
    assert.equal(done.kind === "publishDone" && done.streamCount, 1);
    await eventually("object", () => sub.data.length > 0, 5_000);
    assert.equal(sub.data.length, 1);
    assert.equal(sub.data[0].header.group, 0);
    assert.deepEqual(sub.data[0].objects.map((o) => [o.objectId, o.payload]), [[0, payload]]);
    pub.close();
    sub.close();
  }, opts);
}
