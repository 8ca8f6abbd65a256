/**
 * What every part of one moq-transport session shares, and the small replies every request
 * handler sends (errors and OKs in each draft's form).
 *
 * @module
 */

import type { SessionScope } from "../../auth/mod.ts";
import type { LimitsConfig } from "../../config/mod.ts";
import type { Logger } from "../../log/mod.ts";
import { checkedPath, type Group, type Origin, type RelayStats, type Track } from "../../relay/mod.ts";
import type { TransportSession } from "../../transport/mod.ts";
import type { SessionWarnings } from "../context.ts";
import type { ControlMessage, Location } from "./control.ts";
import type { Draft } from "./draft.ts";
import {
  IetfReader,
  IetfWriter,
  putLeadingOnes,
  readProperties,
  sortParams,
  writeProperties,
} from "./wire.ts";
import { RequestErrorCode17 } from "./errors.ts";
import type { Request } from "./_requests.ts";

/** Shared state of one moq-transport session. */
export interface IetfContext {
  readonly id: number;
  readonly transport: TransportSession;
  readonly draft: Draft;
  /** What the session may publish and subscribe to (replaced once by a raw-QUIC SETUP PATH). */
  scope: SessionScope;
  readonly origin: Origin;
  readonly stats: RelayStats;
  readonly log: Logger;
  readonly limits: LimitsConfig;
  /** Aborted when the session ends. */
  readonly signal: AbortSignal;
  readonly warnings: SessionWarnings;
  /** Close the whole session (peer violation). */
  fail(code: number, reason: string): void;
  /**
   * Open a request toward the peer whose first message `build(id)` returns (the id is chosen by the
   * session). Returns null when the peer's request id limit leaves no room.
   */
  openRequest(build: (id: number) => ControlMessage): Promise<Request | null>;
}

/** The publisher priority the relay writes in subgroup headers and fetch objects (mid-range). */
export const PUBLISHER_PRIORITY = 128;

/** The largest location a track has cached (the newest group's last frame), if any. */
export function largestOf(track: Track): Location | undefined {
  const g = track.latest;
  if (!g || g.frameCount === 0) return undefined;
  const last = g.frameCount - 1;
  return { group: g.sequence, object: g.meta instanceof SubgroupMeta ? g.meta.idOf(last) : last };
}

/** Most extension header bytes kept per cached group; beyond it objects are relayed without them. */
export const MAX_GROUP_EXTENSION_BYTES = 64 * 1024;

/**
 * The moq-transport facts of one cached group (one subgroup stream of an IETF publisher), kept in
 * `Group.meta` so IETF subscribers get the subgroup, object ids, priority and extension headers
 * exactly; moq-lite subscribers read only the frames.
 */
export class SubgroupMeta {
  /** The subgroup id (for a first-object-id header, known once the first object arrived). */
  subgroup: number;
  readonly priority: number;
  readonly endOfGroup: boolean;
  /** Whether the publisher's objects carried extension headers. */
  readonly extensions: boolean;
  /** Object id of frame i, once any differs from i (null while dense). */
  ids: number[] | null = null;
  /** Extension header bytes of frame i (null when none was kept). */
  ext: (Uint8Array | undefined)[] | null = null;
  /** Bytes held in {@link ext}, at most {@link MAX_GROUP_EXTENSION_BYTES}. */
  extBytes = 0;

  /** The draft the publisher encoded the kept extension headers in (undefined: none kept). */
  readonly draft: Draft | undefined;

  constructor(subgroup: number, priority: number, endOfGroup: boolean, extensions: boolean, draft?: Draft) {
    this.draft = draft;
    this.subgroup = subgroup;
    this.priority = priority;
    this.endOfGroup = endOfGroup;
    this.extensions = extensions;
  }

  /** The object id of frame `i`. */
  idOf(i: number): number {
    return this.ids?.[i] ?? i;
  }

  /** Record frame `i`'s object id and extension bytes (dropped beyond the byte cap: false). */
  record(i: number, objectId: number, ext: Uint8Array | undefined): boolean {
    if (objectId !== i || this.ids) {
      if (!this.ids) {
        this.ids = Array.from({ length: i }, (_, n) => n);
        this.#charge(i * ID_COST_BYTES);
      }
      this.ids[i] = objectId;
      this.#charge(ID_COST_BYTES);
    }
    if (!ext || ext.length === 0) return true;
    if (this.extBytes + ext.length > MAX_GROUP_EXTENSION_BYTES) return false;
    this.ext ??= [];
    this.ext[i] = ext;
    this.extBytes += ext.length;
    this.#charge(ext.length + VIEW_COST_BYTES);
    return true;
  }

  /**
   * Frame `i`'s extension header bytes in `draft`'s encoding: as kept when the publisher's draft
   * encodes properties the same way, else re-encoded (absolute types in 14–15, delta types from 16,
   * leading-ones varints from 17). Undefined when none was kept or it cannot be re-encoded.
   */
  extFor(i: number, draft: Draft): Uint8Array | undefined {
    const ext = this.ext?.[i];
    if (!ext || this.draft === undefined || propertyCoding(this.draft) === propertyCoding(draft)) return ext;
    try {
      const props = readProperties(new IetfReader(ext, this.draft, "extension headers"), "extension header");
      const w = new IetfWriter(draft, ext.length + 16);
      writeProperties(w, sortParams(props));
      return w.finish();
    } catch {
      return undefined;
    }
  }

  /** Charge what this meta holds to `group`'s cache budget from now on (call once, when attached). */
  attach(group: Group): void {
    this.#group = group;
    group.meta = this;
  }

  /**
   * The draft-17+ (leading-ones) object header of frame `n` when it follows frame `n - 1` on the
   * stream (`delta` is then the canonical one), encoded once per object for every subscriber and
   * charged to the cache; `length` is the payload length.
   */
  leadingOnesHeader(n: number, delta: number, length: number): Uint8Array {
    const memo = this.#heads?.[n];
    if (memo) return memo;
    const head = new Uint8Array(18);
    let k = putLeadingOnes(head, 0, delta);
    k = putLeadingOnes(head, k, length);
    if (length === 0) head[k++] = 0;
    const out = head.slice(0, k);
    if (this.#group !== null && this.#group.dropped === 0 && n < MAX_MEMO_HEADERS) {
      this.#heads ??= [];
      this.#heads[n] = out;
      this.#charge(out.length + VIEW_COST_BYTES);
    }
    return out;
  }

  #group: Group | null = null;
  /** Memoised leading-ones object headers by frame number. */
  #heads: Uint8Array[] | null = null;

  #charge(bytes: number): void {
    this.#group?.chargeMeta(bytes);
  }
}

/** How a draft encodes properties: 0 absolute types (14–15), 1 delta types (16), 2 delta + leading ones (17+). */
function propertyCoding(draft: Draft): number {
  return draft <= 15 ? 0 : draft === 16 ? 1 : 2;
}

/** What one kept object id costs (a slot in a number array). */
const ID_COST_BYTES = 8;
/** What one kept byte view costs beyond its bytes (the object and its slot). */
const VIEW_COST_BYTES = 96;
/** Most memoised object headers per group (the group caches at most this many frames anyway). */
const MAX_MEMO_HEADERS = 32_768;

/** The broadcast path (relative to the session root) a namespace tuple stands for. */
export function namespacePath(ns: readonly string[]): string {
  for (const field of ns) {
    if (field === "" || field.includes("/")) {
      throw new NamespaceError(`namespace field "${field}" is empty or holds a "/"`);
    }
  }
  return checkedPath(ns.join("/"));
}

/** The namespace tuple of a (relative) broadcast path. */
export function pathNamespace(path: string): string[] {
  return path === "" ? [] : path.split("/");
}

/** Raised for a namespace the relay cannot map to a broadcast path. */
export class NamespaceError extends Error {
  constructor(message: string) {
    super(`${message}: use non-empty namespace fields without "/"`);
    this.name = "NamespaceError";
  }
}

/** Request error kinds the relay answers with, mapped to each draft's registry. */
export type RequestFailure = "doesNotExist" | "unauthorized" | "notSupported" | "excessiveLoad" | "internal";

function failureCode(draft: Draft, failure: RequestFailure, kind: ControlMessage["kind"]): number {
  if (draft === 14) {
    // Draft-14 per-message registries: 0 internal, 1 unauthorized, 2 timeout, 3 not supported,
    // 4 track / namespace does not exist.
    switch (failure) {
      case "doesNotExist":
        return kind === "subscribe" || kind === "trackStatus" || kind === "fetch" ? 0x4 : 0x0;
      case "unauthorized":
        return 0x1;
      case "notSupported":
        return 0x3;
      default:
        return 0x0;
    }
  }
  switch (failure) {
    case "doesNotExist":
      return RequestErrorCode17.DoesNotExist;
    case "unauthorized":
      return RequestErrorCode17.Unauthorized;
    case "notSupported":
      return RequestErrorCode17.NotSupported;
    case "excessiveLoad":
      return draft >= 17 ? RequestErrorCode17.ExcessiveLoad : RequestErrorCode17.InternalError;
    default:
      return RequestErrorCode17.InternalError;
  }
}

/**
 * Refuse the request `kind` (its first message) with the draft's error message and end it.
 * Never throws.
 */
export async function refuse(
  ctx: IetfContext,
  req: Request,
  kind: ControlMessage["kind"],
  failure: RequestFailure,
  reason: string,
): Promise<void> {
  const code = failureCode(ctx.draft, failure, kind);
  const requestId = req.id;
  let msg: ControlMessage;
  if (ctx.draft === 14) {
    switch (kind) {
      case "publishNamespace":
        msg = { kind: "publishNamespaceError", requestId, code, reason };
        break;
      case "subscribeNamespace":
        msg = { kind: "subscribeNamespaceError", requestId, code, reason };
        break;
      case "fetch":
        msg = { kind: "fetchError", requestId, code, reason };
        break;
      case "trackStatus":
        msg = { kind: "trackStatusError", requestId, code, reason };
        break;
      case "publish":
        msg = { kind: "publishError", requestId, code, reason };
        break;
      default:
        msg = { kind: "subscribeError", requestId, code, reason };
    }
  } else {
    msg = { kind: "requestError", requestId, code, retryInterval: 0, reason };
  }
  try {
    await req.send(msg);
    await req.finish();
  } catch {
    // the peer is gone: nothing to tell
  }
}

/** Accept a request that needs no more than an OK (namespace requests): the draft's OK message. */
export function okFor(
  draft: Draft,
  kind: "publishNamespace" | "subscribeNamespace",
  id: number,
): ControlMessage {
  if (draft === 14) {
    return kind === "publishNamespace"
      ? { kind: "publishNamespaceOk", requestId: id }
      : { kind: "subscribeNamespaceOk", requestId: id };
  }
  return { kind: "requestOk", requestId: id, params: [], properties: [] };
}
