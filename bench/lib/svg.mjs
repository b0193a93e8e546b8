/**
 * A horizontal bar chart of throughput ratios to the bare framework (median bar, min–max
 * whisker, a tick for each target), written by hand: no charting dependency.
 */
const COLORS = {
  'tierlimit-memory': '#2563eb',
  'tierlimit-redis': '#93c5fd',
  'peer-memory': '#6b7280',
  'peer-redis': '#d1d5db',
  'ping-redis': '#fca5a5',
  'headers-only': '#fde68a',
};
const NAMES = { express: 'Express', koa: 'Koa', fastify: 'Fastify' };

function xml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

export function ratioChart(results, describeVariant) {
  const rows = (results.http?.summary ?? []).filter((r) => r.variant !== 'bare' && r.ratio);
  const width = 820;
  const left = 330;
  const right = 60;
  const top = 48;
  const rowHeight = 22;
  const groupGap = 14;
  // Room for every whisker: at least 0 to 1.1, wider if some run beat bare by more.
  const scaleMax = Math.max(1.1, Math.ceil((Math.max(0, ...rows.map((r) => r.ratio.max)) + 0.05) * 10) / 10);
  const step = scaleMax > 1.6 ? 0.2 : 0.1;
  const plot = width - left - right;
  const x = (v) => left + (Math.max(0, Math.min(scaleMax, v)) / scaleMax) * plot;
  const parts = [];
  let y = top;
  let previous;
  for (const row of rows) {
    if (previous !== undefined && previous !== row.framework) y += groupGap;
    if (previous !== row.framework) {
      parts.push(`<text x="8" y="${y + 15}" font-weight="bold">${NAMES[row.framework]}</text>`);
    }
    previous = row.framework;
    const label = describeVariant(row.framework, row.variant, results.versions);
    const { median, min, max } = row.ratio;
    parts.push(
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${xml(label)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${(x(median) - left).toFixed(1)}" height="${rowHeight - 8}" fill="${COLORS[row.variant] ?? '#999'}"><title>${xml(`${label}: ${median.toFixed(2)} (${min.toFixed(2)}–${max.toFixed(2)})`)}</title></rect>`,
      `<line x1="${x(min).toFixed(1)}" x2="${x(max).toFixed(1)}" y1="${y + rowHeight / 2}" y2="${y + rowHeight / 2}" stroke="#111" stroke-width="1.2"/>`,
      `<line x1="${x(min).toFixed(1)}" x2="${x(min).toFixed(1)}" y1="${y + 7}" y2="${y + rowHeight - 7}" stroke="#111"/>`,
      `<line x1="${x(max).toFixed(1)}" x2="${x(max).toFixed(1)}" y1="${y + 7}" y2="${y + rowHeight - 7}" stroke="#111"/>`,
      `<text x="${Math.min(x(Math.max(max, median)) + 6, width - right + 4)}" y="${y + 15}">${median.toFixed(2)}</text>`,
    );
    if (row.target !== undefined) {
      parts.push(
        `<line x1="${x(row.target).toFixed(1)}" x2="${x(row.target).toFixed(1)}" y1="${y + 1}" y2="${y + rowHeight - 1}" stroke="#dc2626" stroke-width="2"><title>target ${row.target.toFixed(2)}</title></line>`,
      );
    }
    y += rowHeight;
  }
  const bottom = y + 8;
  const axis = [];
  for (let i = 0; i * step <= scaleMax + 1e-9; i++) {
    const v = i * step;
    const px = x(v).toFixed(1);
    axis.push(
      `<line x1="${px}" x2="${px}" y1="${top - 4}" y2="${bottom}" stroke="${Math.abs(v - 1) < 1e-9 ? '#111' : '#e5e7eb'}"${Math.abs(v - 1) < 1e-9 ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${px}" y="${bottom + 16}" text-anchor="middle" fill="#555">${v.toFixed(1)}</text>`,
    );
  }
  const height = bottom + 56;
  const entries = [
    ['tierlimit-memory', 'tierlimit, memory'],
    ['tierlimit-redis', 'tierlimit, Redis'],
    ['peer-memory', 'peer, memory'],
    ['peer-redis', 'peer, Redis'],
    ['headers-only', 'headers only'],
    ['ping-redis', 'Redis PING only'],
  ].filter(([key], i) => i < 4 || rows.some((r) => r.variant === key));
  // Four entries fit right of the labels; more start the legend at the left edge.
  const legendLeft = entries.length > 4 ? 16 : left;
  const legend = entries
    .map(
      ([key, text], i) =>
        `<rect x="${legendLeft + i * 120}" y="${bottom + 30}" width="12" height="12" fill="${COLORS[key]}"/><text x="${legendLeft + i * 120 + 16}" y="${bottom + 40}">${text}</text>`,
    )
    .join('');
  const title = `Throughput relative to the bare framework (median of ${results.settings.rounds} rounds, whiskers min–max, red tick = target)`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" font-size="14" font-weight="bold">${xml(title)}</text>
<text x="8" y="36" fill="#555">${xml(`${results.date}, ${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}; differences under 0.05 are noise`)}</text>
${axis.join('\n')}
${parts.join('\n')}
${legend}
</svg>
`;
}
