/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), opt-in, in the
 * three forms clients meet in the wild. Values are RFC 9651 structured fields; every
 * form is checked by a real structured-field parser in test/core/standard-headers.test.ts.
 *
 * - `draft-6`: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (integers; the
 *   reset is delta-seconds) and `RateLimit-Policy: 100;w=60` (a list of quota items).
 * - `draft-7`: `RateLimit: limit=100, remaining=50, reset=30` (a dictionary) and
 *   `RateLimit-Policy: 100;w=60`.
 * - `draft-8` (and 9, 10: unchanged since): `RateLimit-Policy: "api";q=100;w=60;pk=:...:`
 *   and `RateLimit: "api";r=50;t=30;pk=:...:`, listing EVERY policy that applied, each
 *   named by an sf-string and keyed by a hashed partition key (never the raw identity).
 *
 * Numbers follow the X-RateLimit-* semantics: a token bucket's quota is its burst and its
 * window the time it takes to refill from empty.
 */
import { createHash } from 'node:crypto';
import type { PolicyOutcome } from './decision.js';

/** Which IETF form to send. */
export type StandardHeaders = 'draft-6' | 'draft-7' | 'draft-8';

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
 * The IETF fields for `reported` (the policy the X-RateLimit-* fields describe) and, for
 * draft-8, every policy in `outcomes` with its storage identity in `identities` (same order).
 */
export function standardHeaders(
  form: StandardHeaders,
  reported: PolicyOutcome,
  outcomes: readonly PolicyOutcome[],
  identities: readonly string[],
  now: number,
): Record<string, string> {
  const others = outcomes.filter((outcome) => outcome !== reported);
  const policyList = [reported, ...others].map((o) => `${o.limit};w=${seconds(o.windowMs)}`).join(', ');
  const reset = seconds(reported.resetAt - now);
  switch (form) {
    case 'draft-6':
      return {
        'RateLimit-Limit': String(reported.limit),
        'RateLimit-Remaining': String(reported.remaining),
        'RateLimit-Reset': String(reset),
        'RateLimit-Policy': policyList,
      };
    case 'draft-7':
      return {
        RateLimit: `limit=${reported.limit}, remaining=${reported.remaining}, reset=${reset}`,
        'RateLimit-Policy': policyList,
      };
    case 'draft-8': {
      const policies: string[] = [];
      const states: string[] = [];
      outcomes.forEach((outcome, i) => {
        const name = sfString(outcome.policy);
        const pk = partitionKey(identities[i] ?? '');
        policies.push(`${name};q=${outcome.limit};w=${seconds(outcome.windowMs)};pk=${pk}`);
        states.push(`${name};r=${outcome.remaining};t=${seconds(outcome.resetAt - now)};pk=${pk}`);
      });
      return { 'RateLimit-Policy': policies.join(', '), RateLimit: states.join(', ') };
    }
  }
}
