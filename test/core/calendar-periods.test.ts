import { isTimeZone, PeriodClock, periodAt } from '../../packages/core/src/calendar-periods.js';

const at = (iso: string) => Date.parse(iso);
const hours = (period: { start: number; end: number }) => (period.end - period.start) / 3_600_000;

describe('calendar periods', () => {
  it('a UTC month runs from the first to the first, leap years included', () => {
    expect(periodAt(at('2024-02-29T23:59:59.999Z'), 'month', 'UTC')).toEqual({
      start: at('2024-02-01T00:00:00Z'),
      end: at('2024-03-01T00:00:00Z'),
    });
    expect(periodAt(at('2024-03-01T00:00:00Z'), 'month', 'UTC').start).toBe(at('2024-03-01T00:00:00Z'));
    expect(hours(periodAt(at('2025-02-10T00:00:00Z'), 'month', 'UTC'))).toBe(28 * 24);
    expect(periodAt(at('2026-12-31T23:59:59Z'), 'month', 'UTC').end).toBe(at('2027-01-01T00:00:00Z'));
  });

  it('a month in a zone starts at local midnight on its first day', () => {
    // 2026-01-31 23:30 UTC is already 1 February in Berlin (UTC+1).
    expect(periodAt(at('2026-01-31T23:30:00Z'), 'month', 'Europe/Berlin')).toEqual({
      start: at('2026-01-31T23:00:00Z'),
      end: at('2026-02-28T23:00:00Z'),
    });
    // March in Berlin ends in summer time: it is one hour shorter than 31 days.
    expect(hours(periodAt(at('2026-03-15T12:00:00Z'), 'month', 'Europe/Berlin'))).toBe(31 * 24 - 1);
  });

  it('a day is 23 hours when clocks go forward and 25 when they go back', () => {
    const spring = periodAt(at('2026-03-08T12:00:00Z'), 'day', 'America/New_York');
    expect(spring).toEqual({ start: at('2026-03-08T05:00:00Z'), end: at('2026-03-09T04:00:00Z') });
    const autumn = periodAt(at('2026-11-01T12:00:00Z'), 'day', 'America/New_York');
    expect(autumn).toEqual({ start: at('2026-11-01T04:00:00Z'), end: at('2026-11-02T05:00:00Z') });
    expect(hours(periodAt(at('2026-03-29T12:00:00Z'), 'day', 'Europe/Berlin'))).toBe(23);
    expect(hours(periodAt(at('2026-10-25T12:00:00Z'), 'day', 'Europe/Berlin'))).toBe(25);
  });

  it('a day whose midnight does not exist starts when the clocks resume', () => {
    // Chile moves from 00:00 to 01:00 on the first Sunday of September.
    expect(periodAt(at('2026-09-06T12:00:00Z'), 'day', 'America/Santiago')).toEqual({
      start: at('2026-09-06T04:00:00Z'),
      end: at('2026-09-07T03:00:00Z'),
    });
  });

  it('the hour that repeats when clocks go back is two periods', () => {
    const first = periodAt(at('2026-11-01T05:30:00Z'), 'hour', 'America/New_York'); // 01:30 EDT
    const second = periodAt(at('2026-11-01T06:30:00Z'), 'hour', 'America/New_York'); // 01:30 EST
    expect(first).toEqual({ start: at('2026-11-01T05:00:00Z'), end: at('2026-11-01T06:00:00Z') });
    expect(second).toEqual({ start: at('2026-11-01T06:00:00Z'), end: at('2026-11-01T07:00:00Z') });
  });

  it('hours follow the zone where it is offset by half an hour', () => {
    expect(periodAt(at('2026-06-15T00:00:00Z'), 'hour', 'Asia/Kolkata')).toEqual({
      start: at('2026-06-14T23:30:00Z'),
      end: at('2026-06-15T00:30:00Z'),
    });
  });

  it('every instant lies in its period, and the next period starts where it ends', () => {
    for (const zone of ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kolkata']) {
      for (const unit of ['hour', 'day', 'month'] as const) {
        let now = at('2026-01-01T00:00:00Z');
        const stop = at('2027-01-01T00:00:00Z');
        const step = unit === 'hour' ? 3_600_000 * 7 + 13 : unit === 'day' ? 86_400_000 * 3 + 7 : 86_400_000 * 11;
        while (now < stop) {
          const period = periodAt(now, unit, zone);
          expect(period.start).toBeLessThanOrEqual(now);
          expect(period.end).toBeGreaterThan(now);
          expect(periodAt(period.end, unit, zone).start).toBe(period.end);
          now += step;
        }
      }
    }
  });

  it('a clock keeps the period until it ends', () => {
    const clock = new PeriodClock('day', 'UTC');
    const first = clock.at(at('2026-12-03T10:00:00Z'));
    expect(clock.at(at('2026-12-03T23:59:59.999Z'))).toBe(first);
    expect(clock.at(at('2026-12-04T00:00:00Z')).start).toBe(at('2026-12-04T00:00:00Z'));
  });

  it('knows which zones exist', () => {
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});
