import assert from "node:assert/strict";
import { formatSize, parseSize, SizeError, systemMemoryBytes } from "./_size.ts";

Deno.test("parseSize: units", () => {
  assert.equal(parseSize("8GiB"), 8 * 2 ** 30);
  assert.equal(parseSize("512MB"), 512_000_000);
  assert.equal(parseSize("4 MiB"), 4 * 2 ** 20);
  assert.equal(parseSize("1048576"), 1_048_576);
  assert.equal(parseSize("1kb"), 1000);
  assert.equal(parseSize("1Ki"), 1024);
  assert.equal(parseSize("1.5KiB"), 1536);
  assert.equal(parseSize("0"), 0);
});

Deno.test("parseSize: percentages of memory", () => {
  assert.equal(parseSize("25%", { memoryBytes: 1000 }), 250);
  assert.equal(parseSize("100%", { memoryBytes: () => 4096 }), 4096);
  assert.throws(() => parseSize("0%", { memoryBytes: 1000 }), SizeError);
  assert.throws(() => parseSize("150%", { memoryBytes: 1000 }), SizeError);
  assert.throws(() => parseSize("10%", { memoryBytes: 0 }), /memory is unknown/);
  assert.throws(() => parseSize("10%", { allowPercent: false }), /percentage is not accepted/);
  const total = systemMemoryBytes();
  assert.ok(total > 0, "this machine reports its memory");
  assert.equal(parseSize("50%"), Math.floor(total / 2));
});

Deno.test("parseSize: invalid input is a SizeError naming the input", () => {
  for (const bad of ["", "GiB", "8 parsecs", "-1MB", "1e9", "8GiB extra"]) {
    assert.throws(
      () => parseSize(bad),
      (e: unknown) => e instanceof SizeError && e.message.includes(`"${bad}"`),
      bad,
    );
  }
  assert.throws(() => parseSize("99999999PiB"), /too large/);
});

Deno.test("formatSize", () => {
  assert.equal(formatSize(4 * 2 ** 20), "4MiB");
  assert.equal(formatSize(1000), "1000B");
  assert.equal(parseSize(formatSize(3 * 2 ** 30)), 3 * 2 ** 30);
});
