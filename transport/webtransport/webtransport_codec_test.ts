import assert from "node:assert/strict";
import { encodeVarint } from "../../codec/mod.ts";
import { huffmanCode, huffmanDecode, huffmanEncode, HuffmanError } from "./_huffman.ts";
import { decodeFieldSection, encodeFieldSection, QpackError } from "./_qpack.ts";
import { parseList, parseStringList, serializeString } from "./_structured_fields.ts";
import { CapsuleError, CapsuleParser, encodeCapsule, encodeCloseSessionData } from "./_capsule.ts";
import { http3ToWebtransport, webtransportToHttp3, WT_ERROR_FIRST, WT_ERROR_LAST } from "./_error_codes.ts";
import { controlStreamPreamble, parseSettings } from "./h3.ts";
import { chromiumConnect } from "./raw_h3_client.ts";
import { encodeConnectResponse, selectSubprotocol, validateConnect } from "./_connect.ts";
import { spacedHex } from "../../testing/mod.ts";

const fromHex = (text: string) =>
  Uint8Array.from(text.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const ascii = (text: string) => new TextEncoder().encode(text);

Deno.test("huffman: RFC 7541 Appendix C vectors, canonical codes, all bytes, padding errors", () => {
  const vectors: Array<[string, string]> = [
    ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
    ["no-cache", "a8eb 1064 9cbf"],
    ["custom-key", "25a8 49e9 5ba9 7d7f"],
    ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
    ["302", "6402"],
    ["private", "aec3 771a 4b"],
    ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
    ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
  ];
  for (const [text, coded] of vectors) {
    assert.equal(spacedHex(huffmanEncode(ascii(text))), spacedHex(fromHex(coded)), text);
    assert.equal(new TextDecoder().decode(huffmanDecode(fromHex(coded))), text);
  }
  // Spot checks of the derived canonical table (RFC 7541 Appendix B).
  assert.deepEqual(huffmanCode(48), { code: 0x0, length: 5 }); // '0'
  assert.deepEqual(huffmanCode(97), { code: 0x3, length: 5 }); // 'a'
  assert.deepEqual(huffmanCode(34), { code: 0x3f9, length: 10 }); // '"'
  assert.deepEqual(huffmanCode(0), { code: 0x1ff8, length: 13 });
  assert.deepEqual(huffmanCode(10), { code: 0x3ffffffc, length: 30 });
  assert.deepEqual(huffmanCode(255), { code: 0x3ffffee, length: 26 });
  assert.deepEqual(huffmanCode(256), { code: 0x3fffffff, length: 30 }); // EOS
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
  assert.throws(() => huffmanDecode(fromHex("ffffffff")), HuffmanError); // EOS inside
  assert.throws(() => huffmanDecode(fromHex("00")), HuffmanError); // '0' then 3 zero padding bits
  assert.throws(() => huffmanDecode(fromHex("f1e3 c2e5 f23a 6ba0 ab90 f4ff ff")), HuffmanError); // 8+ bits padding
});

Deno.test("qpack: decodes Chromium's CONNECT shape (Huffman names and values, static refs)", () => {
  const block = chromiumConnect("127.0.0.1:4443", "/basic?jwt=abc", '"moq-lite-04", "moq-lite-03"');
  // The exact first bytes of the shape: prefix, two indexed lines, literal with static name 0 + Huffman.
  assert.equal(spacedHex(block.subarray(0, 5)), "00 00 d7 cf 50");
  assert.equal(block[5] & 0x80, 0x80);
  const fields = decodeFieldSection(block);
  assert.deepEqual(fields, [
    [":scheme", "https"],
    [":method", "CONNECT"],
    [":authority", "127.0.0.1:4443"],
    [":path", "/basic?jwt=abc"],
    [":protocol", "webtransport"],
    ["sec-webtransport-http3-draft02", "1"],
    ["origin", "http://127.0.0.1:43351"],
    ["wt-available-protocols", '"moq-lite-04", "moq-lite-03"'],
  ]);
  const validation = validateConnect(fields);
  assert.ok(validation.ok);
  assert.equal(validation.request.url.href, "https://127.0.0.1:4443/basic?jwt=abc");
  assert.deepEqual(validation.request.offeredProtocols, ["moq-lite-04", "moq-lite-03"]);
  assert.equal(validation.request.origin, "http://127.0.0.1:43351");
});

Deno.test("qpack: decodes Deno's own client CONNECT (plain strings) and rejects dynamic references", () => {
  // Bytes captured from Deno 2.9.6's WebTransport client.
  const deno = fromHex(
    "00 00 51 0d 2f 70 61 74 68 3f 6a 77 74 3d 61 62 63 50 0f 31 32 37 2e 30 2e 30 2e 31 3a 34 36 36 34 35" +
      " cf 27 02 3a 70 72 6f 74 6f 63 6f 6c 0c 77 65 62 74 72 61 6e 73 70 6f 72 74 d7",
  );
  assert.deepEqual(decodeFieldSection(deno), [
    [":path", "/path?jwt=abc"],
    [":authority", "127.0.0.1:46645"],
    [":method", "CONNECT"],
    [":protocol", "webtransport"],
    [":scheme", "https"],
  ]);
  assert.throws(() => decodeFieldSection(fromHex("07 00 d7")), QpackError); // Required Insert Count 7
  assert.throws(() => decodeFieldSection(fromHex("00 00 81")), QpackError); // indexed, dynamic
  assert.throws(() => decodeFieldSection(fromHex("00 00 41 00")), QpackError); // name ref, dynamic
  assert.throws(() => decodeFieldSection(fromHex("00 00 10")), QpackError); // post-base
  assert.throws(() => decodeFieldSection(fromHex("00 00 ff 7f")), QpackError); // static index 126
  assert.throws(() => decodeFieldSection(fromHex("00 00 50 85 ff")), QpackError); // truncated string
  assert.throws(() => decodeFieldSection(fromHex("00 00 50 ff ff ff ff ff ff 0f")), QpackError); // absurd length
});

Deno.test("connect responses are byte-exact (docs/webtransport.md §7)", () => {
  const wtProtocol = spacedHex(ascii("wt-protocol"));
  const value = spacedHex(ascii('"moq-lite-04"'));
  assert.equal(
    spacedHex(encodeConnectResponse(200, "moq-lite-04")),
    `01 1e 00 00 d9 27 04 ${wtProtocol} 0d ${value}`,
  );
  assert.equal(spacedHex(encodeConnectResponse(401)), "01 08 00 00 5f 09 03 34 30 31");
  assert.equal(spacedHex(encodeConnectResponse(403)), "01 04 00 00 ff 05");
  assert.equal(spacedHex(encodeConnectResponse(404)), "01 03 00 00 db");
  assert.equal(spacedHex(encodeConnectResponse(200)), "01 03 00 00 d9");
  // Round trip through the decoder.
  assert.deepEqual(decodeFieldSection(encodeConnectResponse(200, "moq-lite-03").subarray(2)), [
    [":status", "200"],
    ["wt-protocol", '"moq-lite-03"'],
  ]);
  assert.deepEqual(decodeFieldSection(encodeFieldSection([["x-custom", "v"]], { huffman: true })), [[
    "x-custom",
    "v",
  ]]);
});

Deno.test("connect validation and subprotocol selection", () => {
  const base: Array<[string, string]> = [
    [":method", "CONNECT"],
    [":protocol", "webtransport"],
    [":scheme", "https"],
    [":authority", "relay.example:443"],
    [":path", "/anon?jwt=x"],
  ];
  const ok = validateConnect(base);
  assert.ok(ok.ok);
  assert.equal(ok.request.url.href, "https://relay.example/anon?jwt=x");
  const status = (fields: Array<[string, string]>) => {
    const v = validateConnect(fields);
    return v.ok ? 200 : v.status;
  };
  assert.equal(status(base.map(([n, v]) => [n, n === ":method" ? "GET" : v])), 405);
  assert.equal(status(base.filter(([n]) => n !== ":protocol")), 400);
  assert.equal(status(base.map(([n, v]) => [n, n === ":protocol" ? "websocket" : v])), 400);
  assert.equal(status(base.map(([n, v]) => [n, n === ":scheme" ? "http" : v])), 400);
  assert.equal(status(base.filter(([n]) => n !== ":authority")), 400);
  assert.equal(status(base.map(([n, v]) => [n, n === ":authority" ? "evil.com/x" : v])), 400);
  assert.equal(status(base.map(([n, v]) => [n, n === ":authority" ? "user@host" : v])), 400);
  assert.equal(status(base.map(([n, v]) => [n, n === ":path" ? "relative" : v])), 400);
  assert.equal(status([...base, [":path", "/again"]]), 400);
  assert.equal(status([["origin", "x"], ...base]), 400);
  assert.equal(status([...base, [":unknown", "x"]]), 400);
  assert.ok(validateConnect(base.map(([n, v]) => [n, n === ":authority" ? "[::1]:4443" : v])).ok);

  assert.equal(selectSubprotocol(["moq-lite-04", "moq-lite-03"]), "moq-lite-04");
  assert.equal(selectSubprotocol(["moq-lite-03", "moq-lite-04"]), "moq-lite-03");
  // `moql` is no wt-protocol value; the client's first one the relay serves wins (IETF included).
  assert.equal(selectSubprotocol(["moql", "moqt-17", "moq-lite-03"]), "moqt-17");
  assert.equal(selectSubprotocol(["moql", "moqt-13", "moq-lite-03"]), "moq-lite-03");
  assert.equal(selectSubprotocol(["moq-lite-04", "moq-lite-03"], ["moq-lite-03"]), "moq-lite-03");
  assert.equal(selectSubprotocol(["moql", "moq-lite-99"]), "");
  assert.equal(selectSubprotocol([]), "");
});

Deno.test("structured fields: wt-available-protocols lists", () => {
  assert.deepEqual(parseStringList('"moq-lite-04", "moq-lite-03"'), ["moq-lite-04", "moq-lite-03"]);
  assert.deepEqual(
    parseStringList('"moq-lite-04", "moq-lite-03", "moql", "moqt-17", "moqt-16", "moqt-15"'),
    ["moq-lite-04", "moq-lite-03", "moql", "moqt-17", "moqt-16", "moqt-15"],
  );
  assert.deepEqual(parseStringList('"a";q=1,\t"b\\"c", tok, 12, ("x" "y")'), ["a", 'b"c']);
  assert.deepEqual(parseList("tok")?.map((m) => m.kind), ["token"]);
  assert.deepEqual(parseStringList(""), []);
  assert.deepEqual(parseStringList('"unterminated'), []);
  assert.deepEqual(parseStringList('"a",'), []);
  assert.deepEqual(parseStringList('"a" "b"'), []);
  assert.deepEqual(parseStringList('  "a" ,\t"b"  '), ["a", "b"]);
  assert.deepEqual(parseList('?1, :AQI=:, 1.5, "x";a=?0, (1 2);b, %"f%c3%bc"')?.map((m) => m.kind), [
    "other",
    "other",
    "other",
    "string",
    "other",
    "other",
  ]);
  assert.equal(serializeString("moq-lite-04"), '"moq-lite-04"');
  assert.equal(serializeString('a"b\\'), '"a\\"b\\\\"');
  assert.throws(() => serializeString("é"), RangeError);
  assert.throws(() => serializeString("a\u0007"), RangeError);
});

Deno.test("capsules: CLOSE bytes, spanning frames, GREASE skipped, limits", () => {
  // wt.close({closeCode: 1234, reason: "browser done"}) as Chromium sends it (docs/webtransport.md §8).
  const close = encodeCloseSessionData(1234, "browser done");
  assert.equal(spacedHex(close), "00 13 68 43 10 00 00 04 d2 " + spacedHex(ascii("browser done")));
  assert.equal(spacedHex(encodeCloseSessionData(0, "")), "00 07 68 43 04 00 00 00 00");
  const parser = new CapsuleParser();
  // A GREASE capsule with an 8-byte type (> 2^53) and 20 payload bytes, then CLOSE split in pieces.
  const grease = Uint8Array.from([...fromHex("c0 00 00 29 3f 6f 85 1c"), 20, ...new Uint8Array(20)]);
  const capsule = close.subarray(2);
  const stream = Uint8Array.from([...grease, ...capsule]);
  const seen = [];
  for (let i = 0; i < stream.byteLength; i += 3) seen.push(...parser.push(stream.subarray(i, i + 3)));
  assert.deepEqual(seen, [{ type: "close", code: 1234, reason: "browser done" }]);
  assert.ok(parser.idle);
  // Drain capsule.
  assert.deepEqual(new CapsuleParser().push(fromHex("80 00 78 ae 00")), [{ type: "drain" }]);
  // A huge unknown capsule is skipped without buffering.
  const big = new CapsuleParser();
  assert.deepEqual(
    big.push(Uint8Array.from([...encodeVarint(0x17), ...encodeVarint(1_000_000), 1, 2, 3])),
    [],
  );
  assert.equal(big.idle, false);
  assert.deepEqual(big.push(new Uint8Array(999_997)), []);
  assert.ok(big.idle);
  assert.throws(() => new CapsuleParser().push(encodeCapsule(0x2843, new Uint8Array(2))), CapsuleError);
  assert.throws(() => new CapsuleParser().push(encodeCapsule(0x2843, new Uint8Array(5000))), CapsuleError);
});

Deno.test("error codes: WebTransport ↔ HTTP/3 mapping", () => {
  assert.equal(webtransportToHttp3(0), WT_ERROR_FIRST);
  assert.equal(webtransportToHttp3(7), 91141958510818); // observed from Chromium, docs/webtransport.md §11
  assert.equal(webtransportToHttp3(9), 91141958510820);
  assert.equal(webtransportToHttp3(0xffffffff), WT_ERROR_LAST);
  assert.equal(http3ToWebtransport(91141958510818), 7);
  for (const code of [0, 1, 0x1d, 0x1e, 0x1f, 1000, 123456789, 0xffffffff]) {
    assert.equal(http3ToWebtransport(webtransportToHttp3(code)), code);
  }
  assert.equal(http3ToWebtransport(0x10f), null);
  // A GREASE value inside the range is not a code.
  let grease = WT_ERROR_FIRST;
  while ((grease - 0x21) % 0x1f !== 0) grease++;
  assert.equal(http3ToWebtransport(grease), null);
});

Deno.test("h3: the server control stream is exactly the 17 proven bytes", () => {
  assert.equal(spacedHex(controlStreamPreamble()), "00 04 0e 08 01 33 01 80 ff d2 77 01 ab 60 37 42 01");
  assert.deepEqual(
    [...parseSettings(fromHex("08 01 33 01 80 ff d2 77 01 ab 60 37 42 01"))],
    [[0x08, 1], [0x33, 1], [0xffd277, 1], [0x2b603742, 1]],
  );
  assert.throws(() => parseSettings(fromHex("08 01 08 01")));
  assert.throws(() => parseSettings(fromHex("08")));
});
