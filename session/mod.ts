/**
 * Public face of `session/`: other folders import only this module.
 *
 * @module
 */
export * from "./context.ts";
export {
  type Draft,
  draftFromAlpn,
  draftName,
  draftVersion,
  IetfSession,
  type IetfSessionOptions,
  peekClientSetup,
} from "./ietf/mod.ts";
/** The moq-transport codec (drafts 14–20), namespaced: its names overlap moq-lite's. */
export * as Ietf from "./ietf/mod.ts";
export * from "./lite05.ts";
export * from "./messages.ts";
export * from "./session.ts";
