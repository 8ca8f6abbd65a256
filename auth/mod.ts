/**
 * Public face of `auth/`: other folders import only this module.
 *
 * @module
 */
export * from "./authenticator.ts";
export * from "./jwk.ts";
export * from "./key_remote.ts";
export * from "./scope.ts";
export * from "./token_cli.ts";
export * from "./types.ts";
