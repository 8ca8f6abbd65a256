/**
 * An incremental parser of one moq-lite GROUP stream (`u8 0x00`, `msg{subscribe_id, sequence}`,
 * then `vi53 size` + payload frames until FIN) that works on whatever chunks the transport hands
 * over, without copying payloads: only the varints, the header and the first
 * {@link STAMP_BYTES} bytes of each payload are looked at. A moq-lite-05 scanner also skips each
 * frame's timestamp delta (a varint before the size) and marks the relay's SETUP stream (type 1)
 * as {@link GroupScanner.setup}, consuming it unread.
 *
 * @module
 */

import { getVarint, varintLength, VarintTruncatedError } from "../codec/mod.ts";
import { STAMP_BYTES } from "./media.ts";

/** Raised on a malformed GROUP stream. */
export class GroupScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GroupScanError";
  }
}

const TYPE = 0;
const HEADER_SIZE = 1;
const HEADER = 2;
const FRAME_SIZE = 3;
const PAYLOAD = 4;
const FRAME_TIMESTAMP = 5;
const SKIP = 6;

/** Called for every complete frame: its payload size and the stamp in its first bytes (NaN if short). */
export type FrameCallback = (payloadBytes: number, stampMs: number) => void;

/** Parses one GROUP stream chunk by chunk. */
export class GroupScanner {
  /** The group sequence, once the header was read (-1 before). */
  sequence = -1;
  /** The subscribe id of the header (-1 before). */
  subscribeId = -1;
  /** Complete frames seen. */
  frames = 0;
  /** lite-05: the stream is the peer's SETUP stream (its bytes are skipped). */
  setup = false;
  /** Frames carry a lite-05 timestamp delta before their size. */
  readonly #timed: boolean;
  /** The phase a frame starts in. */
  readonly #frameStart: number;
  #phase = TYPE;
  #varNeed = 0;
  #varGot = 0;
  #varValue = 0;
  readonly #varBytes = new Uint8Array(8);
  #header: number[] = [];
  #headerLeft = 0;
  #frameSize = 0;
  #frameLeft = 0;
  readonly #stamp = new Uint8Array(STAMP_BYTES);
  readonly #stampView = new DataView(this.#stamp.buffer);
  #stampFill = 0;

  /** @param timed moq-lite-05 framing (a timestamp delta before each frame's size) */
  constructor(timed = false) {
    this.#timed = timed;
    this.#frameStart = timed ? FRAME_TIMESTAMP : FRAME_SIZE;
  }

  /** True when the stream may end here (between frames, after the header). */
  get atBoundary(): boolean {
    return this.#phase === this.#frameStart && this.#varNeed === 0;
  }

  /** Feed the next chunk; `onFrame` runs for each frame completed inside it. */
  push(chunk: Uint8Array, onFrame: FrameCallback): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.#phase) {
        case TYPE: {
          const type = chunk[i++];
          if (type === 1 && this.#timed) {
            this.setup = true;
            this.#phase = SKIP;
            break;
          }
          if (type !== 0) throw new GroupScanError(`unknown unidirectional stream type ${type}`);
          this.#phase = HEADER_SIZE;
          this.#varNeed = 0;
          break;
        }
        case SKIP:
          i = n;
          break;
        case FRAME_TIMESTAMP: {
          // Skipped unread: only its length matters.
          const b = chunk[i++];
          if (this.#varNeed === 0) {
            this.#varNeed = varintLength(b);
            this.#varGot = 0;
          }
          if (++this.#varGot < this.#varNeed) break;
          this.#varNeed = 0;
          this.#phase = FRAME_SIZE;
          break;
        }
        case HEADER_SIZE:
        case FRAME_SIZE: {
          const b = chunk[i++];
          if (this.#varNeed === 0) {
            this.#varNeed = varintLength(b);
            this.#varGot = 0;
          }
          this.#varBytes[this.#varGot++] = b;
          if (this.#varGot < this.#varNeed) break;
          this.#varValue = getVarint(this.#varBytes, 0); // its first byte gives the length
          this.#varNeed = 0;
          if (this.#phase === HEADER_SIZE) {
            if (this.#varValue === 0 || this.#varValue > 64) {
              throw new GroupScanError(`GROUP header of ${this.#varValue} bytes`);
            }
            this.#headerLeft = this.#varValue;
            this.#header = [];
            this.#phase = HEADER;
          } else {
            this.#frameSize = this.#varValue;
            this.#frameLeft = this.#varValue;
            this.#stampFill = 0;
            if (this.#frameLeft === 0) {
              this.frames++;
              this.#phase = this.#frameStart;
              onFrame(0, NaN);
            } else {
              this.#phase = PAYLOAD;
            }
          }
          break;
        }
        case HEADER: {
          this.#header.push(chunk[i++]);
          if (--this.#headerLeft > 0) break;
          const header = Uint8Array.from(this.#header);
          const [id, next] = readVarint(header, 0);
          const [seq, end] = readVarint(header, next);
          if (end !== this.#header.length) throw new GroupScanError("GROUP header has trailing bytes");
          this.subscribeId = id;
          this.sequence = seq;
          this.#phase = this.#frameStart;
          break;
        }
        case PAYLOAD: {
          const take = Math.min(this.#frameLeft, n - i);
          while (
            this.#stampFill < STAMP_BYTES && this.#stampFill < this.#frameSize - this.#frameLeft + take
          ) {
            const offset = this.#stampFill - (this.#frameSize - this.#frameLeft);
            this.#stamp[this.#stampFill++] = chunk[i + offset];
          }
          i += take;
          this.#frameLeft -= take;
          if (this.#frameLeft === 0) {
            this.frames++;
            const stamp = this.#stampFill === STAMP_BYTES ? this.#stampView.getFloat64(0) : NaN;
            this.#phase = this.#frameStart;
            onFrame(this.#frameSize, stamp);
          }
          break;
        }
      }
    }
  }
}

function readVarint(bytes: Uint8Array, at: number): [number, number] {
  try {
    return [getVarint(bytes, at), at + varintLength(bytes[at])];
  } catch (err) {
    if (err instanceof VarintTruncatedError) throw new GroupScanError("GROUP header ends inside a varint");
    throw err;
  }
}
