/**
 * Accepting (relay side) and dialing (cluster side) MoQ WebSocket sessions.
 *
 * Keep-alive: `Deno.upgradeWebSocket`'s `idleTimeout` (seconds) sends a WebSocket Ping after half
 * the timeout without any received frame, and closes the socket (code 1001, "No response from ping
 * frame.") once the full timeout passes without any frame; Pongs count as traffic (verified with a
 * raw client on Deno 2.9.6). JavaScript cannot send Pings itself, so this is the only way to probe
 * an idle but healthy peer; {@link acceptWebSocket} exposes it as `idleTimeoutMs` (default 30 s:
 * Ping after 15 s of silence, close after 30 s). Dialed sockets have no such probe (Deno's client
 * WebSocket cannot ping); the remote relay pings us and our socket answers automatically.
 *
 * Requests the HTTP gate read itself (`ConnUpgradeRequest`, plain HTTP) are not upgraded by Deno:
 * the gate answers 101 and runs a `ConnWebSocket` on its own connection, which has the same
 * keep-alive (Ping after half the timeout, close 1001 after the rest).
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type { TransportSession } from "../types.ts";
import { versionOffer } from "../versions.ts";
import type { Framing } from "./framing.ts";
import {
  CLIENT_OFFER,
  DEFAULT_ALPNS,
  interpretSelectedSubprotocol,
  parseSubprotocolHeader,
  selectSubprotocol,
  type SubprotocolAlpn,
} from "./subprotocol.ts";
import { WebSocketSession, type WebSocketSessionLimits } from "./_websocket_session.ts";
import { ConnUpgradeRequest } from "./_conn_socket.ts";
import type { SessionSocket } from "./_link.ts";

/** Default silence after which an accepted socket is closed (a Ping is sent after half of it). */
export const IDLE_TIMEOUT_MS = 30_000;
/** Default time a dial may take until the socket is open. */
export const DIAL_TIMEOUT_MS = 10_000;

/** Raised (through the `session` promise) when an upgraded socket closes before it opened. */
export class WebSocketOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebSocketOpenError";
  }
}

/** Raised by {@link dialWebSocket} when the connection cannot be established. */
export class WebSocketDialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebSocketDialError";
  }
}

function hasToken(value: string | null, token: string): boolean {
  if (!value) return false;
  return value.split(",").some((part) => part.trim().toLowerCase() === token);
}

/** Whether `request` is a WebSocket upgrade (GET, `Upgrade: websocket`, `Connection: upgrade`, a key). */
export function isWebSocketUpgrade(request: Request): boolean {
  return request.method === "GET" &&
    hasToken(request.headers.get("upgrade"), "websocket") &&
    hasToken(request.headers.get("connection"), "upgrade") &&
    request.headers.has("sec-websocket-key");
}

/** Options of {@link acceptWebSocket}. */
export interface AcceptWebSocketOptions extends WebSocketSessionLimits {
  logger: Logger;
  /** Enabled version names (`[server] version`; default every served version, transport/versions.ts). */
  versions?: readonly string[];
  /** Narrows the ALPNs offered as `<framing>.<alpn>`, newest first (default every served one). */
  alpns?: readonly SubprotocolAlpn[];
  /** Enabled framings (default all); mainly for tests that need one framing against a broad offer. */
  framings?: readonly Framing[];
  /** Concurrently open peer streams before the session is closed (alias of `maxOpenStreams`). */
  maxStreams?: number;
  /**
   * Silence before the socket is closed (a Ping goes out after half); 0 disables. Default 30 s.
   * On the record framings it is also the `max_idle_timeout` the session announces.
   */
  idleTimeoutMs?: number;
  /** The peer address as `host:port`, for logs. */
  peer: string;
}

function badRequest(reason: string): Response {
  return new Response(reason + "\n", {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Upgrade `request` (call only after authentication passed). Returns the 101 response to send
 * and a promise of the session, which resolves once the socket is open and rejects with
 * {@link WebSocketOpenError} if the socket goes away first (the caller must handle that). Returns
 * `{ error }` with a 400 response naming the problem when the request is not a valid upgrade or
 * offers only unsupported subprotocols.
 */
export function acceptWebSocket(
  request: Request,
  options: AcceptWebSocketOptions,
): { response: Response; session: Promise<TransportSession> } | { error: Response } {
  if (!isWebSocketUpgrade(request)) {
    return { error: badRequest("not a WebSocket upgrade request (expected GET with Upgrade: websocket)") };
  }
  const offered = parseSubprotocolHeader(request.headers.get("sec-websocket-protocol"));
  const alpns = options.alpns ?? DEFAULT_ALPNS;
  const choice = selectSubprotocol(offered, options.versions, options.framings, alpns);
  if (!choice) {
    const offer = versionOffer(options.versions);
    const suffixes = [
      ...alpns.filter((alpn) => offer.protocols.includes(alpn)),
      ...(offer.legacy ? ["moql"] : []),
    ];
    return {
      error: badRequest(
        `no supported WebSocket subprotocol offered (got "${offered.join(", ")}"; ` +
          `supported: qmux-02, qmux-01, qmux-00, webtransport, or <framing>.<alpn> with <alpn> one of ` +
          `${suffixes.join(", ") || "(no version enabled)"})`,
      ),
    };
  }
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  let upgraded: { socket: SessionSocket; response: Response };
  if (request instanceof ConnUpgradeRequest) {
    // The HTTP gate owns the connection: it answers 101 itself once this handler returns, and
    // ignores the response below.
    upgraded = {
      socket: request.upgrade({ protocol: choice.header ?? "", idleTimeoutMs }),
      response: new Response(null, { status: 200, statusText: "Upgraded by the HTTP gate" }),
    };
  } else {
    try {
      const { socket, response } = Deno.upgradeWebSocket(request, {
        protocol: choice.header,
        idleTimeout: idleTimeoutMs / 1000,
      });
      socket.binaryType = "arraybuffer";
      upgraded = { socket, response };
    } catch (error) {
      return {
        error: badRequest(`invalid WebSocket upgrade: ${error instanceof Error ? error.message : error}`),
      };
    }
  }
  const { socket, response } = upgraded;
  const url = new URL(request.url);
  const session = new Promise<TransportSession>((resolve, reject) => {
    const cleanup = () => {
      socket.removeEventListener("open", onOpen);
      socket.removeEventListener("close", onClose);
      socket.removeEventListener("error", onClose);
    };
    const onOpen = () => {
      cleanup();
      try {
        resolve(
          new WebSocketSession({
            ...options,
            maxOpenStreams: options.maxOpenStreams ?? options.maxStreams,
            socket,
            framing: choice.framing,
            protocol: choice.protocol,
            idleTimeoutMs,
            url,
            peer: options.peer,
            role: "server",
            logger: options.logger,
          }),
        );
      } catch (error) {
        reject(error);
      }
    };
    const onClose = () => {
      cleanup();
      reject(new WebSocketOpenError(`the WebSocket from ${options.peer} closed before it opened`));
    };
    socket.addEventListener("open", onOpen);
    socket.addEventListener("close", onClose);
    socket.addEventListener("error", onClose);
  });
  options.logger.child("websocket", { peer: options.peer }).debug("websocket upgrade accepted", {
    subprotocol: choice.header ?? "",
    framing: choice.framing,
  });
  return { response, session };
}

/** Options of {@link dialWebSocket}. */
export interface DialWebSocketOptions extends WebSocketSessionLimits {
  logger: Logger;
  /** Aborting cancels the dial; after it connected, aborting closes the session with code 0. */
  signal?: AbortSignal;
  /** Give up when the socket is not open after this long (default 10 s). */
  timeoutMs?: number;
  /** Subprotocols to offer (default {@link CLIENT_OFFER}). */
  protocols?: readonly string[];
  /** The ALPNs a `<framing>.<alpn>` answer may carry (default `moq-lite-04`, `moq-lite-03`). */
  alpns?: readonly SubprotocolAlpn[];
  /** The `max_idle_timeout` announced on the record framings (default 30 s; 0 = none from us). */
  idleTimeoutMs?: number;
}

/**
 * Dial a MoQ WebSocket (used by clustering). `http(s):` URLs are mapped to `ws(s):`; path and
 * query are kept. Resolves once the socket is open; the session's framing and protocol follow the
 * subprotocol the server picked. Rejects with {@link WebSocketDialError}.
 */
export function dialWebSocket(url: URL, options: DialWebSocketOptions): Promise<TransportSession> {
  const target = new URL(url);
  if (target.protocol === "http:") target.protocol = "ws:";
  else if (target.protocol === "https:") target.protocol = "wss:";
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    return Promise.reject(new WebSocketDialError(`cannot dial ${url.href}: use an http(s) or ws(s) URL`));
  }
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(new WebSocketDialError(`dial to ${target.href} aborted`));
  const protocols = [...(options.protocols ?? CLIENT_OFFER)];
  let socket: WebSocket;
  try {
    socket = new WebSocket(target, protocols);
  } catch (error) {
    return Promise.reject(
      new WebSocketDialError(`cannot dial ${target.href}: ${error instanceof Error ? error.message : error}`),
    );
  }
  socket.binaryType = "arraybuffer";
  const timeoutMs = options.timeoutMs ?? DIAL_TIMEOUT_MS;
  return new Promise<TransportSession>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.removeEventListener("open", onOpen);
      socket.removeEventListener("close", onFail);
      socket.removeEventListener("error", onFail);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (message: string) => {
      cleanup();
      try {
        socket.close();
      } catch {
        // Already closing.
      }
      reject(new WebSocketDialError(message));
    };
    const onFail = (event: Event) => {
      const detail = event instanceof ErrorEvent && event.message ? `: ${event.message}` : "";
      fail(`cannot connect to ${target.href}${detail}`);
    };
    const onAbort = () => fail(`dial to ${target.href} aborted`);
    const timer = setTimeout(() => fail(`dial to ${target.href} timed out after ${timeoutMs} ms`), timeoutMs);
    const onOpen = () => {
      cleanup();
      const selected = socket.protocol;
      if (selected !== "" && !protocols.includes(selected)) {
        fail(`server ${target.href} selected subprotocol "${selected}", which was not offered`);
        return;
      }
      const { framing, protocol } = interpretSelectedSubprotocol(selected, options.alpns ?? DEFAULT_ALPNS);
      let session: WebSocketSession;
      try {
        session = new WebSocketSession({
          ...options,
          socket,
          framing,
          protocol,
          idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
          url,
          peer: target.host,
          role: "client",
          logger: options.logger,
        });
      } catch (error) {
        reject(error);
        return;
      }
      if (signal) {
        const onSessionAbort = () => session.close(0, "aborted");
        signal.addEventListener("abort", onSessionAbort, { once: true });
        session.closed.then(() => signal.removeEventListener("abort", onSessionAbort));
      }
      resolve(session);
    };
    socket.addEventListener("open", onOpen);
    socket.addEventListener("close", onFail);
    socket.addEventListener("error", onFail);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
