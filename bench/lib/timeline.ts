import type { Cluster } from './cluster';
import { leadIntervals } from './overlaps';

/** One panel of the timeline: a cluster between two instants. */
export interface TimelinePanel {
  readonly title: string;
  readonly cluster: Cluster;
  readonly from: number;
  readonly to: number;
}

const WIDTH = 1200;
const LEFT = 190;
const RIGHT = 24;
const ROW = 16;
const PANEL_GAP = 28;
const TITLE = 22;
const AXIS = 26;

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A tick step (seconds) giving roughly ten ticks over `spanS`. */
function tickStep(spanS: number): number {
  for (const step of [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600]) {
    if (spanS / step <= 14) return step;
  }
  return 1200;
}

/**
 * Leadership per instance over time, hand-written SVG: a grey line while the process runs, a green bar
 * while it believes it leads (shade alternates with the term), a red cross at each SIGKILL and an orange
 * triangle at each SIGTERM.
 */
export function renderTimeline(panels: readonly TimelinePanel[], caption: string): string {
  const parts: string[] = [];
  let y = 44;
  for (const panel of panels) {
    const members = panel.cluster.members.filter(
      (child) => (child.readyAt ?? child.spawnedAt) < panel.to && (child.endedAt ?? panel.to) >= panel.from,
    );
    const spanMs = Math.max(1, panel.to - panel.from);
    const x = (t: number) =>
      LEFT + ((Math.min(Math.max(t, panel.from), panel.to) - panel.from) / spanMs) * (WIDTH - LEFT - RIGHT);
    parts.push(`<text x="8" y="${y + 15}" class="title">${escapeXml(panel.title)}</text>`);
    y += TITLE;
    const top = y;
    const intervals = leadIntervals(panel.cluster, panel.to);
    members.forEach((child, index) => {
      const rowY = top + index * ROW;
      const mid = rowY + ROW / 2;
      if (index % 2 === 0) {
        parts.push(
          `<rect x="${LEFT}" y="${rowY}" width="${WIDTH - LEFT - RIGHT}" height="${ROW}" fill="#f6f6f6"/>`,
        );
      }
      parts.push(
        `<text x="${LEFT - 6}" y="${mid + 4}" class="label" text-anchor="end">${escapeXml(`${child.label} (pid ${child.pid ?? '?'})`)}</text>`,
      );
      const start = child.readyAt ?? child.spawnedAt;
      const end = child.endedAt ?? panel.to;
      parts.push(
        `<line x1="${x(start).toFixed(1)}" y1="${mid}" x2="${x(end).toFixed(1)}" y2="${mid}" stroke="#9e9e9e" stroke-width="1.5"/>`,
      );
      for (const interval of intervals.filter((i) => i.child === child)) {
        if (interval.end < panel.from || interval.start > panel.to) continue;
        const x1 = x(interval.start);
        const w = Math.max(1, x(interval.end) - x1);
        const fill = interval.term % 2 === 0 ? '#2e7d32' : '#66bb6a';
        parts.push(
          `<rect x="${x1.toFixed(1)}" y="${rowY + 3}" width="${w.toFixed(1)}" height="${ROW - 6}" fill="${fill}">` +
            `<title>${escapeXml(`${child.label}: term ${interval.term}, ${((interval.end - interval.start) / 1000).toFixed(2)} s`)}</title></rect>`,
        );
        if (w > 28) {
          parts.push(`<text x="${(x1 + 3).toFixed(1)}" y="${mid + 3}" class="term">t${interval.term}</text>`);
        }
      }
      for (const mark of panel.cluster.marks.filter((m) => m.child === child)) {
        if (mark.t < panel.from || mark.t > panel.to) continue;
        const mx = x(mark.t);
        if (mark.kind === 'kill') {
          parts.push(
            `<path d="M${mx - 4} ${mid - 4} L${mx + 4} ${mid + 4} M${mx - 4} ${mid + 4} L${mx + 4} ${mid - 4}" stroke="#d32f2f" stroke-width="2"/>`,
          );
        } else {
          parts.push(`<path d="M${mx - 5} ${rowY} L${mx + 5} ${rowY} L${mx} ${rowY + 8} Z" fill="#ef6c00"/>`);
        }
      }
    });
    y = top + members.length * ROW;
    // Axis in seconds since the panel's start.
    const spanS = spanMs / 1000;
    const step = tickStep(spanS);
    parts.push(`<line x1="${LEFT}" y1="${y + 2}" x2="${WIDTH - RIGHT}" y2="${y + 2}" stroke="#424242"/>`);
    for (let s = 0; s <= spanS + 1e-9; s += step) {
      const tx = x(panel.from + s * 1000);
      parts.push(
        `<line x1="${tx.toFixed(1)}" y1="${y + 2}" x2="${tx.toFixed(1)}" y2="${y + 6}" stroke="#424242"/>`,
      );
      parts.push(`<text x="${tx.toFixed(1)}" y="${y + 17}" class="axis" text-anchor="middle">${s}s</text>`);
    }
    y += AXIS + PANEL_GAP;
  }
  const height = y;
  const legend =
    `<rect x="8" y="24" width="14" height="8" fill="#2e7d32"/><text x="26" y="32" class="label">leads (shade alternates per term)</text>` +
    `<line x1="230" y1="28" x2="250" y2="28" stroke="#9e9e9e" stroke-width="1.5"/><text x="256" y="32" class="label">process running</text>` +
    `<path d="M370 24 L378 32 M370 32 L378 24" stroke="#d32f2f" stroke-width="2"/><text x="384" y="32" class="label">SIGKILL</text>` +
    `<path d="M448 23 L458 23 L453 31 Z" fill="#ef6c00"/><text x="464" y="32" class="label">SIGTERM</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    '<style>.title{font-size:13px;font-weight:bold}.label{font-size:11px}.axis{font-size:10px;fill:#424242}.term{font-size:9px;fill:#fff}</style>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="16" class="title">${escapeXml(caption)}</text>`,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
