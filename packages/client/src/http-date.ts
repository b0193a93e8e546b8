/**
 * HTTP-date parsing (RFC 9110 section 5.6.7): IMF-fixdate, plus the two obsolete forms a
 * recipient must still accept. `Date.parse` is not used because it accepts far too much
 * (in V8 `Date.parse('1.5')` is a date in 2001), which would turn a malformed
 * `Retry-After` into a real wait instead of falling back to backoff.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` */
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * Milliseconds since the epoch for an HTTP-date, or `undefined` when `text` is not one.
 * `now` resolves the two-digit years of the RFC 850 form (RFC 9110: a year that would be
 * more than 50 years in the future means the most recent past year with those digits).
 */
export function parseHttpDate(text: string, now: number = Date.now()): number | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match !== null) return build(match[3], match[2], match[1], match[4], match[5], match[6]);
  match = ASCTIME.exec(text);
  if (match !== null) return build(match[6], match[1], match[2], match[3], match[4], match[5]);
  match = RFC850.exec(text);
  if (match !== null) {
    const currentYear = new Date(now).getUTCFullYear();
    let year = Math.floor(currentYear / 100) * 100 + Number(match[3]);
    if (year > currentYear + 50) year -= 100;
    return build(String(year), match[2], match[1], match[4], match[5], match[6]);
  }
  return undefined;
}

function build(
  yearText: string | undefined,
  monthText: string | undefined,
  dayText: string | undefined,
  hourText: string | undefined,
  minuteText: string | undefined,
  secondText: string | undefined,
): number | undefined {
  const year = Number(yearText);
  const month = MONTHS.indexOf(monthText ?? '');
  const day = Number(dayText?.trim());
  const hour = Number(hourText);
  const minute = Number(minuteText);
  // 60 is a leap second; fold it into the next minute as Date.UTC would.
  const second = Number(secondText);
  if (month < 0 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  // setUTCFullYear, not Date.UTC, which maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // Reject 31 Feb and the like instead of letting the Date roll them into March.
  if (date.getUTCDate() !== day) return undefined;
  return date.setUTCHours(hour, minute, second, 0);
}
