/**
 * The RFC 8941 structured-field subset WebTransport subprotocol negotiation uses: a List whose
 * members are sf-strings (`wt-available-protocols`), and one sf-string (`wt-protocol`).
 *
 * @module
 */

/** A List member: its bare value (strings unquoted; tokens, numbers and the rest as text) and kind. */
export interface ListMember {
  kind: "string" | "token" | "other";
  value: string;
}

function isOws(c: string): boolean {
  return c === " " || c === "\t";
}

/**
 * Parse an RFC 8941 List. Parameters are skipped; inner lists become `other`. Returns `null` when
 * the text is not a valid List (the caller then treats it as "nothing offered").
 */
export function parseList(text: string): ListMember[] | null {
  const members: ListMember[] = [];
  let i = 0;
  const n = text.length;
  const skipSp = () => {
    while (i < n && text[i] === " ") i++;
  };
  const skipOws = () => {
    while (i < n && isOws(text[i])) i++;
  };
  const parseString = (): string | null => {
    // at '"'
    i++;
    let out = "";
    while (i < n) {
      const c = text[i++];
      if (c === "\\") {
        if (i >= n) return null;
        const next = text[i++];
        if (next !== '"' && next !== "\\") return null;
        out += next;
      } else if (c === '"') {
        return out;
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) return null;
        out += c;
      }
    }
    return null;
  };
  const parseBareItem = (): ListMember | null => {
    if (i >= n) return null;
    const c = text[i];
    if (c === '"') {
      const value = parseString();
      return value === null ? null : { kind: "string", value };
    }
    if (/[A-Za-z*]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9!#$%&'*+\-.^_`|~:/]/.test(text[i])) i++;
      return { kind: "token", value: text.slice(start, i) };
    }
    if (/[-0-9?:@]/.test(c)) {
      // numbers, booleans, byte sequences (":base64:"), dates: not subprotocols; keep their text.
      const start = i;
      while (i < n && !/[;,\s]/.test(text[i])) i++;
      return { kind: "other", value: text.slice(start, i) };
    }
    return null;
  };
  const skipParameters = (): boolean => {
    while (i < n && text[i] === ";") {
      i++;
      skipSp();
      const start = i;
      while (i < n && /[a-z0-9_\-.*]/.test(text[i])) i++;
      if (i === start) return false;
      if (text[i] === "=") {
        i++;
        if (!parseBareItem()) return false;
      }
    }
    return true;
  };
  skipSp();
  if (i >= n) return members;
  while (i < n) {
    let member: ListMember | null;
    if (text[i] === "(") {
      // inner list: skip to the closing parenthesis
      i++;
      while (i < n && text[i] !== ")") {
        skipSp();
        if (text[i] === ")") break;
        if (!parseBareItem()) return null;
        if (!skipParameters()) return null;
      }
      if (text[i] !== ")") return null;
      i++;
      member = { kind: "other", value: "" };
    } else {
      member = parseBareItem();
    }
    if (!member) return null;
    if (!skipParameters()) return null;
    members.push(member);
    skipOws();
    if (i >= n) return members;
    if (text[i] !== ",") return null;
    i++;
    skipOws();
    if (i >= n) return null; // trailing comma
  }
  return members;
}

/** The sf-strings of a List header value, in order (non-strings ignored; invalid List → `[]`). */
export function parseStringList(text: string): string[] {
  const members = parseList(text);
  if (!members) return [];
  return members.filter((member) => member.kind === "string").map((member) => member.value);
}

/** Serialise an sf-string (`"moq-lite-04"`); throws for characters an sf-string cannot carry. */
export function serializeString(value: string): string {
  let out = '"';
  for (const c of value) {
    const code = c.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) throw new RangeError(`"${value}" cannot be an sf-string`);
    out += c === '"' || c === "\\" ? `\\${c}` : c;
  }
  return out + '"';
}
