/**
 * The RFC 8941 structured-field subset WebTransport subprotocol negotiation uses: a List whose
 * members are sf-strings (`wt-available-protocols`), and one sf-string (`wt-protocol`). Parsing and
 * serialising are done by the `structured-headers` package (RFC 8941 / RFC 9651).
 *
 * @module
 */

import { parseList as parseSfList, serializeString as serializeSfString, Token } from "structured-headers";

/** A List member: its kind and bare value (strings unquoted, tokens as text, `""` for anything else). */
export interface ListMember {
  kind: "string" | "token" | "other";
  value: string;
}

/**
 * Parse an RFC 8941 List. Parameters are dropped; members that are neither strings nor tokens
 * become `other`.
 * Returns `null` when the text is not a valid List (the caller then treats it as "nothing offered").
 */
export function parseList(text: string): ListMember[] | null {
  let list: ReturnType<typeof parseSfList>;
  try {
    list = parseSfList(text);
  } catch {
    return null;
  }
  return list.map(([item]): ListMember => {
    if (typeof item === "string") return { kind: "string", value: item };
    if (item instanceof Token) return { kind: "token", value: item.toString() };
    // inner lists, numbers, booleans, byte sequences, dates, display strings: not subprotocols.
    return { kind: "other", value: "" };
  });
}

/** The sf-strings of a List header value, in order (non-strings ignored; invalid List → `[]`). */
export function parseStringList(text: string): string[] {
  const members = parseList(text);
  if (!members) return [];
  return members.filter((member) => member.kind === "string").map((member) => member.value);
}

/** Serialise an sf-string (`"moq-lite-04"`); throws `RangeError` for characters an sf-string cannot carry. */
export function serializeString(value: string): string {
  try {
    return serializeSfString(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new RangeError(`"${value}" cannot be an sf-string (${reason}); use printable ASCII only`);
  }
}
