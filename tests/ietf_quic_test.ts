/**
 * moq-transport over raw QUIC (ALPN `moqt-NN` / `moq-00`) and WebTransport over HTTP/3 (`wt-protocol`),
 * with the relay's own QUIC dialers and the raw test client: a publisher's PUBLISH_NAMESPACE, a
 * subscriber's SUBSCRIBE routed to it, and objects byte-exact, for drafts 14, 16, 18 and 20.
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  publishNamespaceRequest,
  RawIetfPeer,
  subscribeRequest,
  within,
} from "../testing/mod.ts";
import { Ietf } from "../session/mod.ts";

for (const kind of ["quic", "webtransport"] as const) {
  for (const draft of [14, 16, 18, 20] as Draft[]) {
    e2e(`moq-transport-${draft} over ${kind}: announce, subscribe, objects byte-exact`, async (relay) => {
      const pub = await RawIetfPeer.dial(relay, draft, kind);
      const ann = await pub.request(publishNamespaceRequest(["room"]));
      assert.equal(
        (await within(5_000, "announce OK", ann.next()))?.kind,
        draft === 14 ? "publishNamespaceOk" : "requestOk",
      );
      const sub = await RawIetfPeer.dial(relay, draft, kind);
      const req = await sub.request(subscribeRequest(["room"], "cam"));
      await pub.answerSubscribe(2);
      assert.equal((await within(5_000, "SUBSCRIBE_OK", req.next()))?.kind, "subscribeOk");
      const payloads = [new Uint8Array(40_000).fill(3), Uint8Array.of(1, 2, 3)];
      await pub.sendSubgroup(2, 0, payloads.map((payload, id) => ({ id, payload })));
      await eventually("objects", () => sub.data.length > 0, 5_000);
      assert.deepEqual(sub.data[0].objects.map((o) => o.payload), payloads);
      pub.close();
      sub.close();
    }, { auth: `public = ""`, server: `version = ["moq-transport-${draft}"]` });
  }
}

for (const draft of [16, 18] as Draft[]) {
  e2e(
    `moq-transport-${draft} over raw QUIC: SETUP PATH sets the session root, as a URL path would`,
    async (relay) => {
      const path = [{ type: Ietf.SetupOption.Path, value: new TextEncoder().encode("/anon") }];
      const rooted = await RawIetfPeer.dial(relay, draft, "quic", path);
      const ok = await rooted.request(publishNamespaceRequest(["room"]));
      assert.equal((await within(5_000, "announce OK", ok.next()))?.kind, "requestOk");
      await relay.waitForLog(/broadcast published.*path=anon\/room/);
      // Without PATH the session root is "/", where anonymous peers may not publish "room".
      const bare = await RawIetfPeer.dial(relay, draft, "quic");
      const refused = await bare.request(publishNamespaceRequest(["room"]));
      const err = await within(5_000, "announce refused", refused.next());
      assert.equal(err?.kind === "requestError" && err.code, 0x1); // UNAUTHORIZED
      rooted.close();
      bare.close();
    },
    { server: `version = ["moq-transport-${draft}"]` },
  );
}
