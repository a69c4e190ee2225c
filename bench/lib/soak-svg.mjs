// A small line chart as SVG text (plain string templating, no library): the soak's memory series
// and p99 per minute (scripts/soak.mjs writes bench/results/soak.svg). Pure; test/unit/soak.test.ts.

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

/**
 * One chart. `series`: [{name, points: [[x, y|null], …]}] (null y = gap, not drawn); `axes`:
 * {x, y} labels. Y from 0 to the largest value (+10 %), x over the points' range. Returns the
 * SVG document (width × height px). A series with no finite point is listed in the legend only.
 * @returns {string}
 */
export function lineChart({ title, series, axes, width = 720, height = 300 }) {
  const pad = { l: 56, r: 16, t: 28, b: 40 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const yMax = Math.max(1e-9, ...all.map(([, y]) => y)) * 1.1;
  const W = width - pad.l - pad.r;
  const H = height - pad.t - pad.b;
  const sx = (x) => pad.l + (x1 === x0 ? W / 2 : ((x - x0) / (x1 - x0)) * W);
  const sy = (y) => pad.t + H - (y / yMax) * H;
  const f = (n) => n.toFixed(1);
  const lines = series.map((s, i) => {
    const segs = [];
    let cur = [];
    for (const [x, y] of s.points) {
      if (Number.isFinite(x) && Number.isFinite(y)) cur.push(`${f(sx(x))},${f(sy(y))}`);
      else if (cur.length) (segs.push(cur), (cur = []));
    }
    if (cur.length) segs.push(cur);
    return segs.map((p) => `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${p.join(" ")}"/>`).join("");
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const y = t * yMax;
    return `<line x1="${pad.l}" x2="${pad.l + W}" y1="${f(sy(y))}" y2="${f(sy(y))}" stroke="#ddd"/><text x="${pad.l - 4}" y="${f(sy(y) + 4)}" text-anchor="end">${esc(y >= 100 ? y.toFixed(0) : y.toFixed(1))}</text>`;
  });
  const xt = [x0, (x0 + x1) / 2, x1].map((x) => `<text x="${f(sx(x))}" y="${pad.t + H + 16}" text-anchor="middle">${esc(Number(x.toFixed(1)))}</text>`);
  const legend = series.map((s, i) => `<text x="${pad.l + 8 + i * 150}" y="${pad.t - 10}" fill="${COLORS[i % COLORS.length]}">${esc(s.name)}</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title><rect width="100%" height="100%" fill="#fff"/>`,
    ...ticks,
    `<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${pad.t + H}" stroke="#888"/><line x1="${pad.l}" x2="${pad.l + W}" y1="${pad.t + H}" y2="${pad.t + H}" stroke="#888"/>`,
    ...xt,
    `<text x="${pad.l + W / 2}" y="${height - 6}" text-anchor="middle">${esc(axes.x)}</text>`,
    `<text transform="translate(12 ${pad.t + H / 2}) rotate(-90)" text-anchor="middle">${esc(axes.y)}</text>`,
    ...lines,
    ...legend,
    `</svg>`,
  ].join("\n");
}

/** Two charts stacked in one SVG (memory above, latency below): each a `lineChart` spec. */
export function stackedCharts(charts, width = 720, height = 300) {
  const inner = charts.map((c, i) => lineChart({ ...c, width, height }).replace(/^<svg[^>]*>/, `<g transform="translate(0 ${i * height})">`).replace(/<\/svg>$/, "</g>"));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * charts.length}" viewBox="0 0 ${width} ${height * charts.length}" font-family="sans-serif" font-size="11">\n${inner.join("\n")}\n</svg>\n`;
}
