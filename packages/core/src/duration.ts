const UNITS: ReadonlyArray<readonly [ms: number, singular: string]> = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1_000, 'second'],
];

/**
 * Human form of a duration for error bodies: `60_000` is "1 minute", `6_000` is
 * "6 seconds", `1_500` is "1500 milliseconds". Uses the largest unit that divides the
 * duration exactly, so the text never rounds.
 */
export function describeDuration(ms: number): string {
  for (const [unit, name] of UNITS) {
    if (ms >= unit && ms % unit === 0) return plural(ms / unit, name);
  }
  return plural(Math.round(ms), 'millisecond');
}

function plural(n: number, singular: string): string {
  return `${n} ${singular}${n === 1 ? '' : 's'}`;
}
