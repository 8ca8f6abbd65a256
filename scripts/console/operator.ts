/**
 * The operator console (served at `/` on the internal listener): polls the one JSON stats
 * endpoint (`/stats.json`, the same counters as `/metrics`) every second and shows sessions,
 * throughput with a graph of the last minutes, broadcasts, cache, dropped groups, auth failures
 * and cluster peers. No dependencies; bundled by scripts/build_console.ts.
 *
 * @module
 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />

import type { StatsSnapshot as Snapshot, TrafficSample as Sample } from "../../http/mod.ts";

/** Refresh interval. */
const POLL_MS = 1_000;
/** Graph history: ten minutes of one-second samples. */
const HISTORY_SAMPLES = 600;

interface Rate {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
}

/** What the page remembers between polls. */
interface ViewState {
  /** Per-second rates, oldest first, at most {@link HISTORY_SAMPLES}. */
  history: Rate[];
  previous?: Snapshot;
}

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`operator page is missing #${id}`);
  return el;
};

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function bits(bytesPerSecond: number): string {
  const b = bytesPerSecond * 8;
  if (b >= 1e6) return `${(b / 1e6).toFixed(2)} Mbit/s`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(1)} kbit/s`;
  return `${b.toFixed(0)} bit/s`;
}

function table(id: string, head: string[], rows: (string | number)[][], empty: string): void {
  const el = $(id);
  if (rows.length === 0) {
    el.innerHTML = "";
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = empty;
    el.append(p);
    return;
  }
  const t = document.createElement("table");
  const tr = t.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.textContent = h;
    tr.append(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    for (const cell of row) r.insertCell().textContent = String(cell);
  }
  el.replaceChildren(t);
}

function draw(history: readonly Rate[]): void {
  const canvas = $("graph") as HTMLCanvasElement;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#10141a";
  ctx.fillRect(0, 0, w, h);
  const max = Math.max(1, ...history.map((r) => Math.max(r.bytesIn, r.bytesOut)));
  ctx.fillStyle = "#8a96a8";
  ctx.font = "12px sans-serif";
  ctx.fillText(`${bits(max)} max, last ${Math.ceil(history.length / 60)} min`, 8, 16);
  // At least one minute wide; up to HISTORY_SAMPLES as the page stays open.
  const span = Math.max(60, history.length);
  const line = (pick: (r: Rate) => number, color: string) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    history.forEach((r, i) => {
      const x = w - (history.length - 1 - i) * (w / (span - 1));
      const y = h - 4 - (pick(r) / max) * (h - 28);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  line((r) => r.bytesIn, "#4cc38a");
  line((r) => r.bytesOut, "#5b9df9");
}

function render(view: ViewState, s: Snapshot): void {
  const { history, previous } = view;
  const dt = previous ? Math.max(0.001, (s.time_ms - previous.time_ms) / 1000) : 0;
  if (previous) {
    history.push(...rates([previous, s]));
    if (history.length > HISTORY_SAMPLES) history.shift();
  }
  const rate: Rate = history.at(-1) ?? { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };

  const open = s.sessions.reduce((n, x) => n + x.count, 0);
  $("sessions-open").textContent = String(open);
  $("bytes-in").textContent = bits(rate.bytesIn);
  $("bytes-out").textContent = bits(rate.bytesOut);
  $("frames-in").textContent = `${rate.framesIn.toFixed(0)} /s`;
  $("frames-out").textContent = `${rate.framesOut.toFixed(0)} /s`;
  $("dropped").textContent = String(s.groups_dropped);
  $("evicted").textContent = String(s.groups_evicted);
  $("state").textContent = s.draining ? "draining" : `up ${Math.floor(s.uptime_ms / 1000)} s`;
  const cap = s.cache_capacity_bytes;
  $("cache").textContent = cap
    ? `${bytes(s.cache_bytes)} of ${bytes(cap)} (${
      (100 * s.cache_bytes / cap).toFixed(1)
    } %), ${s.cache_groups} groups`
    : `${bytes(s.cache_bytes)}, ${s.cache_groups} groups`;
  ($("cache-bar") as HTMLProgressElement).value = cap ? s.cache_bytes / cap : 0;
  table(
    "sessions",
    ["transport", "version", "open"],
    s.sessions.map((x) => [x.transport, x.version, x.count]),
    `no session open (${s.sessions_opened} opened, ${s.sessions_closed} closed since start)`,
  );
  const before = new Map((previous?.broadcasts ?? []).map((b) => [b.path, b.bytes_in]));
  table(
    "broadcasts",
    ["broadcast", "tracks", "subscribers", "bitrate in"],
    s.broadcasts.map((b) => {
      const old = before.get(b.path);
      return [
        b.path,
        b.tracks,
        b.subscribers,
        old === undefined || !dt ? "…" : bits(Math.max(0, b.bytes_in - old) / dt),
      ];
    }),
    "no broadcast",
  );
  const failures = Object.entries(s.auth_failures).filter(([, n]) => n > 0);
  table("auth", ["reason", "refused"], failures, "no refused credential");
  table(
    "nodes",
    ["node", "origin id", "connections"],
    s.nodes.map((raw) => {
      const n = raw as { node?: string; origin_id?: string; connections?: unknown[] };
      return [n.node ?? "?", n.origin_id ?? "", Array.isArray(n.connections) ? n.connections.length : 0];
    }),
    "no cluster peer",
  );
  draw(history);
  view.previous = s;
}

/** Per-second rates between neighbouring samples. */
function rates(samples: readonly Sample[]): Rate[] {
  const out: Rate[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i];
    const dt = Math.max(0.001, (b.time_ms - a.time_ms) / 1000);
    out.push({
      bytesIn: Math.max(0, b.bytes_in - a.bytes_in) / dt,
      bytesOut: Math.max(0, b.bytes_out - a.bytes_out) / dt,
      framesIn: Math.max(0, b.frames_in - a.frames_in) / dt,
      framesOut: Math.max(0, b.frames_out - a.frames_out) / dt,
    });
  }
  return out.slice(-HISTORY_SAMPLES);
}

async function poll(): Promise<void> {
  const status = $("status");
  const view: ViewState = { history: [] };
  for (;;) {
    try {
      // The first read also fetches the relay's recorded minutes, so the graph starts full.
      const first = view.previous === undefined;
      const res = await fetch(first ? "/stats.json?history" : "/stats.json", { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const snapshot = await res.json() as Snapshot;
      if (first && snapshot.history) view.history = rates(snapshot.history);
      render(view, snapshot);
      status.textContent = "live";
      status.className = "ok";
    } catch (error) {
      status.textContent = `cannot read /stats.json: ${error instanceof Error ? error.message : error}`;
      status.className = "bad";
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

void poll();
