import assert from "node:assert/strict";
import { startRelay } from "./harness.ts";
Deno.test({
  name:
    "harness: a relay whose given port is taken fails fast with the bind error (no 30 s wait); a picked port works",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const t = Date.now();
  await assert.rejects(() => startRelay({ port }), /address already in use/);
  assert.ok(Date.now() - t < 15_000);
  l.close();
  const r = await startRelay();
  await r.stop("SIGKILL");
});
