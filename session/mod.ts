/**
 * Public face of `session/`: other folders import only this module.
 *
 * @module
 */
export * from "./context.ts";
export * from "./lite05.ts";
export * from "./messages.ts";
export * from "./session.ts";
