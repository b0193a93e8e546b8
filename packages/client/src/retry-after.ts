import { parseHttpDate } from './http-date.js';

/**
 * The wait a `Retry-After` value asks for, in ms (RFC 9110 section 10.2.3), or `undefined`
 * when the value is absent or malformed (the caller then falls back to backoff).
 *
 * - delay-seconds: one or more digits only. `1.5`, `-1` and `5s` are malformed, not
 *   guessed at.
 * - HTTP-date: the wait is measured against `serverNow` (the response's `Date` header)
 *   when it is given, because both dates then come from the server's clock and a client
 *   whose clock is off by minutes still waits the right time; else against `now`. A date
 *   in the past means "retry now" (0).
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number,
  serverNow?: number | undefined,
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text, now);
  if (date === undefined) return undefined;
  return Math.max(0, date - (serverNow ?? now));
}
