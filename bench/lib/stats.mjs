/** Small statistics over rounds. */
export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function min(values) {
  return Math.min(...values.filter((v) => Number.isFinite(v)));
}

export function max(values) {
  return Math.max(...values.filter((v) => Number.isFinite(v)));
}
