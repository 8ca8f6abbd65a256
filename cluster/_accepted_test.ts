import assert from "node:assert/strict";
import { silentLogger } from "../log/mod.ts";
import { memoryTransportPair } from "../testing/mod.ts";
import { sleep } from "../util/mod.ts";
import { AcceptedLinks } from "./_accepted.ts";

/** Accept streams on the watched side like a session would. */
async function drain(transport: { acceptBidi(): Promise<unknown> }): Promise<void> {
  while ((await transport.acceptBidi()) !== null) continue;
}

Deno.test("accepted link: a dialer that pings lives; one that goes silent is closed as timed out", async () => {
  const [dialer, accepted] = memoryTransportPair({ url: "https://relay.test/?jwt=x&ping_ms=50" });
  const links = new AcceptedLinks(silentLogger(), 300);
  const watched = links.watch(accepted);
  assert.notEqual(watched, accepted, "wrapped to see the dialer's streams");
  drain(watched).catch(() => {});
  let pinging = true;
  (async () => {
    while (pinging) {
      const s = await dialer.openBidi();
      await s.send.close();
      await sleep(50);
    }
  })().catch(() => {});
  await sleep(700);
  assert.equal(links.size, 1, "a pinging dialer is alive");
  pinging = false;
  const silentFrom = Date.now();
  const closed = await accepted.closed;
  const after = Date.now() - silentFrom;
  assert.equal(closed.code, 3, "closed with code 3 (timeout)");
  assert.ok(after >= 250 && after < 700, `closed ${after} ms after the pings stopped`);
  assert.equal(links.size, 0);
});

Deno.test("accepted link: a session that does not say it pings is left alone", async () => {
  const [dialer, accepted] = memoryTransportPair({ url: "https://relay.test/?jwt=x" });
  const links = new AcceptedLinks(silentLogger(), 100);
  assert.equal(links.watch(accepted), accepted, "not wrapped");
  await sleep(300);
  assert.equal(links.size, 0);
  dialer.close(0, "");
  accepted.close(0, "");
});
