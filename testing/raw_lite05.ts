/**
 * A raw moq-lite-05 peer for end-to-end tests (draft-lcurley-moq-lite-05): the relay's own QUIC,
 * WebTransport or qmux session with every lite-05 byte written by the test through the session
 * codec. Small steps a test composes: send our SETUP, read the relay's, answer its ANNOUNCE_REQUEST,
 * accept the TRACK and SUBSCRIBE streams it opens, ask it for TRACK_INFO, watch its announcements.
 * Each step checks the stream type it reads and throws when the relay sent something else.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type AnnounceRequest,
  BidiType05,
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeAnnounceRequest,
  decodeTrackInfo,
  encodeAnnounceBroadcast,
  encodeAnnounceOk,
  encodeAnnounceRequest,
  encodeSetupStream,
  encodeStreamType05,
  encodeSubscribe05,
  encodeTrack,
  encodeTrackInfo,
  ProbeLevel,
  readSetupStream,
  Role,
  type Setup,
  type TrackInfo,
  UniType05,
} from "../session/mod.ts";
import { type BidiStream, StreamReader, type TransportSession } from "../transport/mod.ts";
import { dialRelay } from "./dial.ts";
import { within } from "./timing.ts";

/** How long one step waits for the relay (the machine may be loaded). */
export const LITE05_STEP_TIMEOUT_MS = 10_000;
/** The largest lite-05 message a test reads. */
const MAX_TEST_MESSAGE_BYTES = 4096;

/** Options for {@link dialLite05}. */
export interface DialLite05Options {
  /** Raw QUIC (default) or WebTransport. */
  over?: "quic" | "webtransport";
  /** The WebTransport URL path (raw QUIC carries no URL; default `/`). */
  urlPath?: string;
  /** SETUP Path (`/root?jwt=…`), for URL-less transports; absent: none is sent. */
  setupPath?: string;
  /** SETUP Role (default publisher). */
  role?: Role;
}

/** Send our SETUP on a fresh uni stream (then FIN). */
export async function sendSetup05(session: TransportSession, role: Role, path?: string): Promise<void> {
  const setup = await session.openUni();
  await setup.write(encodeSetupStream({ probe: ProbeLevel.None, role, path }));
  await setup.close();
}

/** Dial `relay` offering only `moq-lite-05` (certificate pinned), check it was chosen, send our SETUP. */
export async function dialLite05(
  relay: { port: number; httpUrl: string },
  options: DialLite05Options = {},
): Promise<TransportSession> {
  const session = await dialRelay(relay, options.over ?? "quic", ["moq-lite-05"], { path: options.urlPath });
  assert.equal(session.protocol, "moq-lite-05");
  await sendSetup05(session, options.role ?? Role.Publisher, options.setupPath);
  return session;
}

/** Read the relay's SETUP (a session the relay authorised gets one). */
export async function readRelaySetup05(session: TransportSession): Promise<Setup> {
  const uni = await within(LITE05_STEP_TIMEOUT_MS, "the relay's SETUP", session.acceptUni());
  assert.ok(uni, "the relay answers with its SETUP");
  const reader = new StreamReader(uni);
  assert.equal(await reader.varint(), UniType05.Setup);
  return await readSetupStream(reader);
}

/** A bidi stream the relay opened, its type already read and checked. */
export interface RelayRequest05 {
  stream: BidiStream;
  reader: StreamReader;
}

/** Accept the next bidi stream the relay opens; it must be of `type` (`what` names it in a timeout). */
export async function acceptRequest05(
  session: TransportSession,
  type: BidiType05,
  what: string,
): Promise<RelayRequest05> {
  const stream = await within(LITE05_STEP_TIMEOUT_MS, what, session.acceptBidi());
  assert.ok(stream, `${what}: the relay opened a stream`);
  const reader = new StreamReader(stream.recv);
  assert.equal(await reader.varint(), type, `${what}: stream type`);
  return { stream, reader };
}

/** Read one size-prefixed message body of a request (to decode with the session codec). */
export function readMessage05(request: { reader: StreamReader }): ReturnType<StreamReader["message"]> {
  return request.reader.message(MAX_TEST_MESSAGE_BYTES);
}

/**
 * Answer the relay's ANNOUNCE_REQUEST: ANNOUNCE_OK, then `suffix` active. Returns the request (its
 * prefix) for the test to check.
 */
export async function answerAnnounce05(session: TransportSession, suffix: string): Promise<AnnounceRequest> {
  const req = await acceptRequest05(session, BidiType05.Announce, "ANNOUNCE_REQUEST");
  const request = decodeAnnounceRequest(await readMessage05(req));
  await req.stream.send.write(encodeAnnounceOk({ hop: 0n, activeCount: 1 }));
  await req.stream.send.write(encodeAnnounceBroadcast({ active: true, suffix, hops: [] }));
  return request;
}

/**
 * Ask the relay (from `subscriber`) for the TRACK_INFO of `broadcast`/`track`; the relay asks
 * `publisher`, which answers `info`. Returns the TRACK_INFO the subscriber received.
 */
export async function relayTrackInfo05(
  subscriber: TransportSession,
  publisher: TransportSession,
  broadcast: string,
  track: string,
  info: TrackInfo,
): Promise<TrackInfo> {
  const asked = await subscriber.openBidi();
  await asked.send.write(encodeStreamType05(BidiType05.Track));
  await asked.send.write(encodeTrack({ broadcast, track }));
  const up = await acceptRequest05(publisher, BidiType05.Track, "TRACK at the publisher");
  await readMessage05(up);
  await up.stream.send.write(encodeTrackInfo(info));
  await up.stream.send.close();
  return decodeTrackInfo(await new StreamReader(asked.recv).message(MAX_TEST_MESSAGE_BYTES));
}

/**
 * Open a SUBSCRIBE stream for `broadcast`/`track` with subscription `id` (priority 0, unordered, no
 * latency bound) without waiting for the answer.
 */
export async function openSubscribe05(
  session: TransportSession,
  id: bigint,
  broadcast: string,
  track: string,
): Promise<BidiStream> {
  const stream = await session.openBidi();
  await stream.send.write(encodeStreamType05(BidiType05.Subscribe));
  await stream.send.write(
    encodeSubscribe05({ id, broadcast, track, priority: 0, ordered: false, maxLatencyMs: 0 }),
  );
  return stream;
}

/**
 * Open an ANNOUNCE_REQUEST for `prefix` on `session` and wait for ANNOUNCE_OK; `events` grows with
 * `+suffix` / `-suffix` as announcements arrive.
 */
export async function watchAnnounces05(
  session: TransportSession,
  prefix = "",
): Promise<{ stream: BidiStream; events: string[] }> {
  const stream = await session.openBidi();
  await stream.send.write(encodeStreamType05(BidiType05.Announce));
  await stream.send.write(encodeAnnounceRequest({ prefix, excludeHop: 0n }));
  const reader = new StreamReader(stream.recv);
  decodeAnnounceOk(await reader.message(MAX_TEST_MESSAGE_BYTES));
  const events: string[] = [];
  (async () => {
    while (!(await reader.done())) {
      const m = decodeAnnounceBroadcast(await reader.message(MAX_TEST_MESSAGE_BYTES));
      events.push(`${m.active ? "+" : "-"}${m.suffix}`);
    }
  })().catch(() => {});
  return { stream, events };
}
