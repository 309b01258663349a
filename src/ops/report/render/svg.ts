/**
 * Inline SVG charts for the report: no script, no external asset, so the HTML file opens
 * anywhere (mail attachment, offline) and prints. Deliberately small: line charts over days
 * and horizontal bars.
 */
export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface LineSeries {
  readonly name: string;
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
}

export interface LineChartOptions {
  readonly title: string;
  readonly series: readonly LineSeries[];
  readonly yFormat: (v: number) => string;
  readonly xFormat: (v: number) => string;
  /** Draw a dashed horizontal line (a target or limit). */
  readonly threshold?: { readonly value: number; readonly label: string };
  readonly width?: number;
  readonly height?: number;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  const n = v / p;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
}

export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 240;
  const L = 70, R = 16, Tp = 28, B = 46;
  const pts = o.series.flatMap((s) => s.points);
  if (pts.length === 0) return `<p class="empty">No data for “${esc(o.title)}”.</p>`;
  const xmin = Math.min(...pts.map((p) => p.x));
  const xmax = Math.max(...pts.map((p) => p.x));
  const ymax = niceMax(Math.max(...pts.map((p) => p.y), o.threshold?.value ?? 0));
  const sx = (x: number) => L + (xmax === xmin ? (W - L - R) / 2 : ((x - xmin) / (xmax - xmin)) * (W - L - R));
  const sy = (y: number) => Tp + (1 - y / ymax) * (H - Tp - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`);
  parts.push(`<text x="${L}" y="16" class="ct">${esc(o.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    const y = sy(v).toFixed(1);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" class="grid"/><text x="${L - 6}" y="${y}" dy="4" text-anchor="end" class="ax">${esc(o.yFormat(v))}</text>`);
  }
  const ticks = xmax === xmin ? [xmin] : [xmin, xmin + (xmax - xmin) / 2, xmax];
  for (const t of ticks) parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" class="ax">${esc(o.xFormat(t))}</text>`);
  if (o.threshold) {
    const y = sy(o.threshold.value).toFixed(1);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" class="thr"/><text x="${W - R}" y="${y}" dy="-4" text-anchor="end" class="ax">${esc(o.threshold.label)}</text>`);
  }
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    const d = sorted.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"><title>${esc(s.name)}</title></path>`);
    if (sorted.length === 1) {
      const p = sorted[0] as { x: number; y: number };
      parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  });
  // Legend along the bottom.
  let lx = L;
  o.series.forEach((s, i) => {
    const label = s.name.length > 40 ? `${s.name.slice(0, 39)}…` : s.name;
    parts.push(`<rect x="${lx}" y="${H - 18}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${lx + 14}" y="${H - 9}" class="lg">${esc(label)}</text>`);
    lx += 24 + label.length * 6.2;
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar { readonly label: string; readonly value: number; readonly note?: string }

export function barChart(title: string, bars: readonly Bar[], format: (v: number) => string, width = 720): string {
  if (bars.length === 0) return `<p class="empty">No data for “${esc(title)}”.</p>`;
  const rowH = 22;
  const L = 230, R = 110, Tp = 28;
  const H = Tp + bars.length * rowH + 8;
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${H}" width="${width}" height="${H}" role="img" aria-label="${esc(title)}">`, `<text x="8" y="16" class="ct">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const y = Tp + i * rowH;
    const w = Math.max(1, (b.value / max) * (width - L - R));
    const label = b.label.length > 34 ? `${b.label.slice(0, 33)}…` : b.label;
    parts.push(`<text x="${L - 6}" y="${y + 14}" text-anchor="end" class="ax">${esc(label)}</text>`);
    parts.push(`<rect x="${L}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${PALETTE[0]}"><title>${esc(b.label)}: ${esc(format(b.value))}</title></rect>`);
    parts.push(`<text x="${(L + w + 6).toFixed(1)}" y="${y + 14}" class="ax">${esc(format(b.value))}${b.note ? ` ${esc(b.note)}` : ''}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
