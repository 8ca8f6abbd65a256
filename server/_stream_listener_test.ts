import assert from "node:assert/strict";
import { classifyAcceptError } from "./_stream_listener.ts";

Deno.test("accept failures are classified as upstream counts them", () => {
  assert.equal(classifyAcceptError(new Deno.errors.ConnectionAborted("aborted")), "connection");
  assert.equal(classifyAcceptError(new Deno.errors.ConnectionReset("reset")), "connection");
  assert.equal(classifyAcceptError(new Error("Too many open files (os error 24)")), "exhausted");
  assert.equal(classifyAcceptError(new Error("Too many open files in system (os error 23)")), "exhausted");
  assert.equal(classifyAcceptError(new Error("Cannot allocate memory (os error 12)")), "exhausted");
  assert.equal(
    classifyAcceptError(new Error("Software caused connection abort (os error 103)")),
    "connection",
  );
  assert.equal(classifyAcceptError(new Error("Protocol error (os error 71)")), "connection");
  assert.equal(classifyAcceptError(new Error("something new (os error 999)")), "unknown");
  assert.equal(classifyAcceptError("not an error"), "unknown");
});
