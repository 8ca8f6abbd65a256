/**
 * Cross-check of the lite-05 codec (session/lite05.ts) against the `@moq/net` 0.3.4 client's own
 * message classes: every message encoded by one side decodes on the other to the same value, and
 * both sides produce the same bytes.
 */

import assert from "node:assert/strict";
import { BodyReader } from "../codec/mod.ts";
import {
  BidiType05,
  decodeAnnounceBroadcast,
  decodeAnnounceOk,
  decodeAnnounceRequest,
  decodeDatagram05,
  decodeFetch05,
  decodeGoaway05,
  decodeGroupHeader05,
  decodeProbe05,
  decodeSetupStream,
  decodeSubscribe05,
  decodeSubscribeResponse05,
  decodeSubscribeUpdate05,
  decodeTrack,
  decodeTrackInfo,
  encodeAnnounceBroadcast,
  encodeAnnounceOk,
  encodeAnnounceRequest,
  encodeDatagram05,
  encodeFetch05,
  encodeGoaway05,
  encodeGroupHeader05,
  encodeProbe05,
  encodeSetupStream,
  encodeSubscribe05,
  encodeSubscribeResponse05,
  encodeSubscribeUpdate05,
  encodeTrack,
  encodeTrackInfo,
  LITE05_VERSION,
  ProbeLevel,
  Role,
  type Setup,
  type SubscribeResponse05,
  takeMessage,
  UniType05,
} from "../session/mod.ts";
import { Lite, netDecode, netEncode } from "../testing/moq_net.ts";
import { spacedHex } from "../testing/mod.ts";

const V5 = Lite.Version.DRAFT_05;

/** A reader over the body of one size-prefixed message, which must fill `bytes`. */
function body(bytes: Uint8Array): BodyReader {
  const outer = new BodyReader(bytes);
  const r = takeMessage(outer, "message");
  assert.equal(outer.remaining, 0, "exactly one message");
  return r;
}

Deno.test("interop: version code and stream type ids match @moq/net 0.3.4", () => {
  assert.equal(V5, LITE05_VERSION);
  assert.equal(Lite.StreamId.Announce, BidiType05.Announce);
  assert.equal(Lite.StreamId.Subscribe, BidiType05.Subscribe);
  assert.equal(Lite.StreamId.Fetch, BidiType05.Fetch);
  assert.equal(Lite.StreamId.Probe, BidiType05.Probe);
  assert.equal(Lite.StreamId.Goaway, BidiType05.Goaway);
  assert.equal(Lite.StreamId.Track, BidiType05.Track);
  assert.equal(Lite.DataType.Group, UniType05.Group);
  assert.equal(Lite.DataType.Setup, UniType05.Setup);
});

Deno.test("interop: SETUP both ways", async () => {
  const cases: Setup[] = [
    { probe: ProbeLevel.None, role: Role.Both },
    { probe: ProbeLevel.Report, role: Role.Both, origin: 42n },
    { probe: ProbeLevel.Increase, role: Role.Publisher, path: "/room/1?jwt=abc", origin: (1n << 53n) - 1n },
    { probe: ProbeLevel.Report, role: Role.Subscriber, path: "" },
  ];
  for (const s of cases) {
    const theirs = await netEncode((w) => new Lite.Setup(s).encode(w, V5));
    const ours = encodeSetupStream(s);
    assert.equal(spacedHex(ours), "01 " + spacedHex(theirs), "same bytes after the DataType");
    assert.deepEqual(decodeSetupStream(theirs), s);
    const back = await netDecode(ours.subarray(1), (r) => Lite.Setup.decode(r, V5));
    assert.deepEqual(
      { probe: back.probe, path: back.path, role: back.role, origin: back.origin },
      { probe: s.probe, path: s.path, role: s.role, origin: s.origin },
    );
  }
});

Deno.test("interop: ANNOUNCE_REQUEST, ANNOUNCE_OK and ANNOUNCE_BROADCAST both ways", async () => {
  const req = { prefix: "room", excludeHop: (1n << 62n) - 1n };
  const theirReq = await netEncode((w) => new Lite.AnnounceRequest(req.prefix, req.excludeHop).encode(w, V5));
  assert.equal(spacedHex(encodeAnnounceRequest(req)), spacedHex(theirReq));
  assert.deepEqual(decodeAnnounceRequest(body(theirReq)), req);
  const backReq = await netDecode(encodeAnnounceRequest(req), (r) => Lite.AnnounceRequest.decode(r, V5));
  assert.deepEqual({ prefix: backReq.prefix, excludeHop: backReq.excludeHop }, req);

  const ok = { hop: 1234567890123n, activeCount: 70 };
  const theirOk = await netEncode((w) => new Lite.AnnounceOk(ok.hop, ok.activeCount).encode(w, V5));
  assert.equal(spacedHex(encodeAnnounceOk(ok)), spacedHex(theirOk));
  assert.deepEqual(decodeAnnounceOk(body(theirOk)), ok);
  const backOk = await netDecode(encodeAnnounceOk(ok), (r) => Lite.AnnounceOk.decode(r, V5));
  assert.deepEqual({ hop: backOk.origin, activeCount: backOk.active }, ok);

  const active = { active: true, suffix: "room/cam", hops: [7n, 1n << 50n] };
  const theirActive = await netEncode((w) =>
    Lite.encodeAnnounceBroadcast(w, { status: "active", suffix: active.suffix, hops: active.hops }, V5)
  );
  assert.equal(spacedHex(encodeAnnounceBroadcast(active)), spacedHex(theirActive));
  assert.deepEqual(decodeAnnounceBroadcast(body(theirActive)), active);
  const backActive = await netDecode(
    encodeAnnounceBroadcast(active),
    (r) => Lite.decodeAnnounceBroadcast(r, V5),
  );
  assert.deepEqual(backActive, { status: "active", suffix: "room/cam", hops: active.hops });

  const ended = { active: false, suffix: "room/cam", hops: [] };
  const theirEnded = await netEncode((w) =>
    Lite.encodeAnnounceBroadcast(w, { status: "ended", suffix: ended.suffix }, V5)
  );
  assert.equal(spacedHex(encodeAnnounceBroadcast(ended)), spacedHex(theirEnded));
  assert.deepEqual(decodeAnnounceBroadcast(body(theirEnded)), ended);
  const backEnded = await netDecode(
    encodeAnnounceBroadcast(ended),
    (r) => Lite.decodeAnnounceBroadcast(r, V5),
  );
  assert.deepEqual(backEnded, { status: "ended", suffix: "room/cam" });
});

Deno.test("interop: TRACK and TRACK_INFO both ways", async () => {
  const track = { broadcast: "room/cam", track: "video" };
  const theirTrack = await netEncode((w) => new Lite.Track(track.broadcast, track.track).encode(w, V5));
  assert.equal(spacedHex(encodeTrack(track)), spacedHex(theirTrack));
  assert.deepEqual(decodeTrack(body(theirTrack)), track);
  const backTrack = await netDecode(encodeTrack(track), (r) => Lite.Track.decode(r, V5));
  assert.deepEqual({ broadcast: backTrack.broadcast, track: backTrack.track }, track);

  for (
    const info of [
      { priority: 0, ordered: false, maxLatencyMs: 5000, timescale: 1000 },
      { priority: 255, ordered: true, maxLatencyMs: 0, timescale: 90_000 },
    ]
  ) {
    const theirs = await netEncode((w) =>
      new Lite.TrackInfo({ ...info, latencyMax: info.maxLatencyMs }).encode(w, V5)
    );
    assert.equal(spacedHex(encodeTrackInfo(info)), spacedHex(theirs));
    assert.deepEqual(decodeTrackInfo(body(theirs)), info);
    const back = await netDecode(encodeTrackInfo(info), (r) => Lite.TrackInfo.decode(r, V5));
    assert.deepEqual(
      {
        priority: back.priority,
        ordered: back.ordered,
        maxLatencyMs: back.latencyMax,
        timescale: back.timescale,
      },
      info,
    );
  }
  // @moq/net rejects timescale 0 too.
  await assert.rejects(
    netDecode(new Uint8Array([5, 0, 0, 0x53, 0x88, 0]), (r) => Lite.TrackInfo.decode(r, V5)),
  );
});

Deno.test("interop: SUBSCRIBE and SUBSCRIBE_UPDATE both ways", async () => {
  const sub = {
    id: 77n,
    broadcast: "room/cam",
    track: "audio",
    priority: 9,
    ordered: true,
    maxLatencyMs: 1500,
    startGroup: 0,
    endGroup: 41,
  };
  const net = { ...sub, maxLatency: sub.maxLatencyMs };
  const theirs = await netEncode((w) => new Lite.Subscribe(net).encode(w, V5));
  assert.equal(spacedHex(encodeSubscribe05(sub)), spacedHex(theirs));
  assert.deepEqual(decodeSubscribe05(body(theirs)), sub);
  const back = await netDecode(encodeSubscribe05(sub), (r) => Lite.Subscribe.decode(r, V5));
  assert.deepEqual(
    [
      back.id,
      back.broadcast,
      back.track,
      back.priority,
      back.ordered,
      back.maxLatency,
      back.startGroup,
      back.endGroup,
    ],
    [
      sub.id,
      sub.broadcast,
      sub.track,
      sub.priority,
      sub.ordered,
      sub.maxLatencyMs,
      sub.startGroup,
      sub.endGroup,
    ],
  );

  const upd = { priority: 2, ordered: false, maxLatencyMs: 0, startGroup: undefined, endGroup: 5 };
  const theirUpd = await netEncode((w) => new Lite.SubscribeUpdate({ ...upd, maxLatency: 0 }).encode(w, V5));
  assert.equal(spacedHex(encodeSubscribeUpdate05(upd)), spacedHex(theirUpd));
  assert.deepEqual(decodeSubscribeUpdate05(body(theirUpd)), upd);
  const backUpd = await netDecode(encodeSubscribeUpdate05(upd), (r) => Lite.SubscribeUpdate.decode(r, V5));
  assert.deepEqual([backUpd.priority, backUpd.startGroup, backUpd.endGroup], [2, undefined, 5]);
});

Deno.test("interop: SUBSCRIBE_START / END / DROP both ways", async () => {
  const cases: Array<[SubscribeResponse05, Record<string, ReturnType<typeof makeNet>>]> = [
    [{ type: "start", group: 42 }, { start: makeNet("start", 42) }],
    [{ type: "end", group: 100000 }, { end: makeNet("end", 100000) }],
    [{ type: "drop", start: 1, end: 3, error: 26 }, {
      drop: new Lite.SubscribeDrop({ start: 1, end: 3, error: 26 }),
    }],
  ];
  for (const [ours, net] of cases) {
    const theirs = await netEncode((w) => Lite.encodeSubscribeResponse(w, net, V5));
    assert.equal(spacedHex(encodeSubscribeResponse05(ours)), spacedHex(theirs));
    const outer = new BodyReader(theirs);
    const type = outer.varint();
    assert.deepEqual(decodeSubscribeResponse05(type, takeMessage(outer, "response")), ours);
    const back = await netDecode(encodeSubscribeResponse05(ours), (r) => Lite.decodeSubscribeResponse(r, V5));
    if (ours.type === "drop") assert.deepEqual({ ...back.drop }, { start: 1, end: 3, error: 26 });
    else assert.equal(back[ours.type]?.group, ours.group);
  }
  // @moq/net rejects response type 3 as well.
  await assert.rejects(netDecode(new Uint8Array([3, 1, 0]), (r) => Lite.decodeSubscribeResponse(r, V5)));
});

function makeNet(kind: "start" | "end", group: number) {
  return kind === "start" ? new Lite.SubscribeStart(group) : new Lite.SubscribeEnd(group);
}

Deno.test("interop: GROUP header, FETCH, PROBE, GOAWAY both ways", async () => {
  const hdr = { subscribeId: 1n << 40n, sequence: 123456 };
  const theirHdr = await netEncode((w) => new Lite.Group(hdr.subscribeId, hdr.sequence).encode(w));
  assert.equal(spacedHex(encodeGroupHeader05(hdr)), "00 " + spacedHex(theirHdr));
  assert.deepEqual(decodeGroupHeader05(body(theirHdr)), hdr);
  const backHdr = await netDecode(encodeGroupHeader05(hdr).subarray(1), (r) => Lite.Group.decode(r));
  assert.deepEqual([backHdr.subscribe, backHdr.sequence], [hdr.subscribeId, hdr.sequence]);

  const fetch = { broadcast: "room/cam", track: "video", priority: 128, group: 99 };
  const theirFetch = await netEncode((w) =>
    new Lite.Fetch(fetch.broadcast, fetch.track, fetch.priority, fetch.group).encode(w, V5)
  );
  assert.equal(spacedHex(encodeFetch05(fetch)), spacedHex(theirFetch));
  assert.deepEqual(decodeFetch05(body(theirFetch)), fetch);
  const backFetch = await netDecode(encodeFetch05(fetch), (r) => Lite.Fetch.decode(r, V5));
  assert.deepEqual({ ...backFetch }, fetch);

  const theirProbe = await netEncode((w) => new Lite.Probe({ bitrate: 2_500_000, rtt: 33 }).encode(w, V5));
  assert.equal(spacedHex(encodeProbe05(2_500_000, 33)), spacedHex(theirProbe));
  assert.deepEqual(decodeProbe05(body(theirProbe)), { bitrate: 2_500_000, rttMs: 33 });
  const backProbe = await netDecode(encodeProbe05(2_500_000, 33), (r) => Lite.Probe.decode(r, V5));
  assert.deepEqual([backProbe.bitrate, backProbe.rtt], [2_500_000, 33]);

  const theirGoaway = await netEncode((w) => new Lite.Goaway("https://b.example/").encode(w, V5));
  assert.equal(spacedHex(encodeGoaway05("https://b.example/")), spacedHex(theirGoaway));
  assert.equal(decodeGoaway05(body(theirGoaway)), "https://b.example/");
  const backGoaway = await netDecode(encodeGoaway05("https://b.example/"), (r) => Lite.Goaway.decode(r, V5));
  assert.equal(backGoaway.uri, "https://b.example/");
});

Deno.test("interop: DATAGRAM both ways", async () => {
  const d = {
    subscribeId: 3n,
    sequence: 9,
    timestamp: 1_700_000_000_000n,
    payload: new Uint8Array([1, 2, 3]),
  };
  const theirs = new Lite.Datagram(d.subscribeId, d.sequence, Number(d.timestamp), d.payload).encode();
  assert.equal(spacedHex(encodeDatagram05(d)), spacedHex(theirs));
  assert.deepEqual(decodeDatagram05(theirs), d);
  const back = await Lite.Datagram.decode(encodeDatagram05(d));
  assert.deepEqual([back.subscribe, back.sequence, back.timestamp, [...back.payload]], [
    3n,
    9,
    1_700_000_000_000,
    [1, 2, 3],
  ]);
});
