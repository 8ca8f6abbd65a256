/**
 * The layer merge: flag > environment variable > TOML file > default. Each source has been read
 * into a {@link Layer} of raw values; the merge keeps, per key, the value of the highest layer that
 * sets it. Defaults are not a layer: a key no layer sets is absent, and the section builders fall
 * back to the built-in default.
 *
 * @module
 */

import { KEYS } from "./keys.ts";
import type { Layer } from "./_settings.ts";

/** Keys of the `auth.public` family: the highest-precedence source that sets any of them wins as a whole. */
const PUBLIC_FAMILY: readonly string[] = ["auth.public", "auth.public.subscribe", "auth.public.publish"];

/** Settings that do not stop the development default from applying. */
const LOG_ONLY: ReadonlySet<string> = new Set(["log.level"]);

/**
 * Merge layers, first = highest precedence. The `auth.public` family is taken from one layer, so
 * `--auth-public-subscribe x` replaces a file's `public = "anon"` instead of adding to it.
 */
export function mergeLayers(layers: readonly Layer[]): Layer {
  const merged: Layer = new Map();
  for (const def of KEYS) {
    if (PUBLIC_FAMILY.includes(def.path)) continue;
    const setting = layers.map((layer) => layer.get(def.path)).find((s) => s !== undefined);
    if (setting !== undefined) merged.set(def.path, setting);
  }
  const winner = layers.find((layer) => PUBLIC_FAMILY.some((path) => layer.has(path)));
  if (winner !== undefined) {
    for (const path of PUBLIC_FAMILY) {
      const setting = winner.get(path);
      if (setting !== undefined) merged.set(path, setting);
    }
  }
  return merged;
}

/** True when the layer sets nothing but log settings (the development default still applies). */
export function onlyLogSettings(layer: Layer): boolean {
  return [...layer.keys()].every((path) => LOG_ONLY.has(path));
}
