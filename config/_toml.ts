/**
 * Reads a relay.toml (current and legacy layouts) into raw settings keyed by canonical key path.
 *
 * Legacy mappings (docs/relay.md §1.4): top-level `[tls]` → `[server.tls]` (deprecation warning; both
 * set with different values = fatal); `server.listen` → `server.bind` (both = fatal);
 * `cluster.mesh = "<url>"` → `mesh = true` + `node = "<url>"` (warning; conflicting `node` = fatal).
 * Unknown keys are fatal except in `[auth]` / `[auth.public]`, where they are a warning.
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import { ConfigError } from "./_errors.ts";
import { KEY_BY_TOML_PATH, KEYS, TABLES } from "./keys.ts";
import { didYouMean, type Layer, showValue } from "./_settings.ts";

/** Tables whose unknown keys only warn (docs/relay.md §8 item 4). */
const LENIENT_TABLES = new Set(["auth", "auth.public"]);

/** Whether a TOML value is a table (not an array, date or scalar). */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Parse TOML text; syntax errors become a one-line {@link ConfigError} with file, line and column. */
export function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text, { integersAsBigInt: "asNeeded" }) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0].replace(/^Invalid TOML document:\s*/, "")
        .replace(/ undefined$/, "");
      throw new ConfigError(`${file}:${error.line}:${error.column}: invalid TOML: ${reason}`, {
        file,
        cause: error,
      });
    }
    throw new ConfigError(`${file}: invalid TOML: ${(error as Error).message.split("\n")[0]}`, {
      file,
      cause: error,
    });
  }
}

/** Canonical comparison form of a value for the legacy-`[tls]` conflict check. */
function comparable(value: unknown): string {
  return JSON.stringify(Array.isArray(value) ? value : [value]);
}

/**
 * Flatten a parsed TOML document into raw settings. Deprecations and ignored unknown `[auth]` keys
 * are appended to `warnings`; structural problems throw {@link ConfigError} naming the key and file.
 */
export function tomlLayer(doc: Record<string, unknown>, file: string, warnings: string[]): Layer {
  const layer: Layer = new Map();
  const legacyTls = new Map<string, { value: unknown; key: string }>();
  let legacyMeshNode: { value: string; key: string } | undefined;

  const fail = (key: string, message: string, canonical = key): never => {
    throw new ConfigError(`${file}: ${key}: ${message}`, { key: canonical, file });
  };

  const walk = (table: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(table)) {
      const path = prefix === "" ? name : `${prefix}.${name}`;
      const def = KEY_BY_TOML_PATH.get(path);
      if (def !== undefined) {
        if (def.kind === "table") {
          if (!isTable(value)) fail(path, `expected a table [${path}], got ${showValue(value)}`, def.path);
          layer.set(def.path, { value, source: { kind: "file", file, key: path } });
          continue;
        }
        if (def.kind === "public" && isTable(value)) {
          walk(value, path);
          continue;
        }
        if (path.startsWith("tls.")) {
          legacyTls.set(def.path, { value, key: path });
          continue;
        }
        if (def.kind === "mesh" && typeof value === "string") {
          warnings.push(
            `${file}: ${path} = "<url>" is deprecated; write mesh = true and node = "<url>" under [cluster]`,
          );
          legacyMeshNode = { value, key: path };
          layer.set(def.path, { value: true, source: { kind: "file", file, key: path } });
          continue;
        }
        const existing = layer.get(def.path);
        if (existing !== undefined && existing.source.kind === "file") {
          fail(
            path,
            `${existing.source.key} and ${path} are the same setting; keep only ${def.path}`,
            def.path,
          );
        }
        layer.set(def.path, { value, source: { kind: "file", file, key: path } });
        continue;
      }
      if (TABLES.has(path)) {
        if (!isTable(value)) fail(path, `expected a table [${path}], got ${showValue(value)}`);
        walk(value as Record<string, unknown>, path);
        continue;
      }
      const siblings = [...KEY_BY_TOML_PATH.keys(), ...TABLES]
        .filter((candidate) => candidate.startsWith(prefix === "" ? "" : prefix + "."))
        .map((candidate) => candidate.slice(prefix === "" ? 0 : prefix.length + 1).split(".")[0]);
      const hint = didYouMean(name, new Set(siblings));
      if (LENIENT_TABLES.has(prefix)) {
        warnings.push(`${file}: unknown key ${path} ignored${hint}`);
        continue;
      }
      const where = prefix === "" ? "at the top level" : `in [${prefix}]`;
      fail(path, `unknown key ${where}${hint}; see relay.toml for the accepted keys`);
    }
  };
  walk(doc, "");

  if (legacyTls.size > 0) {
    warnings.push(`${file}: the top-level [tls] table is deprecated; move its keys under [server.tls]`);
    for (const [canonical, legacy] of legacyTls) {
      const current = layer.get(canonical);
      if (current !== undefined && comparable(current.value) !== comparable(legacy.value)) {
        const currentKey = current.source.kind === "file" ? current.source.key : canonical;
        fail(
          legacy.key,
          `conflicts with ${currentKey} (different values); remove the deprecated [tls] table`,
          canonical,
        );
      }
      if (current === undefined) {
        layer.set(canonical, { value: legacy.value, source: { kind: "file", file, key: legacy.key } });
      }
    }
  }

  if (legacyMeshNode !== undefined) {
    const node = layer.get("cluster.node");
    if (node !== undefined && node.value !== legacyMeshNode.value) {
      fail(
        "cluster.mesh",
        `legacy URL ${showValue(legacyMeshNode.value)} conflicts with cluster.node = ${
          showValue(node.value)
        }; write mesh = true and keep only node`,
      );
    }
    if (node === undefined) {
      layer.set("cluster.node", {
        value: legacyMeshNode.value,
        source: { kind: "file", file, key: legacyMeshNode.key },
      });
    }
  }
  return layer;
}

/** Every TOML spelling the loader accepts (canonical paths and aliases), for tests and docs. */
export function knownTomlPaths(): Set<string> {
  return new Set(KEYS.flatMap((def) => [def.path, ...def.aliases]));
}
