/**
 * The `@kixelated/moq` 0.9.4 client (moq-lite-01 over a legacy CLIENT_SETUP), pinned in one place
 * and loaded bundled. Test-only: it stays out of deno.json "imports" and deno.lock
 * (tests/deps_test.ts).
 *
 * Why bundled: the package's published `ietf/message.js` imports `"../stream"` without an
 * extension, which Deno's npm resolver refuses (`ERR_MODULE_NOT_FOUND`). `deno bundle` (esbuild)
 * resolves it, so {@link loadKixelatedMoq} bundles a one-line entry re-exporting the package into a
 * temporary file and imports that. The interfaces below type the part of its API the tests use.
 *
 * @module
 */

/** The pinned package. */
export const KIXELATED_MOQ_SPECIFIER = "npm:@kixelated/moq@0.9.4";

import { denoBundle } from "./bundle.ts";

const ROOT_PATH = new URL("../", import.meta.url).pathname;

/** A group of frames (`Group` in the package). */
export interface KGroup {
  readonly sequence: number;
  writeFrame(frame: Uint8Array): void;
  readFrame(): Promise<Uint8Array | undefined>;
  close(): void;
}

/** A track (`Track`). */
export interface KTrack {
  readonly name: string;
  appendGroup(): KGroup;
  nextGroup(): Promise<KGroup | undefined>;
  close(): void;
}

/** A broadcast (`Broadcast`): publishing side answers {@link KBroadcast.requested}. */
export interface KBroadcast {
  requested(): Promise<{ track: KTrack; priority: number } | undefined>;
  subscribe(name: string, priority: number): KTrack;
  close(): void;
}

/** An established lite-01 connection (`Lite.Connection`). */
export interface KConnection {
  readonly url: URL;
  publish(path: string, broadcast: KBroadcast): void;
  consume(path: string): KBroadcast;
  close(): void;
  readonly closed: Promise<void>;
}

/** The loaded package surface. */
export interface KixelatedMoq {
  Broadcast: new () => KBroadcast;
  Path: { from(...paths: string[]): string };
  Lite: { Connection: new (...args: never[]) => KConnection };
  Ietf: { Connection: new (...args: never[]) => unknown };
  Connection: {
    connect(
      url: URL,
      props?: { websocket?: { enabled?: boolean; delay?: number }; webtransport?: Record<string, unknown> },
    ): Promise<KConnection>;
  };
}

/** Bundle `@kixelated/moq` 0.9.4 for Deno and import it. */
export async function loadKixelatedMoq(): Promise<KixelatedMoq> {
  const dir = await Deno.makeTempDir({ prefix: "kixelated-moq-" });
  try {
    const entry = `${dir}/entry.ts`;
    const output = `${dir}/kixelated_moq.js`;
    await Deno.writeTextFile(entry, `export * from "${KIXELATED_MOQ_SPECIFIER}";\n`);
    await denoBundle({
      entry,
      output,
      platform: "deno",
      cwd: ROOT_PATH,
      hint: "is it in Deno's npm cache?",
    });
    return await import(new URL(`file://${output}`).href) as KixelatedMoq;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Connect with `@kixelated/moq` over one transport only: `websocket` hides `globalThis.WebTransport`
 * for the synchronous start of `connect` (the package reads it once there), `webtransport`
 * disables its WebSocket fallback.
 */
export function connectKixelated(
  moq: KixelatedMoq,
  url: string,
  transport: "websocket" | "webtransport",
): Promise<KConnection> {
  if (transport === "webtransport") {
    return moq.Connection.connect(new URL(url), { websocket: { enabled: false } });
  }
  const global = globalThis as { WebTransport?: unknown };
  const saved = global.WebTransport;
  global.WebTransport = undefined;
  try {
    return moq.Connection.connect(new URL(url), { websocket: { delay: 0 } });
  } finally {
    global.WebTransport = saved;
  }
}
