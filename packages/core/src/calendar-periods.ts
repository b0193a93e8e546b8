/**
 * Calendar periods in a time zone, for calendar quotas (`{ limit, per: 'month', timeZone }`):
 * the hour, day or month that contains a moment, as the zone's clocks show it, daylight
 * saving time included (a day is 23 or 25 hours long when the clocks change; a month
 * starts at local midnight on its first day). Computed with `Intl.DateTimeFormat`, which
 * every runtime ships with the IANA zone database, and cached per zone and unit until the
 * period ends, so a request costs one comparison.
 */

/** The calendar units a quota can be counted in. */
export type CalendarUnit = 'hour' | 'day' | 'month';

/** One period: from `start` (inclusive) to `end` (exclusive), ms since the epoch. */
export interface Period {
  readonly start: number;
  readonly end: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** True when `timeZone` is a zone this runtime knows (an IANA name such as `Europe/Berlin`, or `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock fields of `instant` in `timeZone`. */
function wall(instant: number, timeZone: string): [year: number, month: number, day: number, hour: number] {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  for (const part of formatter(timeZone).formatToParts(instant)) {
    if (part.type === 'year') year = Number(part.value);
    else if (part.type === 'month') month = Number(part.value);
    else if (part.type === 'day') day = Number(part.value);
    else if (part.type === 'hour') hour = Number(part.value);
  }
  return [year, month, day, hour];
}

/** How far `timeZone`'s clocks are ahead of UTC at `instant`, in ms (whole minutes). */
function offsetAt(instant: number, timeZone: string): number {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of formatter(timeZone).formatToParts(instant)) {
    const value = Number(part.value);
    if (part.type === 'year') year = value;
    else if (part.type === 'month') month = value;
    else if (part.type === 'day') day = value;
    else if (part.type === 'hour') hour = value;
    else if (part.type === 'minute') minute = value;
    else if (part.type === 'second') second = value;
  }
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  return asUtc - (instant - (((instant % 1_000) + 1_000) % 1_000));
}

/**
 * The first instant at which `timeZone`'s clocks show the wall time `year-month-day hour:00`
 * or later: in a gap (the hour skipped when clocks go forward) that is the end of the gap;
 * in a repeated hour (clocks going back), its first occurrence.
 */
function instantOf(year: number, month: number, day: number, hour: number, timeZone: string): number {
  const naive = Date.UTC(year, month - 1, day, hour);
  // The offset just before and just after the wall time covers both sides of a change.
  const early = naive - offsetAt(naive - 86_400_000, timeZone);
  const late = naive - offsetAt(naive + 86_400_000, timeZone);
  const candidates = [early, late, naive - offsetAt(naive, timeZone)].sort((a, b) => a - b);
  for (const candidate of candidates) {
    const [y, m, d, h] = wall(candidate, timeZone);
    if (Date.UTC(y, m - 1, d, h) === naive) return candidate;
  }
  // The wall time does not exist (a gap): the first instant after it does.
  for (const candidate of candidates) {
    const [y, m, d, h] = wall(candidate, timeZone);
    if (Date.UTC(y, m - 1, d, h) > naive) return candidate;
  }
  return candidates[candidates.length - 1] as number;
}

/** The first instant in `(before, after]` with `after`'s offset; offsets change on whole minutes. */
function offsetChange(before: number, after: number, timeZone: string): number {
  const target = offsetAt(after, timeZone);
  let low = Math.floor(before / 60_000);
  let high = Math.ceil(after / 60_000);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (offsetAt(middle * 60_000, timeZone) === target) high = middle;
    else low = middle;
  }
  return high * 60_000;
}

/** The hour, day or month of `timeZone` that contains `instant`. */
export function periodAt(instant: number, unit: CalendarUnit, timeZone: string): Period {
  if (unit === 'hour') {
    // An hour starts when the zone's minutes and seconds read zero, so a repeated hour
    // (clocks going back) is two periods. Where the offset changes inside an hour (by
    // half an hour, as on Lord Howe Island), the change itself is also a boundary.
    const offset = offsetAt(instant, timeZone);
    const sinceHour = (((instant + offset) % 3_600_000) + 3_600_000) % 3_600_000;
    let start = instant - sinceHour;
    let end = start + 3_600_000;
    if (offsetAt(start, timeZone) !== offset) start = offsetChange(start, instant, timeZone);
    if (offsetAt(end - 1, timeZone) !== offset) end = offsetChange(instant, end - 1, timeZone);
    return { start, end };
  }
  const [year, month, day] = wall(instant, timeZone);
  if (unit === 'day') {
    const next = new Date(Date.UTC(year, month - 1, day + 1));
    return {
      start: instantOf(year, month, day, 0, timeZone),
      end: instantOf(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, timeZone),
    };
  }
  const next = new Date(Date.UTC(year, month, 1));
  return {
    start: instantOf(year, month, 1, 0, timeZone),
    end: instantOf(next.getUTCFullYear(), next.getUTCMonth() + 1, 1, 0, timeZone),
  };
}

/**
 * The periods of one unit and zone, as public types see them: an interface, not the class,
 * so the ESM and CJS builds' declarations of it are the same type (a class with private
 * fields is a different type in each).
 */
export interface Periods {
  readonly unit: CalendarUnit;
  readonly timeZone: string;
  /** The period that contains `now` (ms since the epoch). */
  at(now: number): Period;
}

/** The current period of one unit and zone, kept until it ends (every identity shares it). */
export class PeriodClock implements Periods {
  readonly unit: CalendarUnit;
  readonly timeZone: string;
  #period: Period = { start: 0, end: 0 };

  constructor(unit: CalendarUnit, timeZone: string) {
    this.unit = unit;
    this.timeZone = timeZone;
  }

  /** The period that contains `now`. */
  at(now: number): Period {
    const period = this.#period;
    if (now >= period.start && now < period.end) return period;
    this.#period = periodAt(now, this.unit, this.timeZone);
    return this.#period;
  }
}
