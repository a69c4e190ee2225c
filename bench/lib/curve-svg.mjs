// A small line chart as an SVG string, no dependencies: series over a shared x axis (seconds),
// each on the left or the right y axis. bench/redeploy.mjs writes its curve with it.
//   curveSvg({ title, xLabel, series: [{ name, color, axis: "left"|"right", points: [[x, y], ...] }],
//              leftLabel, rightLabel, markers: [{ x, label }] }) → string
const esc = (s) => String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);

/** A "nice" upper bound for an axis (1, 2, 5 × 10^k at or above `v`). */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * The chart: 760 × 360 px, x from the smallest to the largest x of all series, each y axis from 0
 * to a rounded maximum of its series. Markers are vertical dashed lines with a label (e.g. "restart").
 */
export function curveSvg({ title, xLabel = "s", series, leftLabel = "", rightLabel = "", markers = [] }) {
  const W = 760, H = 360, L = 60, R = 60, T = 40, B = 60;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
  const maxOf = (axis) => niceMax(Math.max(0, ...series.filter((s) => (s.axis ?? "left") === axis).flatMap((s) => s.points.map((p) => p[1]))));
  const yMax = { left: maxOf("left"), right: maxOf("right") };
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y, axis) => H - B - (y / yMax[axis]) * (H - T - B);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`];
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(title)}</text>`);
  // grid and axes
  for (let i = 0; i <= 5; i++) {
    const y = H - B - (i / 5) * (H - T - B);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${L - 6}" y="${y + 4}" text-anchor="end">${+(yMax.left * (i / 5)).toPrecision(3)}</text>`);
    if (series.some((s) => s.axis === "right")) out.push(`<text x="${W - R + 6}" y="${y + 4}">${+(yMax.right * (i / 5)).toPrecision(3)}</text>`);
  }
  const step = niceMax((x1 - x0) / 10);
  for (let x = Math.ceil(x0 / step) * step; x <= x1; x += step) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${H - B}" y2="${H - B + 4}" stroke="#333"/>`, `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${+x.toFixed(1)}</text>`);
  }
  out.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`, `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  out.push(`<text x="${W / 2}" y="${H - B + 32}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${esc(leftLabel)}</text>`);
  if (rightLabel) out.push(`<text x="${W - 14}" y="${(T + H - B) / 2}" transform="rotate(90 ${W - 14} ${(T + H - B) / 2})" text-anchor="middle">${esc(rightLabel)}</text>`);
  for (const m of markers) {
    out.push(`<line x1="${px(m.x)}" x2="${px(m.x)}" y1="${T}" y2="${H - B}" stroke="#999" stroke-dasharray="4 3"/>`, `<text x="${px(m.x) + 3}" y="${T + 10}" fill="#666">${esc(m.label)}</text>`);
  }
  series.forEach((s, i) => {
    const axis = s.axis ?? "left";
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${px(p[0]).toFixed(1)},${py(p[1], axis).toFixed(1)}`).join("");
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    out.push(`<rect x="${L + 10 + i * 200}" y="${H - 18}" width="12" height="3" fill="${s.color}"/>`, `<text x="${L + 26 + i * 200}" y="${H - 14}">${esc(s.name)}${axis === "right" ? " (right)" : ""}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
