import assert from "node:assert/strict";
import { interpretSelectedSubprotocol, parseSubprotocolHeader, selectSubprotocol } from "./subprotocol.ts";

Deno.test("selectSubprotocol: relay preference table of docs/protocol.md §16 item 6", () => {
  const cases: Array<[string[], ReturnType<typeof selectSubprotocol>]> = [
    [[], { framing: "webtransport", protocol: "" }],
    [["qmux-00", "webtransport"], { header: "webtransport", framing: "webtransport", protocol: "" }],
    [["qmux-00"], { header: "qmux-00", framing: "qmux-00", protocol: "" }],
    [["webtransport"], { header: "webtransport", framing: "webtransport", protocol: "" }],
    [
      [
        "qmux-00",
        "webtransport",
        "qmux-00.moq-lite-03",
        "webtransport.moq-lite-03",
        "webtransport.moq-lite-04",
      ],
      { header: "webtransport.moq-lite-04", framing: "webtransport", protocol: "moq-lite-04" },
    ],
    [
      ["qmux-00.moq-lite-04", "webtransport.moq-lite-03"],
      { header: "webtransport.moq-lite-03", framing: "webtransport", protocol: "moq-lite-03" },
    ],
    [
      ["qmux-00.moq-lite-03", "qmux-00.moq-lite-04", "webtransport"],
      { header: "qmux-00.moq-lite-04", framing: "qmux-00", protocol: "moq-lite-04" },
    ],
    [["qmux-00.moq-lite-03", "qmux-00"], {
      header: "qmux-00.moq-lite-03",
      framing: "qmux-00",
      protocol: "moq-lite-03",
    }],
    [["moql"], null],
    [["qmux-03", "webtransport.moq-lite-05", "qmux-03.moq-lite-04"], null],
  ];
  for (const [offered, expected] of cases) {
    assert.deepEqual(selectSubprotocol(offered), expected, offered.join(","));
  }
});

Deno.test("selectSubprotocol: versions filter disables lite-04/03, framings filter restricts framing", () => {
  const offer = ["qmux-00", "webtransport", "webtransport.moq-lite-04", "webtransport.moq-lite-03"];
  assert.deepEqual(selectSubprotocol(offer, ["moq-lite-03", "moq-lite-02"]), {
    header: "webtransport.moq-lite-03",
    framing: "webtransport",
    protocol: "moq-lite-03",
  });
  assert.deepEqual(selectSubprotocol(offer, ["moq-lite-02"]), {
    header: "webtransport",
    framing: "webtransport",
    protocol: "",
  });
  assert.equal(selectSubprotocol(["webtransport.moq-lite-04"], ["moq-lite-03"]), null);
  assert.deepEqual(selectSubprotocol(offer, undefined, ["qmux-00"]), {
    header: "qmux-00",
    framing: "qmux-00",
    protocol: "",
  });
});

Deno.test("parseSubprotocolHeader and interpretSelectedSubprotocol", () => {
  assert.deepEqual(parseSubprotocolHeader(null), []);
  assert.deepEqual(parseSubprotocolHeader(" qmux-00 ,webtransport,, "), ["qmux-00", "webtransport"]);
  assert.deepEqual(interpretSelectedSubprotocol("qmux-00.moq-lite-04"), {
    framing: "qmux-00",
    protocol: "moq-lite-04",
  });
  assert.deepEqual(interpretSelectedSubprotocol("webtransport"), { framing: "webtransport", protocol: "" });
  assert.deepEqual(interpretSelectedSubprotocol(""), { framing: "webtransport", protocol: "" });
});
