import assert from "node:assert/strict";
import { REDACTED, redactedError, redactSecrets } from "./redact.ts";

const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb290IjoiIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

Deno.test("redactSecrets masks jwt= query values wherever they appear", () => {
  const text = `cannot dial ws://127.0.0.1:9/?jwt=abc.def.ghi&x=1: connection refused`;
  const out = redactSecrets(text);
  assert.ok(!out.includes("abc.def.ghi"), out);
  assert.match(out, /\?jwt=\[redacted\]&x=1: connection refused/);
  assert.ok(!redactSecrets("GET /x?token=s3cret HTTP/1.1").includes("s3cret"));
});

Deno.test("redactSecrets masks Authorization headers, bearer tokens and bare JWTs", () => {
  for (
    const text of [
      `authorization: Bearer opaque-secret-value`,
      `Authorization=opaque-secret-value`,
      `sent bearer opaque-secret-value to the peer`,
    ]
  ) {
    const out = redactSecrets(text);
    assert.ok(!out.includes("opaque-secret-value"), out);
    assert.ok(out.includes(REDACTED), out);
  }
  const bare = redactSecrets(`token was ${JWT} (expired)`);
  assert.equal(bare, `token was ${REDACTED} (expired)`);
});

Deno.test("redactSecrets leaves ordinary text alone; redactedError reads errors", () => {
  const plain = "session closed: code 6 (unauthorized) peer=127.0.0.1:4443 path=anon/cam";
  assert.equal(redactSecrets(plain), plain);
  assert.equal(redactedError(new Error(`bad ${JWT}`)), `bad ${REDACTED}`);
  assert.equal(redactedError("x?jwt=1"), `x?jwt=${REDACTED}`);
});
