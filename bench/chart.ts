/**
 * The SVG chart of bench/RESULTS.md: relay ÷ baseline per frame size and transport (delivered
 * throughput, and baseline CPU per GB ÷ relay CPU per GB, so higher is better for both), with the
 * 0.9 target line.
 *
 * @module
 */

/** One bar group: a transport and frame size with its two ratios. */
export interface ChartPoint {
  label: string;
  throughputRatio: number;
  efficiencyRatio: number;
}

const WIDTH_PER_GROUP = 70;
const HEIGHT = 260;
const TOP = 30;
const BOTTOM = 60;
const LEFT = 40;
const MAX_RATIO = 1.4;

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** A self-contained SVG bar chart of `points`. */
export function ratioChart(points: ChartPoint[], title: string): string {
  const width = LEFT + Math.max(1, points.length) * WIDTH_PER_GROUP + 20;
  const plot = HEIGHT - TOP - BOTTOM;
  const y = (ratio: number) => TOP + plot - (Math.min(Math.max(ratio, 0), MAX_RATIO) / MAX_RATIO) * plot;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" font-family="sans-serif" font-size="10">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="16" font-size="12">${escape(title)}</text>`,
  ];
  for (const tick of [0, 0.5, 0.9, 1, 1.4]) {
    const ty = y(tick);
    const stroke = tick === 0.9 ? `stroke="#c00" stroke-dasharray="4 3"` : `stroke="#ddd"`;
    parts.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${ty}" y2="${ty}" ${stroke}/>`);
    parts.push(`<text x="${LEFT - 4}" y="${ty + 3}" text-anchor="end">${tick.toFixed(1)}</text>`);
  }
  points.forEach((p, i) => {
    const x0 = LEFT + i * WIDTH_PER_GROUP + 10;
    const bars: Array<[number, string]> = [[p.throughputRatio, "#3a6ea5"], [p.efficiencyRatio, "#e39b2d"]];
    bars.forEach(([ratio, color], j) => {
      if (!Number.isFinite(ratio)) return;
      const x = x0 + j * 24, top = y(ratio);
      parts.push(
        `<rect x="${x}" y="${top}" width="22" height="${TOP + plot - top}" fill="${color}"><title>${
          ratio.toFixed(2)
        }</title></rect>`,
      );
      parts.push(`<text x="${x + 11}" y="${top - 2}" text-anchor="middle">${ratio.toFixed(2)}</text>`);
    });
    parts.push(
      `<text x="${x0 + 23}" y="${TOP + plot + 14}" text-anchor="middle">${
        escape(p.label.split(" ")[0])
      }</text>`,
    );
    parts.push(
      `<text x="${x0 + 23}" y="${TOP + plot + 26}" text-anchor="middle">${
        escape(p.label.split(" ")[1] ?? "")
      }</text>`,
    );
  });
  const ly = HEIGHT - 14;
  parts.push(`<rect x="${LEFT}" y="${ly - 9}" width="10" height="10" fill="#3a6ea5"/>`);
  parts.push(`<text x="${LEFT + 14}" y="${ly}">delivered (relay ÷ raw)</text>`);
  parts.push(`<rect x="${LEFT + 150}" y="${ly - 9}" width="10" height="10" fill="#e39b2d"/>`);
  parts.push(`<text x="${LEFT + 164}" y="${ly}">CPU efficiency (raw CPU/GB ÷ relay CPU/GB)</text>`);
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}
