/**
 * Public face of `transport/stream/`: plaintext qmux over TCP and Unix sockets.
 *
 * @module
 */
export * from "./stream_session.ts";
export { MAX_STREAM_RECORD_BYTES, RecordStreamError } from "./_record_socket.ts";
