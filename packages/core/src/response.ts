/**
 * Renders outcomes into a Decision: headers and body exactly as SPEC section 2 says.
 * Headers are plain data (a record of strings) so every adapter writes them with its
 * own API; nothing here knows a framework.
 */
import type { Decision, ErrorBody, PolicyOutcome } from './decision.js';
import { describeDuration } from './duration.js';
import type { ResolvedTier } from './validate-options.js';

/** What rendering needs to know about the request beyond its outcomes. */
export interface RenderContext {
  /** Current time, ms since the epoch (limiter clock). */
  readonly now: number;
  /** Request id for error bodies; called only when a body is rendered. */
  readonly requestId: () => string;
}

/** The policy closest to exhaustion: fewest units left, then the later reset. */
export function closestToExhaustion(outcomes: readonly PolicyOutcome[]): PolicyOutcome | undefined {
  let best: PolicyOutcome | undefined;
  for (const outcome of outcomes) {
    if (
      best === undefined ||
      outcome.remaining < best.remaining ||
      (outcome.remaining === best.remaining && outcome.resetAt > best.resetAt)
    ) {
      best = outcome;
    }
  }
  return best;
}

/** Of the policies that denied, the one with the longest wait. */
function longestDenial(outcomes: readonly PolicyOutcome[]): PolicyOutcome | undefined {
  let best: PolicyOutcome | undefined;
  for (const outcome of outcomes) {
    if (!outcome.allowed && (best === undefined || outcome.retryAfterMs > best.retryAfterMs)) best = outcome;
  }
  return best;
}

/** `Retry-After` value: whole seconds, rounded up, at least 1 (SPEC section 2). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function rateLimitHeaders(outcome: PolicyOutcome | undefined): Record<string, string> {
  if (outcome === undefined) return {};
  return {
    'X-RateLimit-Limit': String(outcome.limit),
    'X-RateLimit-Remaining': String(outcome.remaining),
    'X-RateLimit-Reset': String(Math.ceil(outcome.resetAt / 1000)),
  };
}

/** ISO 8601 in UTC to the second, as in the SPEC's example (`2025-01-21T10:00:00Z`). */
export function isoTimestamp(now: number): string {
  return `${new Date(now).toISOString().slice(0, 19)}Z`;
}

export function errorBody(
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>> | undefined,
  requestId: string,
  now: number,
): ErrorBody {
  return {
    error: {
      code,
      message,
      ...(details === undefined ? {} : { details }),
      requestId,
      timestamp: isoTimestamp(now),
    },
  };
}

export interface DecisionParts {
  readonly tier: string | undefined;
  readonly outcomes: readonly PolicyOutcome[];
  /** Set when the store failed and the outcomes come from the in-process fallback. */
  readonly degraded?: 'local' | 'open' | undefined;
  readonly identity?: string | undefined;
  readonly limits?: ResolvedTier | undefined;
}

function decision(
  parts: DecisionParts,
  reported: PolicyOutcome | undefined,
  fields: Pick<Decision, 'allowed' | 'status' | 'code' | 'retryAfterMs' | 'headers' | 'body'>,
): Decision {
  const headers =
    parts.degraded === undefined ? fields.headers : { ...fields.headers, 'X-RateLimit-Degraded': parts.degraded };
  return {
    ...fields,
    headers,
    degraded: parts.degraded,
    identity: parts.identity,
    limits: parts.limits,
    tier: parts.tier,
    policy: reported,
    policies: parts.outcomes,
    limit: reported?.limit ?? 0,
    remaining: reported?.remaining ?? 0,
    resetAt: reported?.resetAt ?? 0,
    skipped: false,
  };
}

/** An admitted request: headers of the policy closest to exhaustion. */
export function allowedDecision(parts: DecisionParts): Decision {
  const reported = closestToExhaustion(parts.outcomes);
  return decision(parts, reported, {
    allowed: true,
    status: 200,
    code: undefined,
    retryAfterMs: 0,
    headers: rateLimitHeaders(reported),
    body: undefined,
  });
}

/** A 429: headers, Retry-After and body of the denying policy with the longest wait. */
export function limitedDecision(parts: DecisionParts, context: RenderContext): Decision {
  const reported = longestDenial(parts.outcomes) as PolicyOutcome;
  const retryAfter = retryAfterSeconds(reported.retryAfterMs);
  const requestId = context.requestId();
  return decision(parts, reported, {
    allowed: false,
    status: 429,
    code: 'RATE_LIMITED',
    retryAfterMs: reported.retryAfterMs,
    headers: {
      ...rateLimitHeaders(reported),
      'Retry-After': String(retryAfter),
      'Cache-Control': 'no-store',
      'X-Request-Id': requestId,
    },
    body: errorBody(
      'RATE_LIMITED',
      `Rate limit exceeded. Retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`,
      { limit: reported.limit, window: describeDuration(reported.windowMs), retryAfter, policy: reported.policy },
      requestId,
      context.now,
    ),
  });
}

/** Any other refusal (400, 401, 413, 503): the JSON error shape, with the headers of `reported` if any. */
export function refusedDecision(
  parts: DecisionParts,
  context: RenderContext,
  refusal: {
    readonly status: number;
    readonly code: string;
    readonly message: string;
    readonly details?: Readonly<Record<string, unknown>> | undefined;
    readonly reported?: PolicyOutcome | undefined;
    readonly retryAfterMs?: number;
  },
): Decision {
  const reported = refusal.reported ?? closestToExhaustion(parts.outcomes);
  const requestId = context.requestId();
  const headers: Record<string, string> = {
    ...rateLimitHeaders(reported),
    'Cache-Control': 'no-store',
    'X-Request-Id': requestId,
  };
  if (refusal.retryAfterMs !== undefined) headers['Retry-After'] = String(retryAfterSeconds(refusal.retryAfterMs));
  return decision(parts, reported, {
    allowed: false,
    status: refusal.status,
    code: refusal.code,
    retryAfterMs: refusal.retryAfterMs ?? 0,
    headers,
    body: errorBody(refusal.code, refusal.message, refusal.details, requestId, context.now),
  });
}
