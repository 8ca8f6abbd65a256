/**
 * Public face of `testing/`: helpers shared by unit and end-to-end tests. The pinned test-only npm
 * clients are separate entry points (`testing/moq_lite.ts`, `testing/moq_net.ts`), loaded lazily or
 * bundled for the browser, so that importing this face does not load them.
 *
 * @module
 */
export * from "./auth.ts";
export * from "./bundle.ts";
export * from "./bytes.ts";
export * from "./cluster.ts";
export * from "./dial.ts";
export * from "./fuzz.ts";
export * from "./guard.ts";
export * from "./harness.ts";
export * from "./http.ts";
export * from "./kixelated_moq.ts";
export * from "./metrics.ts";
export * from "./moq.ts";
export * from "./quic.ts";
export * from "./raw_ietf.ts";
export * from "./raw_lite05.ts";
export * from "./raw_moq.ts";
export * from "./raw_ws.ts";
export * from "./relay.ts";
export * from "./session_checks.ts";
export * from "./streams.ts";
export * from "./timing.ts";
export * from "./websocket.ts";
