/**
 * Fuzz test for the auth API answer parser ({@link AuthApiClient}) against a real local HTTP
 * server: any body and `Cache-Control` header yields an answer or throws only {@link AuthError};
 * no error message quotes the API URL's credentials or query.
 */

import assert from "node:assert/strict";
import { decodeOrRejectAsync, fc, fuzzParams } from "../testing/mod.ts";
import { silentLogger } from "../log/mod.ts";
import { AuthApiClient } from "./_auth_api.ts";
import { AuthError } from "./types.ts";

const keyish = fc.record({
  kty: fc.constantFrom("OKP", "EC", "RSA", "oct", 7),
  crv: fc.constantFrom("Ed25519", "P-256", "X"),
  x: fc.base64String({ maxLength: 64 }),
  alg: fc.constantFrom("EdDSA", "ES256", "HS256", "none"),
  kid: fc.string({ maxLength: 8 }),
}, { requiredKeys: [] });

const answer = fc.record({
  alias: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
  public: fc.oneof(
    fc.record({ subscribe: fc.jsonValue(), publish: fc.array(fc.string(), { maxLength: 4 }) }, {
      requiredKeys: [],
    }),
    fc.jsonValue(),
  ),
  tier: fc.oneof(fc.string(), fc.jsonValue()),
  key: fc.oneof(keyish, fc.jsonValue()),
}, { requiredKeys: [] });

Deno.test({
  name: "fuzz: the auth API answer parser throws only AuthError and never quotes the URL's secrets",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  let body = "";
  let cacheControl: string | null = null;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (cacheControl !== null) headers["cache-control"] = cacheControl;
    return new Response(body, { headers });
  });
  const base = `http://user:SECRETPW@127.0.0.1:${server.addr.port}/auth?api_key=SECRETKEY`;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v) ?? ""),
          answer.map((a) => JSON.stringify(a)),
        ),
        fc.option(fc.oneof(fc.string(), fc.constantFrom("max-age=60", "no-store", 'max-age="5"')), {
          nil: null,
        }),
        async (text, cc) => {
          body = text;
          cacheControl = cc;
          const client = new AuthApiClient(base, silentLogger(), { peerBurst: 1e9 });
          try {
            await decodeOrRejectAsync("auth API answer", [AuthError], async () => {
              try {
                return await client.lookup("root", "kid", "quic", "peer");
              } catch (e) {
                if (e instanceof Error) assert.doesNotMatch(e.message, /SECRET/, "an error quotes a secret");
                throw e;
              }
            });
          } finally {
            await client.close();
          }
        },
      ),
      fuzzParams(),
    );
  } finally {
    await server.shutdown();
  }
});
