import assert from "node:assert/strict";
import { encodeVarint } from "../../codec/mod.ts";
import { decodeFrames, encodeFrame } from "../websocket/mod.ts";
import { addProtocols, agreeProtocol, takeProtocols } from "./_negotiate.ts";
import { RecordStreamError } from "./_record_socket.ts";

function paramsRecord(): Uint8Array {
  const params = encodeFrame({
    type: "transport_parameters",
    params: {
      initialMaxData: 1000,
      initialMaxStreamDataBidiLocal: 100,
      initialMaxStreamDataBidiRemote: 100,
      initialMaxStreamDataUni: 100,
      initialMaxStreamsBidi: 10,
      initialMaxStreamsUni: 10,
    },
  }, "qmux-01");
  const ping = encodeFrame({ type: "padding", length: 3 }, "qmux-01");
  const out = new Uint8Array(params.length + ping.length);
  out.set(params);
  out.set(ping, params.length);
  return out;
}

Deno.test("application_protocols: added, then taken back out byte-exact; the session decoder accepts the rest", () => {
  const record = paramsRecord();
  const withProtocols = addProtocols(record, ["moq-lite-05", "moq-lite-04"]);
  assert.notDeepEqual(withProtocols, record);
  assert.throws(() => decodeFrames(withProtocols, "qmux-01"), "the WebSocket decoder rejects the parameter");
  const taken = takeProtocols(withProtocols);
  assert.deepEqual(taken.protocols, ["moq-lite-05", "moq-lite-04"]);
  assert.deepEqual(taken.record, record);
  assert.ok(decodeFrames(taken.record, "qmux-01").length >= 1);
});

Deno.test("application_protocols: server preference wins; malformed first records are refused", () => {
  assert.equal(agreeProtocol(["moq-lite-04", "moq-lite-03"], ["moq-lite-03", "moq-lite-04"]), "moq-lite-04");
  assert.equal(agreeProtocol(["moq-lite-04"], ["moq-lite-05"]), undefined);
  assert.throws(() => takeProtocols(new Uint8Array()), RecordStreamError);
  assert.throws(() => takeProtocols(encodeVarint(0x08)), RecordStreamError, "not transport parameters first");
  const truncated = addProtocols(paramsRecord(), ["moq-lite-04"]).subarray(0, 12);
  assert.throws(() => takeProtocols(truncated), RecordStreamError);
});
