import assert from "node:assert/strict";
import { DurationError, formatDuration, parseDuration } from "./_duration.ts";

Deno.test("parseDuration: humantime forms", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1h 30m"), 5_400_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("  0  "), 0);
  assert.equal(parseDuration("1day"), 86_400_000);
  assert.equal(parseDuration("2 seconds"), 2000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("250us"), 0.25);
  assert.equal(parseDuration("1M"), 2_630_016_000, "M is a month, as in humantime");
  assert.equal(parseDuration("1m"), 60_000);
});

Deno.test("parseDuration: bare numbers need a unit unless the key takes seconds", () => {
  assert.throws(
    () => parseDuration("5"),
    (e: unknown) => e instanceof DurationError && /"5s"/.test(e.message),
  );
  assert.equal(parseDuration("5", { bareUnit: "s" }), 5000);
  assert.equal(parseDuration("5", { bareUnit: "ms" }), 5);
  assert.equal(parseDuration("0"), 0);
});

Deno.test("parseDuration: invalid input is a DurationError naming the input", () => {
  for (const bad of ["", "s", "5 parsecs", "5s x", "-5s", "five seconds", "1h,30m"]) {
    assert.throws(
      () => parseDuration(bad),
      (e: unknown) =>
        e instanceof DurationError && e.name === "DurationError" &&
        (bad === "" ? /empty duration/.test(e.message) : e.message.includes(`"${bad}"`)),
      bad,
    );
  }
});

Deno.test("formatDuration round-trips through parseDuration", () => {
  for (const ms of [0, 500, 5000, 120_000, 5_400_000, 90_061_001]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, formatDuration(ms));
  }
  assert.equal(formatDuration(5_400_000), "1h 30m");
});
