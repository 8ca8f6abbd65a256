/**
 * The start-up checks that need the file system: `auth.key` is a readable file, `auth.key_dir` a
 * directory, `cluster.token` a non-empty readable file. Remote (http/https) key sources are not
 * fetched here. (TLS certificate and key files are read when the listeners start.)
 *
 * @module
 */

import type { SettingsReader } from "./_reader.ts";
import type { RelayConfig } from "./types.ts";
import { isRemote } from "./_values.ts";

/** What a `stat` reports about a path. */
export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
}

/** File system access the checks use (injectable for tests). */
export interface FileAccess {
  /** Read a text file. */
  readFile: (path: string) => Promise<string>;
  /** Inspect a path. */
  stat: (path: string) => Promise<FileInfo>;
}

/** `Deno.stat`, reduced to {@link FileInfo}. */
export async function defaultStat(path: string): Promise<FileInfo> {
  const info = await Deno.stat(path);
  return { isFile: info.isFile, isDirectory: info.isDirectory };
}

/** A short reason for a failed file system call (`no such file`, `permission denied`, …). */
export function fsReason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

/** A `file:` URL becomes its path (as the auth key store reads it). */
function localPath(value: string): string {
  if (!value.startsWith("file:")) return value;
  try {
    return decodeURIComponent(new URL(value).pathname);
  } catch {
    return value;
  }
}

/** Check `auth.key`, `auth.key_dir` and `cluster.token`; throws `ConfigError` naming the key. */
export async function checkFiles(config: RelayConfig, reader: SettingsReader, fs: FileAccess): Promise<void> {
  const inspect = async (path: string): Promise<FileInfo | string> => {
    try {
      return await fs.stat(path);
    } catch (error) {
      return fsReason(error);
    }
  };
  const { key, keyDir } = config.auth;
  if (key !== undefined && !isRemote(key)) {
    const info = await inspect(localPath(key));
    if (typeof info === "string" || !info.isFile) {
      const why = typeof info === "string" ? info : "not a regular file";
      reader.fail(
        "auth.key",
        `cannot use JWK file "${key}" (${why}): expected an existing key file ` +
          `(create one with: moq-relay-deno token generate --out ${key})`,
      );
    }
  }
  if (keyDir !== undefined && !isRemote(keyDir)) {
    const info = await inspect(localPath(keyDir));
    if (typeof info === "string" || !info.isDirectory) {
      const why = typeof info === "string" ? info : "not a directory";
      reader.fail(
        "auth.key_dir",
        `cannot use key directory "${keyDir}" (${why}): expected a directory of {kid}.jwk files`,
      );
    }
  }
  const token = config.cluster.token;
  if (token !== undefined) {
    let text: string;
    try {
      text = await fs.readFile(token);
    } catch (error) {
      return reader.fail("cluster.token", `cannot read token file "${token}": ${fsReason(error)}`);
    }
    if (text.trim() === "") reader.fail("cluster.token", `token file "${token}" is empty: expected a JWT`);
  }
}
