import assert from "node:assert/strict";
import { RequestWatcher } from "./_request_watch.ts";

const enc = (t: string) => new TextEncoder().encode(t);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function watcher(limits: Partial<ConstructorParameters<typeof RequestWatcher>[0]> = {}) {
  const expired: string[] = [];
  const w = new RequestWatcher(
    { headersDeadlineMs: 80, idleMs: 150, maxHeaderBytes: 1024, ...limits },
    (why) => void expired.push(why),
  );
  return { w, expired };
}

Deno.test("request watch: a header block that does not complete in time expires", async () => {
  const { w, expired } = watcher();
  w.clientBytes(enc("GET / HTTP/1.1\r\nHost: x\r\n"));
  await sleep(120);
  assert.deepEqual(expired, ["headers"]);
  w.stop();
});

Deno.test("request watch: every request on a kept-alive connection gets the header deadline", async () => {
  const { w, expired } = watcher();
  // One chunk split inside the terminator, then a second request dribbled.
  w.clientBytes(enc("GET /a HTTP/1.1\r\nHost: x\r"));
  w.clientBytes(enc("\n\r\n"));
  await sleep(100);
  assert.deepEqual(expired, [], "between requests only the idle timeout runs");
  w.clientBytes(enc("G"));
  await sleep(120);
  assert.deepEqual(expired, ["headers"]);
  w.stop();
});

Deno.test("request watch: an idle kept-alive connection expires; server traffic keeps it alive", async () => {
  const { w, expired } = watcher({ idleMs: 100 });
  w.clientBytes(enc("GET /fetch/x HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (let i = 0; i < 4; i++) {
    await sleep(50);
    w.serverActivity(); // a response still streaming
  }
  assert.deepEqual(expired, []);
  await sleep(250);
  assert.deepEqual(expired, ["idle"]);
  w.stop();
});

Deno.test("request watch: bodies and upgrades make the connection opaque; big headers are refused", async () => {
  const upgrade = watcher();
  upgrade.w.clientBytes(enc("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
  assert.ok(upgrade.w.opaque);
  const body = watcher();
  body.w.clientBytes(enc("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n"));
  assert.ok(body.w.opaque);
  const empty = watcher();
  empty.w.clientBytes(enc("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
  assert.ok(!empty.w.opaque, "an empty body keeps the connection watched");
  const big = watcher({ maxHeaderBytes: 64 });
  assert.equal(big.w.clientBytes(enc(`GET / HTTP/1.1\r\nX: ${"a".repeat(100)}\r\n\r\n`)), "too-large");
  await sleep(200);
  assert.deepEqual([...upgrade.expired, ...body.expired], []);
  for (const x of [upgrade, body, empty, big]) x.w.stop();
});

Deno.test("request watch: pipelined requests in one chunk are all parsed", async () => {
  const { w, expired } = watcher();
  w.clientBytes(
    enc("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHo"),
  );
  await sleep(120);
  assert.deepEqual(expired, ["headers"], "the third, incomplete request expires");
  w.stop();
});
