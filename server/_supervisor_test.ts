import assert from "node:assert/strict";
import { healthResponse } from "../http/mod.ts";
import { LogFilter, Logger } from "../log/mod.ts";
import { ListenerStoppedError, ListenerSupervisor } from "./_supervisor.ts";

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger("main", LogFilter.parse("info"), (l) => void lines.push(l)), lines };
}

const settled = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

Deno.test("a listener that stops while the relay runs is fatal and makes /health 503", async () => {
  const stop = new AbortController();
  const { logger, lines } = capture();
  const supervisor = new ListenerSupervisor(stop.signal, logger);
  const http = Promise.withResolvers<void>();
  supervisor.watch("http", http.promise);
  supervisor.watch("quic", new Promise(() => {}));
  const state = { draining: () => false, unhealthy: () => supervisor.unhealthy };
  assert.equal(healthResponse(state).status, 200);
  assert.equal(await settled(supervisor.fatal, 50), false, "nothing is fatal while listeners run");

  http.resolve(); // the accept loop ended on its own
  const err = await supervisor.fatal;
  assert.ok(err instanceof ListenerStoppedError);
  assert.equal(err.listener, "http");
  assert.match(err.message, /http listener stopped unexpectedly.*restarts/);
  const res = healthResponse(state);
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "unhealthy: http listener down\n");
  assert.ok(lines.some((l) => / ERROR main: listener down listener=http/.test(l)), lines.join("\n"));
  stop.abort();
});

Deno.test("a listener that dies with an error: the error is named, redacted", async () => {
  const { logger, lines } = capture();
  const supervisor = new ListenerSupervisor(new AbortController().signal, logger);
  supervisor.watch("quic", Promise.reject(new Error("endpoint gone while dialing https://x/?jwt=SECRET")));
  const err = await supervisor.fatal;
  assert.match(err.message, /quic listener died: endpoint gone/);
  assert.ok(!err.message.includes("SECRET") && !lines.join("\n").includes("SECRET"));
});

Deno.test("listeners stopping during shutdown are expected: not fatal, /health says draining", async () => {
  const stop = new AbortController();
  const { logger } = capture();
  const supervisor = new ListenerSupervisor(stop.signal, logger);
  const finished = Promise.withResolvers<void>();
  supervisor.watch("internal", finished.promise);
  stop.abort();
  finished.resolve();
  assert.equal(await settled(supervisor.fatal, 50), false);
  assert.equal(supervisor.unhealthy, undefined);
  const res = healthResponse({ draining: () => true, unhealthy: () => supervisor.unhealthy });
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "draining\n");
});
