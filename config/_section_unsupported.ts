/**
 * Upstream options this relay does not implement (`[server.tcp]`, `[stats]`, `[iroh]`, …): their
 * values are type-checked like supported keys, then ignored with one warning each, so an upstream
 * relay.toml still starts.
 *
 * @module
 */

import { KEYS } from "./keys.ts";
import type { SettingsReader } from "./_reader.ts";

/** Type-check every unsupported key that is set and push one warning per key. */
export function warnUnsupported(reader: SettingsReader, warnings: string[]): void {
  for (const def of KEYS) {
    if (def.supported || !reader.has(def.path)) continue;
    switch (def.kind) {
      case "string":
        reader.string(def.path);
        break;
      case "list":
        reader.list(def.path);
        break;
      case "bool":
        reader.bool(def.path, false);
        break;
      case "int":
        reader.integer(def.path);
        break;
      case "duration":
        reader.duration(def.path);
        break;
      case "seconds":
        reader.duration(def.path, { bareUnit: "s" });
        break;
      case "size":
        if (reader.size(def.path, true) === 0) reader.fail(def.path, "must be greater than 0");
        break;
    }
    const what = def.kind === "table" ? `[${def.path}]` : def.path;
    const where = reader.where(def.path);
    const prefix = where.endsWith(def.path) ? where.slice(0, -def.path.length) : `${where}: `;
    warnings.push(`${prefix}${what} (${def.help}) is not supported by this relay; ignored`);
  }
}
