import assert from "node:assert/strict";
import {
  generateSelfSignedCertificate,
  SELF_SIGNED_BACKDATE_MS,
  SELF_SIGNED_LIFETIME_MS,
} from "./self_signed.ts";
import {
  certificateSha256Hex,
  keyMatchesCertificate,
  loadTlsCertificate,
  parsePem,
  pemEncode,
  TlsFileError,
} from "./pem.ts";
import { parseIpLiteral } from "./_ip.ts";

async function openssl(
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(hex.match(/../g)!.map((byte) => parseInt(byte, 16)));
}

Deno.test("ip literals parse to SAN bytes", () => {
  assert.deepEqual(parseIpLiteral("127.0.0.1"), Uint8Array.of(127, 0, 0, 1));
  assert.deepEqual(parseIpLiteral("::1"), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(
    parseIpLiteral("[2001:db8::ffff:1.2.3.4]"),
    Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4),
  );
  assert.equal(parseIpLiteral("localhost"), null);
  assert.equal(parseIpLiteral("256.0.0.1"), null);
  assert.equal(parseIpLiteral("1::2::3"), null);
  assert.equal(parseIpLiteral("1:2:3:4:5:6:7:8:9"), null);
});

Deno.test("pem: a malformed or truncated certificate is a bad-certificate error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = await generateSelfSignedCertificate(["localhost"]);
    await Deno.writeTextFile(`${dir}/good.key`, good.keyPem);
    const cases: [string, Uint8Array][] = [
      ["garbage", Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)],
      ["truncated", good.der.subarray(0, good.der.byteLength - 10)],
      ["wrong-structure", Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x05)],
      ["trailing-bytes", Uint8Array.from([...good.der, 0x05, 0x00])],
    ];
    for (const [name, der] of cases) {
      const path = `${dir}/${name}.crt`;
      await Deno.writeTextFile(path, good.certPem + pemEncode("CERTIFICATE", der));
      const error = await loadTlsCertificate(path, `${dir}/good.key`).then(() => null, (e) => e);
      assert.ok(error instanceof TlsFileError, `${name}: expected TlsFileError, got ${error}`);
      assert.equal(error.problem, "bad-certificate", name);
      assert.equal(error.path, path);
      assert.match(error.message, /malformed certificate/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("self-signed certificate parses in openssl with the right extensions and validity", async () => {
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);
  const cert = await generateSelfSignedCertificate(["localhost", "127.0.0.1", "::1", "relay.example.com"], {
    nowMs: now,
  });
  assert.equal(cert.notAfterMs - cert.notBeforeMs, SELF_SIGNED_BACKDATE_MS + SELF_SIGNED_LIFETIME_MS);
  assert.equal(cert.notAfterMs - cert.notBeforeMs, 14 * 24 * 3600 * 1000);
  const text = await openssl(["x509", "-noout", "-text"], cert.certPem);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Version: 3 \(0x2\)/);
  assert.match(text.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text.stdout, /ASN1 OID: prime256v1/);
  assert.match(text.stdout, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(text.stdout, /X509v3 Key Usage: critical\s+Digital Signature/);
  assert.match(text.stdout, /TLS Web Server Authentication/);
  assert.match(
    text.stdout,
    /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, DNS:relay\.example\.com/,
  );
  assert.match(text.stdout, /Not Before: Nov 24 12:00:00 2026 GMT/);
  assert.match(text.stdout, /Not After : Dec {2}8 12:00:00 2026 GMT/);
  // The signature verifies with the certificate's own key.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/cert.pem`, cert.certPem);
    const verify = await openssl([
      "verify",
      "-partial_chain",
      "-no_check_time",
      "-CAfile",
      `${dir}/cert.pem`,
      `${dir}/cert.pem`,
    ]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // The key is PKCS#8 and openssl reads it.
  const key = await openssl(["pkey", "-noout", "-text"], cert.keyPem);
  assert.equal(key.code, 0, key.stderr);
  assert.match(cert.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  // Fingerprint equals openssl's.
  const dgst = await openssl(["x509", "-noout", "-fingerprint", "-sha256"], cert.certPem);
  assert.equal(dgst.stdout.split("=")[1].trim().replaceAll(":", "").toLowerCase(), cert.sha256Hex);
  assert.equal(await certificateSha256Hex(cert.certPem), cert.sha256Hex);
  assert.equal(await certificateSha256Hex(cert.der), cert.sha256Hex);
});

Deno.test("self-signed certificate is accepted by Deno.QuicEndpoint and pinned by hash or CA", async () => {
  const cert = await generateSelfSignedCertificate(["localhost", "127.0.0.1"]);
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  const listener = endpoint.listen({ alpnProtocols: ["test"], cert: cert.certPem, key: cert.keyPem });
  const accepted: Deno.QuicConn[] = [];
  const serving = (async () => {
    for await (const incoming of listener) {
      try {
        accepted.push(await incoming.accept());
      } catch {
        // a refused handshake (bad pin) surfaces here
      }
    }
  })();
  try {
    const byHash = await Deno.connectQuic({
      hostname: "127.0.0.1",
      port: endpoint.addr.port,
      alpnProtocols: ["test"],
      serverCertificateHashes: [{ algorithm: "sha-256", value: hexToBytes(cert.sha256Hex) }],
    } as Deno.ConnectQuicOptions<false>);
    assert.equal(byHash.protocol, "test");
    byHash.close();
    const byCa = await Deno.connectQuic({
      hostname: "127.0.0.1",
      port: endpoint.addr.port,
      serverName: "localhost",
      alpnProtocols: ["test"],
      caCerts: [cert.certPem],
    });
    assert.equal(byCa.protocol, "test");
    byCa.close();
    await assert.rejects(
      Deno.connectQuic({
        hostname: "127.0.0.1",
        port: endpoint.addr.port,
        alpnProtocols: ["test"],
        serverCertificateHashes: [{ algorithm: "sha-256", value: new Uint8Array(32) }],
      } as Deno.ConnectQuicOptions<false>),
      /UnknownIssuer/,
    );
  } finally {
    listener.stop();
    endpoint.close();
    await serving.catch(() => {});
    for (const conn of accepted) await conn.closed.catch(() => {});
  }
});

Deno.test("pem: loadTlsCertificate reports each problem with the file name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await generateSelfSignedCertificate(["localhost"]);
    const b = await generateSelfSignedCertificate(["localhost"]);
    await Deno.writeTextFile(`${dir}/a.crt`, a.certPem);
    await Deno.writeTextFile(`${dir}/a.key`, a.keyPem);
    await Deno.writeTextFile(`${dir}/b.key`, b.keyPem);
    await Deno.writeTextFile(`${dir}/junk.txt`, "hello, not a certificate\n");
    await Deno.mkdir(`${dir}/adir`);

    const good = await loadTlsCertificate(`${dir}/a.crt`, `${dir}/a.key`);
    assert.equal(good.sha256Hex, a.sha256Hex);
    assert.equal(good.chainDer.length, 1);

    const expectProblem = async (cert: string, key: string, problem: string, file: string, text: RegExp) => {
      const error = await loadTlsCertificate(cert, key).then(() => null, (e) => e);
      assert.ok(error instanceof TlsFileError, `expected TlsFileError, got ${error}`);
      assert.equal(error.problem, problem);
      assert.equal(error.path, file);
      assert.ok(error.message.includes(file), error.message);
      assert.match(error.message, text);
    };
    await expectProblem(`${dir}/none.crt`, `${dir}/a.key`, "missing", `${dir}/none.crt`, /does not exist/);
    await expectProblem(`${dir}/a.crt`, `${dir}/none.key`, "missing", `${dir}/none.key`, /does not exist/);
    await expectProblem(`${dir}/adir`, `${dir}/a.key`, "unreadable", `${dir}/adir`, /cannot be read/);
    await expectProblem(`${dir}/junk.txt`, `${dir}/a.key`, "not-pem", `${dir}/junk.txt`, /not PEM/);
    await expectProblem(`${dir}/a.key`, `${dir}/a.crt`, "no-certificate", `${dir}/a.key`, /swap/);
    await expectProblem(`${dir}/a.crt`, `${dir}/a.crt`, "no-key", `${dir}/a.crt`, /no private key/);
    await expectProblem(`${dir}/a.crt`, `${dir}/b.key`, "key-mismatch", `${dir}/b.key`, /does not belong/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pem: chains, SEC1 and RSA keys from openssl", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ec = await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    assert.equal(ec.code, 0, ec.stderr);
    assert.match(ec.stdout, /BEGIN EC PRIVATE KEY/);
    await Deno.writeTextFile(`${dir}/ec.key`, ec.stdout);
    const ecCert = await openssl([
      "req",
      "-new",
      "-x509",
      "-key",
      `${dir}/ec.key`,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
    ]);
    assert.equal(ecCert.code, 0, ecCert.stderr);
    // A chain: leaf followed by another certificate; the fingerprint is the leaf's.
    const other = await generateSelfSignedCertificate(["other"]);
    await Deno.writeTextFile(`${dir}/chain.pem`, ecCert.stdout + other.certPem);
    const loaded = await loadTlsCertificate(`${dir}/chain.pem`, `${dir}/ec.key`);
    assert.equal(loaded.chainDer.length, 2);
    assert.equal(loaded.sha256Hex, await certificateSha256Hex(ecCert.stdout));
    assert.notEqual(loaded.sha256Hex, other.sha256Hex);
    assert.equal(parsePem(loaded.certPem).length, 2);

    const rsa = await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    assert.equal(rsa.code, 0, rsa.stderr);
    await Deno.writeTextFile(`${dir}/rsa.key`, rsa.stdout);
    const rsaCert = await openssl([
      "req",
      "-new",
      "-x509",
      "-key",
      `${dir}/rsa.key`,
      "-days",
      "2",
      "-subj",
      "/CN=x",
    ]);
    assert.equal(rsaCert.code, 0, rsaCert.stderr);
    const rsaKey = parsePem(rsa.stdout)[0];
    const rsaCertDer = parsePem(rsaCert.stdout)[0].der;
    assert.equal(await keyMatchesCertificate(rsaCertDer, rsaKey), true);
    const ecKey = parsePem(ec.stdout)[0];
    assert.equal(await keyMatchesCertificate(rsaCertDer, ecKey), false);
    assert.equal(await keyMatchesCertificate(parsePem(ecCert.stdout)[0].der, ecKey), true);
    // Round trip of PEM encoding.
    assert.equal(
      pemEncode("CERTIFICATE", rsaCertDer),
      parsePem(rsaCert.stdout).map((b) => pemEncode(b.label, b.der))[0],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
