import assert from "node:assert/strict";
import {
  CLIENT_OFFER,
  clientOffer,
  interpretSelectedSubprotocol,
  parseSubprotocolHeader,
  selectSubprotocol,
} from "./subprotocol.ts";
import { preferredLiteProtocol } from "../versions.ts";

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
    [["qmux-03", "webtransport.moq-lite-06-wip", "qmux-03.moq-lite-04"], null],
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

Deno.test("selectSubprotocol: qmux-02/01/00.<alpn> per ALPN in the relay's order, bare framings last", () => {
  // @moq/net 0.3.4's offer (its connection/connect.js), trimmed to the lite entries.
  const moqNet = [
    "qmux-02.moq-lite-05",
    "qmux-01.moq-lite-05",
    "qmux-00.moq-lite-05",
    "qmux-02.moq-lite-04",
    "qmux-01.moq-lite-04",
    "qmux-00.moq-lite-04",
    "qmux-02.moq-lite-03",
    "qmux-01.moq-lite-03",
    "qmux-00.moq-lite-03",
    "qmux-02",
    "qmux-01",
    "qmux-00",
    "webtransport",
  ];
  // The relay's most preferred lite version it serves (lite-04, or lite-05 once served).
  assert.deepEqual(selectSubprotocol(moqNet), {
    header: `qmux-02.${preferredLiteProtocol()}`,
    framing: "qmux-02",
    protocol: preferredLiteProtocol(),
  });
  // Server preference: lite-04 over lite-03 whatever the client's order.
  assert.deepEqual(selectSubprotocol(["qmux-02.moq-lite-03", "qmux-00.moq-lite-04"]), {
    header: "qmux-00.moq-lite-04",
    framing: "qmux-00",
    protocol: "moq-lite-04",
  });
  assert.deepEqual(selectSubprotocol(["qmux-01.moq-lite-03", "qmux-01"]), {
    header: "qmux-01.moq-lite-03",
    framing: "qmux-01",
    protocol: "moq-lite-03",
  });
  // Disabled lite-04 falls to lite-03; disabled framings are skipped; the ALPN list is an input.
  assert.equal(selectSubprotocol(moqNet, ["moq-lite-03"])?.header, "qmux-02.moq-lite-03");
  assert.equal(
    selectSubprotocol(moqNet, undefined, ["qmux-01", "qmux-00"])?.header,
    `qmux-01.${preferredLiteProtocol()}`,
  );
  assert.equal(
    selectSubprotocol(moqNet, undefined, undefined, ["moq-lite-03"])?.header,
    "qmux-02.moq-lite-03",
  );
  assert.equal(selectSubprotocol(["qmux-02.moq-lite-04"], undefined, undefined, ["moq-lite-03"]), null);
  // Bare framings: qmux-02, qmux-01, then webtransport before qmux-00.
  assert.equal(selectSubprotocol(["qmux-00", "webtransport", "qmux-01"])?.header, "qmux-01");
  assert.equal(selectSubprotocol(["qmux-00", "qmux-02", "qmux-01"])?.header, "qmux-02");
  assert.deepEqual(selectSubprotocol(["qmux-02"]), { header: "qmux-02", framing: "qmux-02", protocol: "" });
  // Unknown drafts are not guessed at.
  assert.equal(selectSubprotocol(["qmux-03.moq-lite-04", "qmux-03"]), null);
});

Deno.test("clientOffer follows upstream's client order; interpretSelectedSubprotocol reads every framing", () => {
  assert.deepEqual(clientOffer(["moq-lite-04", "moq-lite-03"]), [
    "qmux-02.moq-lite-04",
    "qmux-01.moq-lite-04",
    "qmux-00.moq-lite-04",
    "qmux-02.moq-lite-03",
    "qmux-01.moq-lite-03",
    "qmux-00.moq-lite-03",
    "webtransport.moq-lite-04",
    "webtransport.moq-lite-03",
    "qmux-02",
    "qmux-01",
    "qmux-00",
    "webtransport",
  ]);
  assert.deepEqual(CLIENT_OFFER, clientOffer());
  // Our relay answers its own preference (webtransport.<alpn> first) to our own offer.
  assert.equal(selectSubprotocol([...CLIENT_OFFER])?.header, `webtransport.${preferredLiteProtocol()}`);
  assert.deepEqual(interpretSelectedSubprotocol("qmux-02.moq-lite-04"), {
    framing: "qmux-02",
    protocol: "moq-lite-04",
  });
  assert.deepEqual(interpretSelectedSubprotocol("qmux-01.moq-lite-03"), {
    framing: "qmux-01",
    protocol: "moq-lite-03",
  });
  assert.deepEqual(interpretSelectedSubprotocol("qmux-01"), { framing: "qmux-01", protocol: "" });
  assert.deepEqual(interpretSelectedSubprotocol("qmux-02.moq-lite-06-wip"), {
    framing: "qmux-02",
    protocol: "",
  });
  assert.deepEqual(interpretSelectedSubprotocol("qmux-02.moq-lite-04", ["moq-lite-03"]), {
    framing: "qmux-02",
    protocol: "",
  });
  assert.deepEqual(interpretSelectedSubprotocol("qmux-03"), { framing: "webtransport", protocol: "" });
});

Deno.test("IETF ALPNs: moqt-18+ only on qmux-01 and newer, filtered by moq-transport-NN version names", () => {
  const alpns = ["moq-lite-04", "moqt-20", "moqt-18", "moqt-17", "moq-00"] as const;
  // What @moq/net 0.3.4 offers for an IETF-only relay: qmux-01 for 18/20, qmux-00 for the others.
  const offer = ["qmux-01.moqt-20", "qmux-00.moqt-18", "qmux-01.moqt-18", "qmux-00.moqt-17", "qmux-00"];
  assert.equal(selectSubprotocol(offer, ["moq-transport-18"], undefined, alpns)?.header, "qmux-01.moqt-18");
  assert.equal(
    selectSubprotocol(["qmux-00.moqt-18"], ["moq-transport-18"], undefined, alpns)?.protocol,
    undefined,
  );
  assert.equal(selectSubprotocol(["webtransport.moqt-20"], undefined, undefined, alpns), null);
  assert.equal(selectSubprotocol(offer, ["moq-transport-17"], undefined, alpns)?.header, "qmux-00.moqt-17");
  assert.deepEqual(selectSubprotocol(["qmux-01.moq-00"], ["moq-transport-14"], undefined, alpns), {
    header: "qmux-01.moq-00",
    framing: "qmux-01",
    protocol: "moq-00",
  });
});
