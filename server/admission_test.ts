import assert from "node:assert/strict";
import type { CloseInfo } from "../transport/mod.ts";
import { type AdmittedSession, SessionAdmission } from "./admission.ts";

/** A session stand-in: only its peer and its end matter to admission. */
function session(peer: string): AdmittedSession & { end(): void } {
  const closed = Promise.withResolvers<CloseInfo>();
  return {
    peer,
    closed: closed.promise,
    end: () => closed.resolve({ code: 0, reason: "", remote: true, abrupt: false }),
  };
}

Deno.test("admission: sessions per connection are capped; an ended session frees its slot", async () => {
  const admission = new SessionAdmission(2, 100);
  const a = session("10.0.0.1:5000");
  const b = session("10.0.0.1:5000");
  assert.equal(admission.admit(a), undefined);
  assert.equal(admission.admit(b), undefined);
  assert.equal(admission.admit(session("10.0.0.1:5000")), "per-connection");
  assert.equal(
    admission.admit(session("10.0.0.1:5001")),
    undefined,
    "another connection of the same address",
  );
  a.end();
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(admission.sessionsOn("10.0.0.1:5000"), 1);
  assert.equal(admission.admit(session("10.0.0.1:5000")), undefined);
});

Deno.test("admission: sessions per address are capped across connections; a refusal takes nothing", () => {
  const admission = new SessionAdmission(4, 3);
  for (let port = 1; port <= 3; port++) {
    assert.equal(admission.admit(session(`[2001:db8::1]:${port}`)), undefined);
  }
  assert.equal(admission.admit(session("[2001:db8::1]:9")), "per-address");
  assert.equal(admission.sessionsOn("[2001:db8::1]:9"), 0);
  assert.equal(admission.admit(session("[2001:db8::2]:9")), undefined, "other addresses are unaffected");
});
