/// <reference lib="dom" />
/**
 * The media browser test page: `<moq-publish>` (`@moq/publish` 0.2.17) publishing a camera and
 * `<moq-watch>` (`@moq/watch` 0.4.6) rendering a broadcast into a canvas, driven from Deno through
 * `globalThis.moqMedia` ({@link MoqMediaApi}). One bundle serves both roles; a test opens it in
 * two tabs. Built by `build.ts` into `dist/media_page.js`.
 *
 * @module
 */

import "../../testing/moq_media.ts";
import type { MediaStatus, MoqMediaApi } from "./api.ts";

/** The part of a `@moq/signals` value the page reads. */
interface Peekable<T> {
  peek(): T;
}

/** The fields of `<moq-publish>` and `<moq-watch>` the page reads and sets. */
interface MediaElement extends HTMLElement {
  connection: {
    established: Peekable<{ version: string } | undefined>;
    /** `@moq/net`'s `Reload.websocket`: the WebSocket fallback options, read at each connect attempt. */
    websocket: { enabled?: boolean } | undefined;
  };
}

/** The extra field of `<moq-watch>` the page reads. */
interface WatchElement extends MediaElement {
  video: { out: { stats: Peekable<{ frameCount: number; bytesReceived: number } | undefined> } };
}

let element: MediaElement | undefined;
let watcher: WatchElement | undefined;
let canvas: HTMLCanvasElement | undefined;

/**
 * Turn off `el`'s WebSocket fallback before it is attached (its connection starts only once it is
 * in the document). `@moq/net` otherwise races a WebSocket against WebTransport after a 500 ms
 * head start, and on a busy machine the WebSocket can win, so a pass must come from WebTransport.
 */
function webTransportOnly(el: MediaElement): void {
  el.connection.websocket = { enabled: false };
}

/** Count the pixels of `source` that are not (near) black, on a small copy. */
function litPixels(source: HTMLCanvasElement): number {
  if (source.width === 0 || source.height === 0) return 0;
  const copy = document.createElement("canvas");
  copy.width = 64;
  copy.height = 64;
  const ctx = copy.getContext("2d", { willReadFrequently: true });
  if (!ctx) return 0;
  ctx.drawImage(source, 0, 0, copy.width, copy.height);
  const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let lit = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] + data[i + 1] + data[i + 2] > 48) lit++;
  }
  return lit;
}

const api: MoqMediaApi = {
  publish(url: string, name: string): void {
    const el = document.createElement("moq-publish") as unknown as MediaElement;
    el.setAttribute("url", url);
    el.setAttribute("name", name);
    el.setAttribute("source", "camera");
    el.setAttribute("muted", "");
    webTransportOnly(el);
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    el.appendChild(video);
    document.body.appendChild(el);
    element = el;
  },

  watch(url: string, name: string): void {
    const el = document.createElement("moq-watch") as unknown as WatchElement;
    el.setAttribute("url", url);
    el.setAttribute("name", name);
    el.setAttribute("muted", "");
    el.setAttribute("visible", "always");
    webTransportOnly(el);
    canvas = document.createElement("canvas");
    el.appendChild(canvas);
    document.body.appendChild(el);
    element = el;
    watcher = el;
  },

  status(): MediaStatus {
    const stats = watcher?.video.out.stats.peek();
    return {
      version: element?.connection.established.peek()?.version ?? "",
      websocket: element?.connection.websocket?.enabled ?? true,
      frames: stats?.frameCount ?? 0,
      bytes: stats?.bytesReceived ?? 0,
      canvas: canvas ? { width: canvas.width, height: canvas.height, lit: litPixels(canvas) } : undefined,
    };
  },
};

(globalThis as unknown as { moqMedia: MoqMediaApi }).moqMedia = api;
