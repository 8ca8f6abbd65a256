/**
 * Fuzz test for the connect_api peer-list parser ({@link parsePeerList}): any body throws only
 * {@link PeerListError} or {@link PeerUrlError}, and an accepted list is bounded.
 */

import assert from "node:assert/strict";
import { decodeOrReject, fc, fuzzParams } from "../testing/mod.ts";
import { CONNECT_API_MAX_PEERS, parsePeerList, PeerListError } from "./_connect_api.ts";
import { PeerUrlError } from "./_peer_url.ts";

const ERRORS = [PeerListError, PeerUrlError];

const url = fc.oneof(
  fc.webUrl(),
  fc.string(),
  fc.constantFrom("https://relay2.example.com/", "https://u:p@[::1]:4443/x?jwt=a", "moql://x", "https:///"),
);

Deno.test("fuzz: parsePeerList throws only PeerListError/PeerUrlError; an accepted list is bounded", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(url, { maxLength: 8 }).map((l) => JSON.stringify(l)),
        fc.jsonValue().map((v) => JSON.stringify(v) ?? ""),
      ),
      (text) => {
        const out = decodeOrReject("parsePeerList", ERRORS, () => parsePeerList(text));
        if (out !== undefined) {
          assert.ok(out.length <= CONNECT_API_MAX_PEERS);
          assert.ok(out.every((u) => typeof u === "string"));
        }
      },
    ),
    fuzzParams(),
  );
});
