/**
 * Public face of `session/ietf/`: the IETF moq-transport session (drafts 14–20) and its codec.
 *
 * @module
 */
export * from "./control.ts";
export * from "./data.ts";
export * from "./draft.ts";
export * from "./errors.ts";
export * from "./legacy.ts";
export * from "./session.ts";
export * from "./wire.ts";
