/**
 * Reads a server's rate-limit state from response headers, in every dialect in use:
 *
 * - `X-RateLimit-Limit` / `-Remaining` / `-Reset` (GitHub, Stripe-likes, tierlimit);
 * - draft-ietf-httpapi-ratelimit-headers-06: `RateLimit-Limit`, `RateLimit-Remaining`,
 *   `RateLimit-Reset` (delta seconds), optional `RateLimit-Policy: 100;w=60`;
 * - draft-07: one Dictionary field `RateLimit: limit=100, remaining=50, reset=5` plus
 *   `RateLimit-Policy: 100;w=60`;
 * - draft-08 and later: `RateLimit: "default";r=50;t=30` and
 *   `RateLimit-Policy: "default";q=100;w=60`, Lists of named policies.
 *
 * The IETF fields are parsed as RFC 9651 Structured Fields, never with regexes.
 */
import { type HeadersLike, headerValue } from './headers.js';
import { parseHttpDate } from './http-date.js';
import {
  type BareItem,
  type Item,
  integerOf,
  type ListMember,
  parseDictionary,
  parseList,
} from './structured-fields.js';

/** Which header dialect a state was read from. */
export type RateLimitSource = 'x-ratelimit' | 'draft-6' | 'draft-7' | 'draft-8';

/** One policy's state, normalised. Times are ms since the epoch on the caller's clock. */
export interface RateLimitState {
  /**
   * The quota of the policy (for a token bucket, its capacity). `undefined` only for
   * draft-8 fields sent without a matching `RateLimit-Policy` item, or X-RateLimit-*
   * without `X-RateLimit-Limit`.
   */
  readonly limit: number | undefined;
  /** Units left now; never negative. */
  readonly remaining: number;
  /** When the quota resets (for a token bucket: is full again), ms since the epoch. */
  readonly resetAt: number;
  /** The policy's name (draft-8) or its serialised quota policy (`100;w=60`, drafts 6 and 7), when known. */
  readonly policy?: string;
  /** The policy's window, in ms, when the server states one (`w`). */
  readonly windowMs?: number;
}

/** What `parseRateLimit` returns: the state to pace by, where it came from, and every policy reported. */
export interface RateLimitInfo extends RateLimitState {
  readonly source: RateLimitSource;
  /**
   * Every policy the headers reported (draft-8 may report several, such as a burst and a
   * daily quota). The top-level fields repeat the most restrictive of them.
   */
  readonly policies: readonly RateLimitState[];
}

/** Options of {@link parseRateLimit}. */
export interface ParseRateLimitOptions {
  /** The current time, ms since the epoch, for turning relative resets into absolute ones. Default `Date.now()`. */
  readonly now?: number;
}

/**
 * The rate-limit state a response reports, or `undefined` when it reports none or only
 * malformed values (this function never throws).
 *
 * When several dialects are present the newest wins (draft-8, draft-7, draft-6, then
 * X-RateLimit-*); a malformed newer dialect falls through to an older one.
 *
 * `X-RateLimit-Reset` comes as epoch seconds (GitHub, tierlimit), epoch milliseconds, or
 * seconds remaining (others), and the header does not say which. The rule: a value above
 * 1e12 is epoch ms, above 1e9 epoch seconds (1e9 s is September 2001; as a delay it would
 * be 31 years, which no API means), anything else seconds from now. An absolute reset is
 * converted with the response's `Date` header when present, so a client whose clock is
 * off still waits the right time.
 *
 * When several policies are reported, the top level describes the most restrictive one
 * for pacing: the lowest rate it still allows (remaining ÷ time to reset), ties going to
 * the later reset.
 */
export function parseRateLimit(headers: HeadersLike, options: ParseRateLimitOptions = {}): RateLimitInfo | undefined {
  const now = options.now ?? Date.now();
  try {
    return fromRateLimitField(headers, now) ?? fromDraft6(headers, now) ?? fromXRateLimit(headers, now);
  } catch {
    // The parsers are written not to throw; this guards the contract against a headers object that does.
    return undefined;
  }
}

function info(source: RateLimitSource, policies: RateLimitState[], now: number): RateLimitInfo | undefined {
  const chosen = mostRestrictive(policies, now);
  return chosen === undefined ? undefined : { ...chosen, source, policies };
}

/** The policy allowing the lowest rate until its reset; ties go to the later reset. */
export function mostRestrictive(policies: readonly RateLimitState[], now: number): RateLimitState | undefined {
  let best: RateLimitState | undefined;
  let bestRate = Number.POSITIVE_INFINITY;
  for (const policy of policies) {
    const rate = policy.remaining / Math.max(1, policy.resetAt - now);
    if (best === undefined || rate < bestRate || (rate === bestRate && policy.resetAt > best.resetAt)) {
      best = policy;
      bestRate = rate;
    }
  }
  return best;
}

/** Builds a state, leaving optional fields out rather than `undefined` (exactOptionalPropertyTypes). */
function state(
  limit: number | undefined,
  remaining: number,
  resetAt: number,
  policy?: string,
  windowMs?: number,
): RateLimitState {
  return {
    limit,
    remaining,
    resetAt,
    ...(policy === undefined ? {} : { policy }),
    ...(windowMs === undefined ? {} : { windowMs }),
  };
}

function nonNegativeInteger(item: BareItem | undefined): number | undefined {
  const value = integerOf(item);
  return value !== undefined && value >= 0 ? value : undefined;
}

function positiveInteger(item: BareItem | undefined): number | undefined {
  const value = integerOf(item);
  return value !== undefined && value > 0 ? value : undefined;
}

function policyName(item: Item): string | undefined {
  return item.value.type === 'string' || item.value.type === 'token' ? item.value.value : undefined;
}

function items(members: readonly ListMember[]): Item[] {
  return members.filter((member): member is Item => member.kind === 'item');
}

/** The `RateLimit` field: draft-8 (a List of named policies) or draft-7 (a Dictionary). */
function fromRateLimitField(headers: HeadersLike, now: number): RateLimitInfo | undefined {
  const field = headerValue(headers, 'ratelimit');
  if (field === undefined) return undefined;
  const policyField = headerValue(headers, 'ratelimit-policy');
  // A draft-7 Dictionary never parses as a List (`limit=` is not a valid List member), so the order is safe.
  const list = parseList(field);
  if (list !== undefined) return fromDraft8(items(list), policyField, now);
  const dictionary = parseDictionary(field);
  if (dictionary !== undefined) return fromDraft7(dictionary, policyField, now);
  return undefined;
}

interface Quota {
  readonly quota: number;
  readonly windowMs: number | undefined;
  readonly text: string;
}

/** draft-8: `RateLimit: "burst";r=10;t=1, "daily";r=800;t=3600` with `RateLimit-Policy: "burst";q=100;w=60, ...`. */
function fromDraft8(reported: Item[], policyField: string | undefined, now: number): RateLimitInfo | undefined {
  const quotas = new Map<string, Quota>();
  for (const item of items(policyField === undefined ? [] : (parseList(policyField) ?? []))) {
    const name = policyName(item);
    const quota = positiveInteger(item.params.get('q'));
    if (name === undefined || quota === undefined) continue;
    const window = positiveInteger(item.params.get('w'));
    quotas.set(name, { quota, windowMs: window === undefined ? undefined : window * 1000, text: name });
  }
  const policies: RateLimitState[] = [];
  for (const item of reported) {
    const name = policyName(item);
    const remaining = nonNegativeInteger(item.params.get('r'));
    if (name === undefined || remaining === undefined) continue;
    const quota = quotas.get(name);
    const reset = nonNegativeInteger(item.params.get('t'));
    // `t` is optional: without it the quota may stay exhausted for a whole window, so assume that.
    const resetAt =
      reset !== undefined ? now + reset * 1000 : quota?.windowMs !== undefined ? now + quota.windowMs : undefined;
    if (resetAt === undefined) continue;
    policies.push(state(quota?.quota, remaining, resetAt, name, quota?.windowMs));
  }
  return info('draft-8', policies, now);
}

/** Quota policies of drafts 6 and 7: `100;w=60, 1000;w=3600`. */
function quotaPolicies(members: readonly ListMember[]): Quota[] {
  const quotas: Quota[] = [];
  for (const item of items(members)) {
    const quota = positiveInteger(item.value);
    if (quota === undefined) continue;
    const window = positiveInteger(item.params.get('w'));
    quotas.push({ quota, windowMs: window === undefined ? undefined : window * 1000, text: serializeItem(item) });
  }
  return quotas;
}

function withQuota(
  source: RateLimitSource,
  limit: number | undefined,
  remaining: number,
  resetAt: number,
  quotas: Quota[],
  now: number,
) {
  const match = quotas.find((quota) => quota.quota === limit);
  return info(source, [state(limit, remaining, resetAt, match?.text, match?.windowMs)], now);
}

/** draft-7: `RateLimit: limit=100, remaining=50, reset=5`. */
function fromDraft7(
  dictionary: ReadonlyMap<string, ListMember>,
  policyField: string | undefined,
  now: number,
): RateLimitInfo | undefined {
  const member = (key: string) => {
    const value = dictionary.get(key);
    return value?.kind === 'item' ? value.value : undefined;
  };
  const remaining = nonNegativeInteger(member('remaining'));
  const reset = nonNegativeInteger(member('reset'));
  if (remaining === undefined || reset === undefined) return undefined;
  const limit = positiveInteger(member('limit'));
  const quotas = quotaPolicies(policyField === undefined ? [] : (parseList(policyField) ?? []));
  return withQuota('draft-7', limit, remaining, now + reset * 1000, quotas, now);
}

/** draft-6: `RateLimit-Limit: 100`, `RateLimit-Remaining: 50`, `RateLimit-Reset: 5` (seconds). */
function fromDraft6(headers: HeadersLike, now: number): RateLimitInfo | undefined {
  const remainingField = headerValue(headers, 'ratelimit-remaining');
  const resetField = headerValue(headers, 'ratelimit-reset');
  if (remainingField === undefined || resetField === undefined) return undefined;
  const remaining = nonNegativeInteger(singleItem(remainingField));
  const reset = nonNegativeInteger(singleItem(resetField));
  if (remaining === undefined || reset === undefined) return undefined;
  // Drafts before 6 put the quota policies in RateLimit-Limit itself (`10, 10;w=1, 50;w=60`);
  // parsing it as a List and reading the first member serves both.
  const limitField = headerValue(headers, 'ratelimit-limit');
  const limitMembers = limitField === undefined ? undefined : parseList(limitField);
  const first = limitMembers?.[0];
  const limit = first?.kind === 'item' ? positiveInteger(first.value) : undefined;
  const policyField = headerValue(headers, 'ratelimit-policy');
  const quotas = quotaPolicies([
    ...(policyField === undefined ? [] : (parseList(policyField) ?? [])),
    ...(limitMembers ?? []).slice(1),
  ]);
  return withQuota('draft-6', limit, remaining, now + reset * 1000, quotas, now);
}

function singleItem(field: string): BareItem | undefined {
  const list = parseList(field);
  return list?.length === 1 && list[0]?.kind === 'item' ? list[0].value : undefined;
}

const DECIMAL = /^\d+(?:\.\d+)?$/;

function decimal(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  return DECIMAL.test(text) ? Number(text) : undefined;
}

/** `X-RateLimit-*`. Decimals are accepted because some APIs (Reddit) send `Remaining: 598.0`. */
function fromXRateLimit(headers: HeadersLike, now: number): RateLimitInfo | undefined {
  const remaining = decimal(headerValue(headers, 'x-ratelimit-remaining'));
  const reset = decimal(headerValue(headers, 'x-ratelimit-reset'));
  if (remaining === undefined || reset === undefined) return undefined;
  const limitValue = decimal(headerValue(headers, 'x-ratelimit-limit'));
  const limit = limitValue === undefined ? undefined : Math.floor(limitValue);
  let resetAt: number;
  if (reset > 1e9) {
    const absolute = reset > 1e12 ? reset : reset * 1000;
    const dateField = headerValue(headers, 'date');
    const serverNow = dateField === undefined ? undefined : parseHttpDate(dateField, now);
    resetAt = serverNow === undefined ? absolute : now + (absolute - serverNow);
  } else {
    resetAt = now + reset * 1000;
  }
  return info('x-ratelimit', [state(limit, Math.floor(remaining), Math.ceil(resetAt))], now);
}

/** Serialises an Item back to its canonical text (section 4.1), for naming a draft 6/7 quota policy. */
function serializeItem(item: Item): string {
  let text = serializeBare(item.value);
  for (const [key, value] of item.params) {
    text += value.type === 'boolean' && value.value ? `;${key}` : `;${key}=${serializeBare(value)}`;
  }
  return text;
}

function serializeBare(value: BareItem): string {
  switch (value.type) {
    case 'integer':
    case 'token':
      return String(value.value);
    case 'decimal':
      return Number.isInteger(value.value) ? value.value.toFixed(1) : String(value.value);
    case 'string':
      return `"${value.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    case 'boolean':
      return value.value ? '?1' : '?0';
    case 'date':
      return `@${value.value}`;
    case 'binary':
      return `:${btoa(String.fromCharCode(...value.value))}:`;
    case 'displaystring':
      return `%"${Array.from(new TextEncoder().encode(value.value), (byte) =>
        byte === 0x25 || byte === 0x22 || byte < 0x20 || byte > 0x7e
          ? `%${byte.toString(16).padStart(2, '0')}`
          : String.fromCharCode(byte),
      ).join('')}"`;
  }
}
