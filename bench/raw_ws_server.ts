/**
 * The raw WebSocket fan-out baseline: `deno run -A bench/raw_ws_server.ts`. `Deno.serve` +
 * `Deno.upgradeWebSocket`, subprotocol `webtransport.moq-lite-04` or `webtransport.moq-lite-05`,
 * whichever the client offers first (the bytes are forwarded unread; the framing the relay uses
 * with the bench client: one STREAM frame per message, no flow control). A socket that sends a
 * STREAM frame is the publisher; every other socket is a subscriber. Each publisher message is
 * forwarded as-is to every subscriber, with only the stream id turned from a client uni id
 * (`4n+2`) into the matching server uni id (`4n+3`, same varint length): minimal logic, no copy.
 *
 * Prints `{"port":…}` on stdout once listening; exits on SIGTERM.
 *
 * @module
 */
import { varintLength } from "../codec/mod.ts";

/** Subprotocols selected (what the bench client offers, per `--lite`). */
export const SUBPROTOCOLS = ["webtransport.moq-lite-04", "webtransport.moq-lite-05"];
/** Same idle timeout as the relay's WebSocket listener. */
export const IDLE_TIMEOUT_MS = 30_000;

const STREAM = 0x08;
const STREAM_FIN = 0x09;

const subscribers = new Set<WebSocket>();

function onMessage(socket: WebSocket, event: MessageEvent): void {
  if (!(event.data instanceof ArrayBuffer)) return;
  const bytes = new Uint8Array(event.data);
  const type = bytes[0];
  if (type !== STREAM && type !== STREAM_FIN) return; // closes, resets: not forwarded
  subscribers.delete(socket); // it publishes
  const idBytes = varintLength(bytes[1]);
  bytes[idBytes] |= 1; // client-initiated id → server-initiated id
  for (const s of subscribers) {
    try {
      s.send(bytes);
    } catch {
      subscribers.delete(s);
    }
  }
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ port })),
}, (request) => {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("raw WebSocket fan-out baseline\n");
  }
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
  const protocol = offered.find((p) => SUBPROTOCOLS.includes(p)) ?? SUBPROTOCOLS[0];
  const { socket, response } = Deno.upgradeWebSocket(request, {
    protocol,
    idleTimeout: IDLE_TIMEOUT_MS / 1000,
  });
  socket.binaryType = "arraybuffer";
  socket.addEventListener("open", () => subscribers.add(socket));
  socket.addEventListener("message", (event) => onMessage(socket, event));
  socket.addEventListener("close", () => subscribers.delete(socket));
  socket.addEventListener("error", () => subscribers.delete(socket));
  return response;
});

Deno.addSignalListener("SIGTERM", () => {
  server.shutdown().finally(() => Deno.exit(0));
  setTimeout(() => Deno.exit(0), 1_000);
});
