/**
 * `moq-relay token …`: generate keys, sign and verify tokens, interchangeable with upstream's Rust
 * `moq-token` (docs/relay.md §2.10). Flags follow the Rust CLI; `generate --key` is accepted
 * as an alias of `--out` (JS CLI), `--json` writes keys as JSON instead of base64url, and `verify`
 * prints the claims as JSON.
 *
 * Exit codes: 0 success, 1 failure (unreadable key, rejected token, …), 2 usage error.
 *
 * @module
 */

import { CompactSign } from "jose";
import { toHex } from "../codec/mod.ts";
import {
  type Algorithm,
  ALGORITHMS,
  encodeBase64Url,
  encodeKey,
  importSignKey,
  importVerifyKey,
  isValidKid,
  type Jwk,
  KeyError,
  type KeyType,
  parseKeyObject,
  parseKeyText,
  publicKey,
  scopeAllows,
} from "./jwk.ts";
import { verifyToken } from "./_verify.ts";
import { AuthError } from "./types.ts";

/** Where the command reads and writes. */
export interface TokenIo {
  /** Write text to standard output (the caller adds no newline). */
  stdout(text: string): void;
  /** Write text to standard error. */
  stderr(text: string): void;
  /** Read all of standard input. */
  stdin(): Promise<string>;
}

/** A command-line mistake (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Claims to sign. `put`/`get` are relative to `root`; times are unix seconds. */
export interface SignClaims {
  root?: string;
  put?: string[];
  get?: string[];
  exp?: number;
  iat?: number;
}

const encoder = new TextEncoder();

const defaultIo: TokenIo = {
  stdout: (text) => void Deno.stdout.writeSync(encoder.encode(text)),
  stderr: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
  stdin: () => new Response(Deno.stdin.readable).text(),
};

const USAGE = `Usage: moq-relay token <command> [options]

Commands:
  generate  Create a signing key (printed as base64url JSON unless --out/--out-dir)
    --algorithm ALG     ${ALGORITHMS.join(", ")} (default HS256)
    --id KID            key id (default: 16 random hex characters)
    --out PATH|-        private key file (alias: --key); - = stdout
    --out-dir DIR       write the private key to DIR/{kid}.jwk
    --public PATH|-     public key file (asymmetric algorithms only)
    --public-dir DIR    write the public key to DIR/{kid}.jwk
    --root R            scope root (with --publish/--subscribe)
    --publish P...      limit the prefixes tokens of this key may publish (repeatable)
    --subscribe S...    limit the prefixes tokens of this key may subscribe (repeatable)
    --json              write keys as JSON instead of base64url
  sign      Sign a token (printed on stdout)
    --key PATH|-        signing key file; - = stdin
    --root R            root the grants are relative to
    --publish P...      prefixes the token may publish ("" = everything under root)
    --subscribe S...    prefixes the token may subscribe ("" = everything under root)
    --expires UNIX      expiry, unix seconds
    --issued UNIX       issued-at, unix seconds
  verify    Verify a token and print its claims as JSON
    --key PATH|-        verification key file; - = stdin
    --in PATH|-         token file (default: stdin)
`;

type FlagKind = "string" | "list" | "bool";

interface FlagSpec {
  kind: FlagKind;
  /** Canonical name this flag is stored under. */
  name?: string;
}

type ParsedFlags = Map<string, string | string[] | true>;

function parseFlags(command: string, args: string[], specs: Record<string, FlagSpec>): ParsedFlags {
  const flags: ParsedFlags = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      // A stray argument may be a token or key pasted in the wrong place: show only its start.
      const shown = arg.length > 16 ? `${arg.slice(0, 8)}…` : arg;
      throw new UsageError(`${command}: unexpected argument "${shown}" (options start with --)`);
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[flag];
    if (spec === undefined) {
      throw new UsageError(`${command}: unknown option --${flag} (see moq-relay token --help)`);
    }
    const name = spec.name ?? flag;
    if (spec.kind === "bool") {
      if (eq >= 0) throw new UsageError(`${command}: --${flag} takes no value`);
      flags.set(name, true);
      continue;
    }
    const values: string[] = [];
    if (eq >= 0) {
      values.push(arg.slice(eq + 1));
    } else {
      // List flags take every following value up to the next option (JS CLI's variadic form).
      while (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        values.push(args[++i]);
        if (spec.kind === "string") break;
      }
      if (values.length === 0) throw new UsageError(`${command}: --${flag} needs a value`);
    }
    if (spec.kind === "string") {
      if (flags.has(name)) throw new UsageError(`${command}: --${flag} given more than once`);
      flags.set(name, values[0]);
    } else {
      const list = (flags.get(name) as string[] | undefined) ?? [];
      list.push(...values);
      flags.set(name, list);
    }
  }
  return flags;
}

function str(flags: ParsedFlags, name: string): string | undefined {
  return flags.get(name) as string | undefined;
}

function list(flags: ParsedFlags, name: string): string[] {
  return (flags.get(name) as string[] | undefined) ?? [];
}

function unixSeconds(command: string, flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) {
    throw new UsageError(`${command}: --${flag} must be a unix timestamp in seconds, got "${value}"`);
  }
  const n = Number(value.trim());
  if (!Number.isSafeInteger(n)) throw new UsageError(`${command}: --${flag} is out of range`);
  return n;
}

function parseAlgorithm(value: string): Algorithm {
  const found = ALGORITHMS.find((alg) => alg.toLowerCase() === value.toLowerCase());
  if (found === undefined) {
    throw new UsageError(`generate: unknown --algorithm "${value}": use one of ${ALGORITHMS.join(", ")}`);
  }
  return found;
}

function randomKid(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(8)));
}

const HASH: Record<string, string> = { "256": "SHA-256", "384": "SHA-384", "512": "SHA-512" };

/** Generate a new signing key (private half) for `alg`. */
export async function generateKey(alg: Algorithm, kid: string = randomKid()): Promise<Jwk> {
  if (!isValidKid(kid)) throw new KeyError("generate", `kid "${kid}" must match [A-Za-z0-9_-]{1,128}`);
  let kty: KeyType;
  const members: Record<string, string> = {};
  const exportMembers = async (key: CryptoKey, names: string[]) => {
    const jwk = await crypto.subtle.exportKey("jwk", key) as Record<string, unknown>;
    for (const name of names) members[name] = jwk[name] as string;
  };
  if (alg.startsWith("HS")) {
    kty = "oct";
    members.k = encodeBase64Url(crypto.getRandomValues(new Uint8Array(Number(alg.slice(2)) / 8)));
  } else if (alg.startsWith("RS") || alg.startsWith("PS")) {
    kty = "RSA";
    const pair = await crypto.subtle.generateKey(
      {
        name: alg.startsWith("RS") ? "RSASSA-PKCS1-v1_5" : "RSA-PSS",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: HASH[alg.slice(2)],
      },
      true,
      ["sign", "verify"],
    ) as CryptoKeyPair;
    await exportMembers(pair.privateKey, ["n", "e", "d", "p", "q", "dp", "dq", "qi"]);
  } else if (alg.startsWith("ES")) {
    kty = "EC";
    const pair = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: alg === "ES256" ? "P-256" : "P-384" },
      true,
      ["sign", "verify"],
    ) as CryptoKeyPair;
    await exportMembers(pair.privateKey, ["crv", "x", "y", "d"]);
  } else {
    kty = "OKP";
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    await exportMembers(pair.privateKey, ["crv", "x", "d"]);
  }
  return parseKeyObject({ alg, key_ops: ["sign", "verify"], kty, ...members, kid }, "generated key");
}

/**
 * Sign claims with a private key. Header `{"typ":"JWT","alg","kid"}`; payload members in the order
 * root (omitted if empty), put, get (omitted if empty), exp, iat.
 * @throws {KeyError} when the key cannot sign; `Error` when the claims grant nothing or exceed the
 * key's scope.
 */
export async function signToken(key: Jwk, claims: SignClaims, source = "key"): Promise<string> {
  const cryptoKey = await importSignKey(key, source);
  const root = claims.root ?? "";
  const put = claims.put ?? [];
  const get = claims.get ?? [];
  if (put.length === 0 && get.length === 0) {
    throw new Error('the token would grant nothing: give put and/or get ("" = everything under root)');
  }
  if (key.scope !== undefined && !scopeAllows(key.scope, root, put, get)) {
    throw new Error(`the grants exceed the key's scope ${JSON.stringify(key.scope)}`);
  }
  const payload: Record<string, unknown> = {};
  if (root !== "") payload.root = root;
  if (put.length > 0) payload.put = put;
  if (get.length > 0) payload.get = get;
  if (claims.exp !== undefined) payload.exp = claims.exp;
  if (claims.iat !== undefined) payload.iat = claims.iat;
  const header = key.kid === undefined
    ? { typ: "JWT", alg: key.alg }
    : { typ: "JWT", alg: key.alg, kid: key.kid };
  return await new CompactSign(encoder.encode(JSON.stringify(payload))).setProtectedHeader(header).sign(
    cryptoKey,
  );
}

async function readKey(path: string, io: TokenIo): Promise<Jwk> {
  if (path === "-") return parseKeyText(await io.stdin(), "stdin");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new KeyError(path, `cannot read the file (${e instanceof Error ? e.message : String(e)})`);
  }
  return parseKeyText(text, path);
}

async function writeKey(
  key: Jwk,
  path: string,
  json: boolean,
  isPrivate: boolean,
  io: TokenIo,
): Promise<void> {
  const text = encodeKey(key, json ? "json" : "base64url");
  if (path === "-") {
    io.stdout(text + "\n");
    return;
  }
  try {
    if (isPrivate) {
      await Deno.writeTextFile(path, text, { mode: 0o600 });
      await Deno.chmod(path, 0o600);
    } else {
      await Deno.writeTextFile(path, text);
    }
  } catch (e) {
    throw new Error(`failed to write key to ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function generateCommand(args: string[], io: TokenIo): Promise<void> {
  const flags = parseFlags("generate", args, {
    algorithm: { kind: "string" },
    id: { kind: "string" },
    out: { kind: "string" },
    key: { kind: "string", name: "out" },
    "out-dir": { kind: "string" },
    public: { kind: "string" },
    "public-dir": { kind: "string" },
    root: { kind: "string" },
    publish: { kind: "list" },
    subscribe: { kind: "list" },
    json: { kind: "bool" },
    base64: { kind: "bool" },
  });
  const alg = parseAlgorithm(str(flags, "algorithm") ?? "HS256");
  const id = str(flags, "id");
  if (id !== undefined && !isValidKid(id)) {
    throw new UsageError(`generate: --id "${id}" must be 1-128 characters of A-Z a-z 0-9 _ -`);
  }
  const out = str(flags, "out");
  const outDir = str(flags, "out-dir");
  const pub = str(flags, "public");
  const pubDir = str(flags, "public-dir");
  if (out !== undefined && outDir !== undefined) {
    throw new UsageError("generate: use --out or --out-dir, not both");
  }
  if (pub !== undefined && pubDir !== undefined) {
    throw new UsageError("generate: use --public or --public-dir, not both");
  }
  if (flags.has("json") && flags.has("base64")) {
    throw new UsageError("generate: use --json or --base64, not both");
  }
  const privateToStdout = outDir === undefined && (out === undefined || out === "-");
  if (pub === "-" && privateToStdout) {
    throw new UsageError(
      "generate: cannot write both keys to stdout; use --out/--public with a file path, or --out-dir/--public-dir",
    );
  }
  if ((pub !== undefined || pubDir !== undefined) && alg.startsWith("HS")) {
    throw new UsageError(
      `generate: ${alg} keys are symmetric and have no public half; drop --public/--public-dir`,
    );
  }
  const publish = list(flags, "publish");
  const subscribe = list(flags, "subscribe");
  const root = str(flags, "root");
  if (root !== undefined && publish.length === 0 && subscribe.length === 0) {
    io.stderr("warning: --root is only used together with --publish/--subscribe (key scope)\n");
  }

  let key = await generateKey(alg, id);
  if (publish.length > 0 || subscribe.length > 0) {
    key = { ...key, scope: { root: root ?? "", put: publish, get: subscribe } };
  }
  const kid = key.kid!;
  const json = flags.has("json");
  if (pubDir !== undefined) {
    await Deno.mkdir(pubDir, { recursive: true });
    await writeKey(publicKey(key), `${pubDir}/${kid}.jwk`, json, false, io);
  } else if (pub !== undefined) {
    await writeKey(publicKey(key), pub, json, false, io);
  }
  if (outDir !== undefined) {
    await Deno.mkdir(outDir, { recursive: true });
    await writeKey(key, `${outDir}/${kid}.jwk`, json, true, io);
  } else {
    await writeKey(key, out ?? "-", json, true, io);
  }
}

async function signCommand(args: string[], io: TokenIo): Promise<void> {
  const flags = parseFlags("sign", args, {
    key: { kind: "string" },
    root: { kind: "string" },
    publish: { kind: "list" },
    subscribe: { kind: "list" },
    expires: { kind: "string" },
    issued: { kind: "string" },
  });
  const keyPath = str(flags, "key");
  if (keyPath === undefined) {
    throw new UsageError("sign: --key PATH is required (- reads the key from stdin)");
  }
  const exp = unixSeconds("sign", "expires", str(flags, "expires"));
  const iat = unixSeconds("sign", "issued", str(flags, "issued"));
  const put = list(flags, "publish");
  const get = list(flags, "subscribe");
  if (put.length === 0 && get.length === 0) {
    throw new UsageError(
      'sign: give --publish and/or --subscribe (--publish "" grants everything under --root)',
    );
  }
  const key = await readKey(keyPath, io);
  const token = await signToken(key, { root: str(flags, "root") ?? "", put, get, exp, iat }, keyPath);
  io.stdout(token + "\n");
}

async function verifyCommand(args: string[], io: TokenIo): Promise<void> {
  const flags = parseFlags("verify", args, { key: { kind: "string" }, in: { kind: "string" } });
  const keyPath = str(flags, "key");
  if (keyPath === undefined) throw new UsageError("verify: --key PATH is required");
  const input = str(flags, "in") ?? "-";
  if (keyPath === "-" && input === "-") {
    throw new UsageError("verify: --key and --in cannot both read from stdin");
  }
  const key = await readKey(keyPath, io);
  let token: string;
  if (input === "-") {
    token = (await io.stdin()).trim();
  } else {
    try {
      token = (await Deno.readTextFile(input)).trim();
    } catch (e) {
      throw new Error(`failed to read token from ${input}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (token === "") throw new AuthError("missing", "no token given");
  const claims = await verifyToken(token, {
    jwk: key,
    cryptoKey: await importVerifyKey(key, keyPath),
    source: keyPath,
  });
  const out: Record<string, unknown> = { root: claims.root, put: claims.put, get: claims.get };
  if (claims.exp !== undefined) out.exp = claims.exp;
  if (claims.iat !== undefined) out.iat = claims.iat;
  if (claims.nbf !== undefined) out.nbf = claims.nbf;
  io.stdout(JSON.stringify(out, null, 2) + "\n");
}

/**
 * Run `token <command> …` with `args` (the words after `token`). Returns the exit code; never
 * throws for bad input.
 */
export async function runTokenCommand(args: string[], io: TokenIo = defaultIo): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === undefined) throw new UsageError("missing command: generate, sign or verify");
    if (command === "--help" || command === "-h" || command === "help" || rest.includes("--help")) {
      io.stdout(USAGE);
      return 0;
    }
    switch (command) {
      case "generate":
        await generateCommand(rest, io);
        return 0;
      case "sign":
        await signCommand(rest, io);
        return 0;
      case "verify":
        await verifyCommand(rest, io);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}": use generate, sign or verify`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`Error: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof AuthError) {
      io.stderr(`Error: token rejected (${e.reason}): ${e.message}\n`);
      return 1;
    }
    io.stderr(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
