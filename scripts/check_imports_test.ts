import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert/strict";
import { importsOf, listSources, violations } from "./check_imports.ts";

const edge = (from: string, to: string) => ({ from, to, line: 1 });

Deno.test("import check: a private file of another folder is refused", () => {
  assertMatch(violations(edge("http/web.ts", "relay/_group.ts")).join(), /private file of relay\//);
  assertEquals(violations(edge("relay/track.ts", "relay/_group.ts")), []);
});

Deno.test("import check: other folders are reached only through their face", () => {
  assertMatch(violations(edge("session/session.ts", "relay/origin.ts")).join(), /face relay\/mod\.ts/);
  assertEquals(violations(edge("session/session.ts", "relay/mod.ts")), []);
  assertMatch(
    violations(edge("transport/webtransport/session.ts", "transport/quic/streams.ts")).join(),
    /face transport\/quic\/mod\.ts/,
  );
});

Deno.test("import check: upward imports and forbidden edges are refused", () => {
  assertMatch(violations(edge("relay/origin.ts", "session/mod.ts")).join(), /upward import/);
  assertMatch(violations(edge("cluster/cluster.ts", "server/mod.ts")).join(), /upward import/);
  assertMatch(
    violations(edge("transport/quic/server.ts", "transport/webtransport/mod.ts")).join(),
    /forbidden edge/,
  );
  assertEquals(violations(edge("relay/origin_test.ts", "testing/mod.ts")), []);
  assertMatch(violations(edge("bench/procs.ts", "tests/harness.ts")).join(), /entry points/);
});

Deno.test("import check: relative imports are resolved against the importing file", () => {
  const from = "from";
  const text = `import { a } ${from} "../relay/mod.ts";\nexport * ${from} "./_x.ts";\n`;
  const edges = importsOf("session/session.ts", text);
  assertEquals(edges.map((e) => e.to), ["relay/mod.ts", "session/_x.ts"]);
});

Deno.test("import check: this repository has no violation", () => {
  const root = new URL("..", import.meta.url).pathname;
  const bad: string[] = [];
  for (const file of listSources(root)) {
    for (const e of importsOf(file, Deno.readTextFileSync(`${root}/${file}`))) {
      const why = violations(e);
      if (why.length > 0) bad.push(`${e.from}:${e.line} ${e.to}: ${why.join("; ")}`);
    }
  }
  assertEquals(bad, []);
});
