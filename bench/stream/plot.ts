/** A small hand-written SVG line chart: final delay (p50, p95) and lag (p95) against the number of streams. */
export function plotSvg(
  title: string,
  series: { name: string; color: string; points: [number, number][] }[],
  yLabel: string,
): string {
  const W = 720;
  const H = 400;
  const pad = { l: 60, r: 160, t: 40, b: 45 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(1, ...xs);
  const yMax = Math.max(1, ...ys) * 1.1;
  const x = (v: number) => pad.l + (v / xMax) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / yMax) * (H - pad.t - pad.b);
  const ticks = (max: number) => Array.from({ length: 6 }, (_, i) => (max * i) / 5);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - 60}" y="22" font-size="15">${title}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="black"/>`,
    ...ticks(xMax).map((v) => `<text x="${x(v) - 6}" y="${H - pad.b + 18}">${Math.round(v)}</text>`),
    ...ticks(yMax).map(
      (v) =>
        `<text x="${pad.l - 45}" y="${y(v) + 4}">${v.toFixed(1)}</text><line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
    ),
    `<text x="${(W - pad.r) / 2}" y="${H - 8}">streams</text>`,
    `<text x="12" y="${pad.t - 12}">${yLabel}</text>`,
  ];
  series.forEach((s, i) => {
    const pts = s.points.map(([a, b]) => `${x(a)},${y(b)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [a, b] of s.points) parts.push(`<circle cx="${x(a)}" cy="${y(b)}" r="3" fill="${s.color}"/>`);
    parts.push(
      `<rect x="${W - pad.r + 15}" y="${pad.t + i * 20}" width="12" height="12" fill="${s.color}"/>`,
    );
    parts.push(`<text x="${W - pad.r + 32}" y="${pad.t + i * 20 + 11}">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
