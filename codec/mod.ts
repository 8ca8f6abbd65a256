/**
 * Public face of `codec/`: other folders import only this module.
 *
 * @module
 */
export * from "./bytes.ts";
export * from "./reader.ts";
export * from "./utf8.ts";
export * from "./varint.ts";
export * from "./writer.ts";
