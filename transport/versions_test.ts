import assert from "node:assert/strict";
import {
  ALPN_MOQL,
  DEFAULT_VERSION_OFFER,
  preferredLiteProtocol,
  PROTOCOL_VERSIONS,
  SERVED_VERSION_NAMES,
  UNSERVED_VERSION_NAMES,
  versionOffer,
} from "./versions.ts";
import { serverAlpns } from "./server.ts";
import { acceptWebSocket, selectSubprotocol } from "./websocket/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { protocolFromAlpn } from "./quic/mod.ts";

/** `@moq/net` 0.3.4's `Sec-WebSocket-Protocol` offer (computed from `@moq/qmux` 0.3.3). */
const MOQ_NET_WS_OFFER = [
  "qmux-02.moq-lite-05",
  "qmux-01.moq-lite-05",
  "qmux-00.moq-lite-05",
  "qmux-02.moq-lite-04",
  "qmux-01.moq-lite-04",
  "qmux-00.moq-lite-04",
  "qmux-02.moq-lite-03",
  "qmux-01.moq-lite-03",
  "qmux-00.moq-lite-03",
  "qmux-02.moql",
  "qmux-01.moql",
  "qmux-00.moql",
  "qmux-01.moqt-20",
  "qmux-01.moqt-18",
  "qmux-02.moqt-17",
  "qmux-01.moqt-17",
  "qmux-00.moqt-17",
  "qmux-02",
  "qmux-01",
  "qmux-00",
  "webtransport",
];

Deno.test("version table: names, codes and kinds are consistent", () => {
  const names = new Set(PROTOCOL_VERSIONS.map((v) => v.name));
  assert.equal(names.size, PROTOCOL_VERSIONS.length, "names are unique");
  assert.equal(new Set(PROTOCOL_VERSIONS.map((v) => v.setupCode)).size, PROTOCOL_VERSIONS.length);
  for (const v of PROTOCOL_VERSIONS) {
    assert.equal(v.kind === "setup", v.alpn === ALPN_MOQL, `${v.name}: SETUP versions use ALPN moql`);
    if (v.kind === "alpn" && v.name.startsWith("moq-lite-")) {
      assert.equal(v.alpn, v.name, `${v.name}: lite ALPN = its name`);
    }
    if (v.name.startsWith("moq-transport-")) {
      const draft = Number(v.name.slice("moq-transport-".length));
      assert.equal(v.alpn, draft === 14 ? "moq-00" : `moqt-${draft}`, `${v.name}: IETF ALPN`);
    }
  }
  // moq-lite-05 is listed and preferred; it is offered once the session layer serves it.
  assert.equal(PROTOCOL_VERSIONS[0].name, "moq-lite-05");
  assert.deepEqual([...SERVED_VERSION_NAMES, ...UNSERVED_VERSION_NAMES].sort(), [...names].sort());
  const lite05 = PROTOCOL_VERSIONS[0];
  assert.equal(DEFAULT_VERSION_OFFER.protocols[0], lite05.served ? "moq-lite-05" : "moq-lite-04");
  assert.equal(preferredLiteProtocol(), DEFAULT_VERSION_OFFER.protocols[0]);
});

Deno.test("version offer: the default offers every served version on every transport", () => {
  const offer = versionOffer();
  assert.deepEqual(offer, versionOffer([]));
  assert.deepEqual(offer.versions.map((v) => v.name), SERVED_VERSION_NAMES);
  assert.deepEqual(offer.setupCodes, [0xff0dad02, 0xff0dad01]);
  assert.equal(offer.legacy, true);
  // Upstream's order: moq-lite by ALPN, the legacy `moql`, then IETF moq-transport.
  const lite = offer.protocols.filter((p) => p.startsWith("moq-lite-"));
  const ietf = offer.protocols.filter((p) => !p.startsWith("moq-lite-"));
  assert.deepEqual(serverAlpns(offer), [...lite, "moql", ...ietf, "h3"]);
  assert.ok(offer.protocols.includes("moq-lite-04") && offer.protocols.includes("moq-lite-03"));
  // WebSocket: the relay's preferred lite version, with the newest QMux framing the client offered.
  assert.deepEqual(selectSubprotocol(MOQ_NET_WS_OFFER), {
    header: `qmux-02.${preferredLiteProtocol()}`,
    framing: "qmux-02",
    protocol: preferredLiteProtocol(),
  });
});

Deno.test("version offer: [server] version restricts raw QUIC, WebSocket and legacy SETUP alike", () => {
  // Only lite-04: no moql anywhere, no SETUP code.
  const only04 = versionOffer(["moq-lite-04"]);
  assert.deepEqual(only04.protocols, ["moq-lite-04"]);
  assert.deepEqual(only04.setupCodes, []);
  assert.deepEqual(serverAlpns(only04), ["moq-lite-04", "h3"]);
  assert.equal(selectSubprotocol(MOQ_NET_WS_OFFER, ["moq-lite-04"])?.header, "qmux-02.moq-lite-04");
  assert.equal(selectSubprotocol(["qmux-02.moq-lite-03", "qmux-02.moql"], ["moq-lite-04"]), null);
  // Only lite-03: @moq/net falls to lite-03 on WebSocket.
  assert.equal(selectSubprotocol(MOQ_NET_WS_OFFER, ["moq-lite-03"])?.header, "qmux-02.moq-lite-03");
  assert.deepEqual(serverAlpns(versionOffer(["moq-lite-03"])), ["moq-lite-03", "h3"]);
  // Only the legacy versions: ALPN moql, the `qmux-0X.moql` subprotocol, SETUP codes in table order.
  const legacy = versionOffer(["moq-lite-01", "moq-lite-02"]);
  assert.deepEqual(legacy.protocols, []);
  assert.deepEqual(legacy.setupCodes, [0xff0dad02, 0xff0dad01]);
  assert.deepEqual(serverAlpns(legacy), ["moql", "h3"]);
  assert.deepEqual(selectSubprotocol(MOQ_NET_WS_OFFER, ["moq-lite-01"]), {
    header: "qmux-02.moql",
    framing: "qmux-02",
    protocol: "",
  });
  assert.deepEqual(versionOffer(["moq-lite-01"]).setupCodes, [0xff0dad01]);
  // Bare framings stay last whatever is enabled (upstream): the SETUP then decides.
  assert.equal(selectSubprotocol(["qmux-01", "webtransport"], ["moq-lite-04"])?.header, "qmux-01");
  // Unserved and unknown names select nothing.
  assert.deepEqual(versionOffer(["moq-lite-06-wip"]).versions, []);
});

Deno.test("raw QUIC: the negotiated protocol comes from the table", () => {
  assert.equal(protocolFromAlpn("moq-lite-04"), "moq-lite-04");
  assert.equal(protocolFromAlpn("moq-lite-03"), "moq-lite-03");
  assert.equal(protocolFromAlpn("moql"), "");
  assert.equal(protocolFromAlpn("h3"), "");
  assert.equal(protocolFromAlpn(null), "");
  const lite05 = PROTOCOL_VERSIONS.find((v) => v.name === "moq-lite-05")!;
  assert.equal(protocolFromAlpn("moq-lite-05"), lite05.served ? "moq-lite-05" : "");
});

function upgradeRequest(protocols?: string): Request {
  const headers = new Headers({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  });
  if (protocols !== undefined) headers.set("sec-websocket-protocol", protocols);
  return new Request("http://127.0.0.1/anon", { headers });
}

Deno.test("WebSocket upgrade: 400 when offered subprotocols match none of the enabled versions", async () => {
  const options = { logger: silentLogger(), peer: "127.0.0.1:1" };
  for (
    const [offer, versions] of [
      ["qmux-02.moqt-13, qmux-03", undefined],
      ["qmux-02.moq-lite-03, qmux-01.moql", ["moq-lite-04"]],
      ["moq-lite-04", undefined], // a bare ALPN is not a framing
    ] as const
  ) {
    const result = acceptWebSocket(upgradeRequest(offer), { ...options, versions });
    assert.ok("error" in result, offer);
    assert.equal(result.error.status, 400, offer);
    const text = await result.error.text();
    assert.match(text, /no supported WebSocket subprotocol offered/);
    assert.ok(text.includes(versions ? "moq-lite-04)" : `${preferredLiteProtocol()},`), text);
  }
});
