/**
 * moq-transport over raw QUIC, which carries no URL, against a relay with no public access: the
 * session authorises at SETUP from its PATH (`/room?jwt=…`) or an AUTHORIZATION_TOKEN (alias type
 * USE_VALUE) beside a PATH. A token in the PATH is accepted and scopes the root; a forged token,
 * no token at all, and a token alias registration are refused with the draft's close codes.
 */

import assert from "node:assert/strict";
import {
  dialIetf,
  type Draft,
  generateTestKey,
  publishNamespaceRequest,
  RawIetfPeer,
  type RelayProcess,
  startRelay,
  within,
} from "../testing/mod.ts";
import { signToken } from "../auth/mod.ts";
import { Ietf } from "../session/mod.ts";
const UNAUTHORIZED = 0x2;
const AUTH_TOKEN_CACHE_OVERFLOW = 0x13;

const text = (s: string) => new TextEncoder().encode(s);
const pathOption = (p: string): Ietf.Param => ({ type: Ietf.SetupOption.Path, value: text(p) });
/** AUTHORIZATION_TOKEN: alias type (3 USE_VALUE, 1 REGISTER), token type 0, the token (one-byte varints). */
const tokenOption = (token: string, aliasType = 3): Ietf.Param => ({
  type: Ietf.SetupOption.AuthorizationToken,
  value: Uint8Array.of(...(aliasType === 1 ? [1, 7] : [aliasType]), 0, ...text(token)),
});

/** SETUP with `options`; the session must be closed by the relay with `code`. */
async function refused(relay: RelayProcess, draft: Draft, options: Ietf.Param[], code: number, what: string) {
  const t = await dialIetf(relay, draft, "quic");
  // Drafts 14–16 wait for SERVER_SETUP, which never comes; 17+ get the relay's SETUP first.
  const peer = await RawIetfPeer.over(t, draft, 100, options).catch(() => undefined);
  const closed = await within(10_000, `refusal (${what})`, t.closed);
  assert.equal(closed.code, code, `draft ${draft}: ${what} closed with 0x${code.toString(16)}`);
  peer?.close();
}

/** SETUP with `options`; PUBLISH_NAMESPACE `ns` must be accepted and land at `path`. */
async function accepted(relay: RelayProcess, draft: Draft, options: Ietf.Param[], ns: string, path: string) {
  const peer = await RawIetfPeer.over(await dialIetf(relay, draft, "quic"), draft, 100, options);
  try {
    const req = await peer.request(publishNamespaceRequest([ns]));
    const reply = await within(5_000, "announce reply", req.next());
    assert.equal(
      reply?.kind,
      draft === 14 ? "publishNamespaceOk" : "requestOk",
      `draft ${draft}: announce ok`,
    );
    await relay.waitForLog(new RegExp(`broadcast published.*path=${path}\\b`));
  } finally {
    peer.close();
  }
}

Deno.test({
  name: "moq-transport over raw QUIC, no public access: SETUP PATH token / AUTHORIZATION_TOKEN authorise",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "moq-ietf-auth-" });
  const { keyPath, key } = await generateTestKey(`${dir}/key.jwk`);
  const token = await signToken(key, { root: "room", put: [""], get: [""] });
  const forged = `${token.slice(0, -4)}AAAA`;
  const relay = await startRelay({ auth: `key = "${keyPath}"` });
  try {
    for (const draft of [14, 16, 17, 18, 20] as Draft[]) {
      await t.step(`draft ${draft}`, async () => {
        await accepted(relay, draft, [pathOption(`/room?jwt=${token}`)], `p${draft}`, `room/p${draft}`);
        await accepted(
          relay,
          draft,
          [pathOption("/room"), tokenOption(token)],
          `t${draft}`,
          `room/t${draft}`,
        );
        await refused(relay, draft, [pathOption(`/room?jwt=${forged}`)], UNAUTHORIZED, "forged PATH token");
        await refused(relay, draft, [pathOption("/room"), tokenOption(forged)], UNAUTHORIZED, "forged token");
        await refused(relay, draft, [pathOption("/room")], UNAUTHORIZED, "PATH without a token");
        await refused(relay, draft, [], UNAUTHORIZED, "no PATH, no token");
        await refused(relay, draft, [tokenOption(token, 1)], AUTH_TOKEN_CACHE_OVERFLOW, "alias registration");
      });
    }
    assert.ok(relay.logs.some((l) => /SETUP is not authorized/.test(l)), "refusals leave a log line");
    assert.ok(
      relay.logs.every((l) => !l.includes(token.slice(-20))),
      "the token never reaches the relay log",
    );
  } catch (error) {
    console.error(`--- relay log ---\n${relay.logs.slice(-80).join("\n")}`);
    throw error;
  } finally {
    await relay.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
