/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), opt-in, in the
 * three forms clients meet in the wild. Values are RFC 9651 structured fields; every
 * form is checked by a real structured-field parser in test/core/standard-headers.test.ts.
 *
 * - `draft-6`: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (integers; the
 *   reset is delta-seconds) and `RateLimit-Policy: 100;w=60` (a list of quota items).
 * - `draft-7`: `RateLimit: limit=100, remaining=50, reset=30` (a dictionary) and
 *   `RateLimit-Policy: 100;w=60`.
 * - `draft-8` (and 9): `RateLimit-Policy: "api";q=100;w=60;pk=:...:` and
 *   `RateLimit: "api";r=50;t=30;pk=:...:`, listing EVERY limit that applied, each named by
 *   an sf-string and keyed by a hashed partition key (never the raw identity); `t` is the
 *   time until the limit resets (a bucket: until it is full again).
 * - `draft-10`: the same fields, but `t` is what draft 10 defines: the time until more
 *   quota is available. For a window that is its reset; for a token bucket, the time until
 *   the next unit drips in (or, when refused, until the request's cost fits), not until
 *   the bucket is full: a client trusting `t` then waits as long as Retry-After says.
 *
 * A concurrency limit (requests in flight) has no window: draft-8 and later list it with
 * the quota unit `qu="concurrent-requests"` and no `w` or `t`; draft-6 and -7, whose policy
 * items are all windows, leave it out unless it is the limit reported.
 *
 * Numbers follow the X-RateLimit-* semantics: a token bucket's quota is its burst and its
 * window the time it takes to refill from empty.
 */
import { createHash } from 'node:crypto';
import type { PolicyOutcome } from './decision.js';

/** Which IETF form to send. */
export type StandardHeaders = 'draft-6' | 'draft-7' | 'draft-8' | 'draft-10';

/** RFC 9651 sf-string: a quoted string with `\` and `"` escaped (only printable ASCII is allowed). */
export function sfString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) throw new TypeError('an sf-string carries printable ASCII only');
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** RFC 9651 sf-binary of the first 96 bits of SHA-256: a partition key that does not reveal the identity. */
export function partitionKey(identity: string): string {
  return `:${createHash('sha256').update(identity).digest().subarray(0, 12).toString('base64')}:`;
}

function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/**
 * Seconds until more quota of `outcome` is available (draft-10's `t`): when refused, until
 * its cost fits; for a token bucket not yet full, until its next unit (the bucket refills
 * one unit every `windowMs ÷ limit`, the window being the time it takes from empty to full);
 * otherwise until it resets.
 */
function untilMore(outcome: PolicyOutcome, now: number): number {
  const reset = Math.max(0, outcome.resetAt - now);
  if (!outcome.allowed) return seconds(outcome.retryAfterMs);
  if (outcome.algorithm === 'token-bucket' && reset > 0)
    return seconds(Math.min(reset, outcome.windowMs / outcome.limit));
  return seconds(reset);
}

/**
 * The IETF fields for `reported` (the limit the X-RateLimit-* fields describe) and, for
 * draft-8 and later, every limit in `outcomes` with its storage identity in `identities`
 * (same order).
 */
export function standardHeaders(
  form: StandardHeaders,
  reported: PolicyOutcome,
  outcomes: readonly PolicyOutcome[],
  identities: readonly string[],
  now: number,
): Record<string, string> {
  if (form === 'draft-6' || form === 'draft-7') {
    const windows = outcomes.filter((o) => o !== reported && o.algorithm !== 'concurrency');
    const policyList = [reported, ...windows].map((o) => `${o.limit};w=${seconds(o.windowMs)}`).join(', ');
    const reset = seconds(reported.resetAt - now);
    if (form === 'draft-6') {
      return {
        'RateLimit-Limit': String(reported.limit),
        'RateLimit-Remaining': String(reported.remaining),
        'RateLimit-Reset': String(reset),
        'RateLimit-Policy': policyList,
      };
    }
    return {
      RateLimit: `limit=${reported.limit}, remaining=${reported.remaining}, reset=${reset}`,
      'RateLimit-Policy': policyList,
    };
  }
  const policies: string[] = [];
  const states: string[] = [];
  outcomes.forEach((outcome, i) => {
    const name = sfString(outcome.name);
    const pk = partitionKey(identities[i] ?? '');
    if (outcome.algorithm === 'concurrency') {
      policies.push(`${name};q=${outcome.limit};qu="concurrent-requests";pk=${pk}`);
      states.push(`${name};r=${outcome.remaining};pk=${pk}`);
      return;
    }
    const t = form === 'draft-10' ? untilMore(outcome, now) : seconds(outcome.resetAt - now);
    policies.push(`${name};q=${outcome.limit};w=${seconds(outcome.windowMs)};pk=${pk}`);
    states.push(`${name};r=${outcome.remaining};t=${t};pk=${pk}`);
  });
  return { 'RateLimit-Policy': policies.join(', '), RateLimit: states.join(', ') };
}
