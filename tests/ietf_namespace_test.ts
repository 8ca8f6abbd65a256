/**
 * SUBSCRIBE_NAMESPACE as a tuple prefix: one prefix matches several broadcast paths (and only
 * whole fields: `show` does not match `showtime`), announced before and after the subscription,
 * and withdrawn again: NAMESPACE / NAMESPACE_DONE on the request (drafts 16+), PUBLISH_NAMESPACE /
 * PUBLISH_NAMESPACE_DONE requests from the relay (14–15).
 */

import assert from "node:assert/strict";
import {
  type Draft,
  e2e,
  eventually,
  publishNamespaceRequest,
  RawIetfPeer,
  sleep,
  within,
} from "../testing/mod.ts";
import type { Ietf } from "../session/mod.ts";

for (const draft of [14, 15, 16, 17, 18, 20] as Draft[]) {
  e2e(
    `moq-transport-${draft}: a SUBSCRIBE_NAMESPACE prefix matches several broadcasts, whole fields only`,
    async (
      relay,
    ) => {
      const pub = await RawIetfPeer.connect(relay.port, draft, "");
      const announce = async (ns: string[]) => {
        const req = await pub.request(publishNamespaceRequest(ns));
        assert.ok(await within(5_000, `announce ${ns.join("/")}`, req.next()));
        return req;
      };
      const a = await announce(["show", "a"]);
      await announce(["other", "c"]);
      await announce(["showtime", "d"]);
      const sub = await RawIetfPeer.connect(relay.port, draft, "");
      const interest = await sub.request({
        kind: "subscribeNamespace",
        requestId: 0,
        prefix: ["show"],
        params: [],
      });
      const ok = await within(5_000, "SUBSCRIBE_NAMESPACE reply", interest.next());
      assert.equal(ok?.kind, draft === 14 ? "subscribeNamespaceOk" : "requestOk");
      await announce(["show", "b", "cam"]);

      /** What the subscriber has been told is active, as full paths. */
      const active = new Set<string>();
      const events: string[] = [];
      const legacy = draft <= 15;
      const seen = new Set<unknown>();
      let doneSeen = 0;
      const poll = (): void => {
        if (!legacy) return;
        // Drafts 14–15: PUBLISH_NAMESPACE_DONE names the namespace, not the request.
        for (; doneSeen < sub.sessionMessages.length; doneSeen++) {
          const m = sub.sessionMessages[doneSeen];
          if (m.kind !== "publishNamespaceDone" || !m.namespace) continue;
          active.delete(m.namespace.join("/"));
          events.push(`-${m.namespace.join("/")}`);
        }
        for (const { first, req } of sub.incoming) {
          if (seen.has(req) || first.kind !== "publishNamespace") continue;
          seen.add(req);
          active.add(first.namespace.join("/"));
          events.push(`+${first.namespace.join("/")}`);
          // The withdrawal arrives on the same request.
          (async () => {
            for (;;) {
              const m = await req.next();
              if (m === null || m.kind === "publishNamespaceDone") break;
            }
            active.delete(first.namespace.join("/"));
            events.push(`-${first.namespace.join("/")}`);
          })().catch(() => {});
        }
      };
      if (!legacy) {
        (async () => {
          for (;;) {
            const m: Ietf.ControlMessage | null = await interest.next();
            if (m === null) return;
            if (m.kind === "namespace") {
              active.add(["show", ...m.suffix].join("/"));
              events.push(`+show/${m.suffix.join("/")}`);
            } else if (m.kind === "namespaceDone") {
              active.delete(["show", ...m.suffix].join("/"));
              events.push(`-show/${m.suffix.join("/")}`);
            }
          }
        })().catch(() => {});
      }
      /** Poll until `ok` holds, folding in what the legacy drafts reported meanwhile. */
      const waitFor = (what: string, ok: () => boolean) =>
        eventually(what, () => {
          poll();
          return ok();
        });
      await waitFor("both show/ broadcasts advertised", () => active.size >= 2);
      assert.deepEqual([...active].sort(), ["show/a", "show/b/cam"], events.join(" "));
      // Withdrawing one is reported; the other stays.
      await a.finish();
      await waitFor("show/a withdrawn", () => !active.has("show/a"));
      await sleep(100);
      poll();
      assert.deepEqual([...active], ["show/b/cam"], events.join(" "));
      assert.ok(!events.some((e) => e.includes("other") || e.includes("showtime")), events.join(" "));
      pub.close();
      sub.close();
    },
    { auth: `public = ""`, server: `version = ["moq-transport-${draft}"]` },
  );
}
