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

/**
 * The wait a response's `Retry-After` asks for, in ms, measured against its `Date` header
 * when it has one; `undefined` when it has none or a malformed one.
 */
export function retryAfterOf(response: Response, now: number): number | undefined {
  const date = response.headers.get('date');
  return parseRetryAfter(
    response.headers.get('retry-after'),
    now,
    date === null ? undefined : parseHttpDate(date, now),
  );
}
