/**
 * Renders outcomes into a Decision: headers and body exactly as SPEC section 2 says, plus
 * the opt-in forms (IETF RateLimit fields, RFC 9457 problem details). Headers are plain
 * data (a record of strings) so every adapter writes them with its own API; nothing here
 * knows a framework.
 */

import type { Decision, ErrorBody, PolicyOutcome, ProblemBody } from './decision.js';
import { describeDuration } from './duration.js';
import type { ResolvedTier } from './limits.js';
import type { Charge } from './pipeline/charges.js';
import { type StandardHeaders, standardHeaders } from './standard-headers.js';
import type { ConsumeResult } from './store.js';

/** How decisions are put on the wire; resolved once from the limiter's options. */
export interface RenderOptions {
  /** Send `X-RateLimit-Limit/Remaining/Reset`. */
  readonly legacyHeaders: boolean;
  /** Also send the IETF fields in this form. */
  readonly standardHeaders: StandardHeaders | undefined;
  /** `json`: the SPEC's `{ error: {...} }`; `problem`: RFC 9457 `application/problem+json`. */
  readonly errorFormat: 'json' | 'problem';
}

export const DEFAULT_RENDER: RenderOptions = { legacyHeaders: true, standardHeaders: undefined, errorFormat: 'json' };

/** What rendering needs to know about the request beyond its outcomes. */
export interface RenderContext {
  /** Current time, ms since the epoch (limiter clock). */
  readonly now: number;
  /** Request id for error bodies; called only when a body is rendered. */
  readonly requestId: () => string;
  readonly render: RenderOptions;
}

/**
 * The limit closest to exhaustion among enforced ones: fewest units left, then the later
 * reset. Concurrency limits count only when nothing else applies: slots in use say nothing
 * of how many more requests a window will take.
 */
export function closestToExhaustion(outcomes: readonly PolicyOutcome[]): PolicyOutcome | undefined {
  return closest(outcomes, false) ?? closest(outcomes, true);
}

function closest(outcomes: readonly PolicyOutcome[], slots: boolean): PolicyOutcome | undefined {
  let best: PolicyOutcome | undefined;
  for (const outcome of outcomes) {
    if (outcome.shadow || (outcome.algorithm === 'concurrency') !== slots) continue;
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

/** Of the enforced policies that denied, the one with the longest wait. */
function longestDenial(outcomes: readonly PolicyOutcome[]): PolicyOutcome | undefined {
  let best: PolicyOutcome | undefined;
  for (const outcome of outcomes) {
    if (outcome.shadow || outcome.allowed) continue;
    if (best === undefined || outcome.retryAfterMs > best.retryAfterMs) best = outcome;
  }
  return best;
}

/** `Retry-After` value: whole seconds, rounded up, at least 1 (SPEC section 2). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** ISO 8601 in UTC to the second, as in the SPEC's example (`2025-01-21T10:00:00Z`). */
export function isoTimestamp(now: number): string {
  return `${new Date(now).toISOString().slice(0, 19)}Z`;
}

/** The SPEC's JSON error body. */
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

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * RFC 9457 problem details for the same error: `type` `about:blank` (so `title` is the
 * status phrase), `detail` the message, and tierlimit's fields as extension members.
 */
export function problemBody(
  status: number,
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>> | undefined,
  requestId: string,
  now: number,
): ProblemBody {
  return {
    type: 'about:blank',
    title: TITLES[status] ?? 'Error',
    status,
    detail: message,
    code,
    ...details,
    requestId,
    timestamp: isoTimestamp(now),
  };
}

/** Concurrency slots a request holds (see `Decision.release`). */
export interface Held {
  /** True until they are given back. */
  readonly live: boolean;
  /** Gives them back, once. */
  release(): void;
}

export interface DecisionParts {
  readonly tier: string | undefined;
  readonly outcomes: readonly PolicyOutcome[];
  /** What was charged for each outcome (same order); its `identity` keys the IETF partition keys. */
  readonly charges?: readonly Charge[] | undefined;
  /** Set when the store failed and the outcomes come from the in-process fallback. */
  readonly degraded?: 'local' | 'open' | undefined;
  readonly identity?: string | undefined;
  readonly limits?: ResolvedTier | undefined;
  // What a later mount of the same limiter needs for the same request (see RequestFacts.prior):
  /** The limiter that decided. */
  readonly owner?: object | undefined;
  /** What this decision's store call charged (a later mount's call charges only what is left). */
  readonly charged?: readonly Charge[] | undefined;
  /** The answer to that call, for a refund. */
  readonly result?: ConsumeResult | undefined;
  /** The answer came from the local fallback, which then holds the charge. */
  readonly local?: boolean | undefined;
  /** The parts of the earlier mount's decision for this request. */
  readonly previous?: DecisionParts | undefined;
  /** The concurrency slots the request holds, its earlier mounts' included. */
  readonly held?: Held | undefined;
}

/** The parts a decision of this package was made from; `undefined` for SKIPPED, PASSED or a foreign object. */
export function decisionParts(decision: Decision): DecisionParts | undefined {
  return MadeDecision.partsOf(decision);
}

/**
 * The last number rendered by {@link text} for each slot: a limit and a reset second
 * repeat from one request to the next, so their strings are kept rather than rebuilt.
 */
const lastNumbers = [Number.NaN, Number.NaN];
const lastTexts = ['', ''];

/** `String(value)`, remembered for the next call with the same value in the same slot. */
function text(slot: 0 | 1, value: number): string {
  if (lastNumbers[slot] !== value) {
    lastNumbers[slot] = value;
    lastTexts[slot] = String(value);
  }
  return lastTexts[slot] as string;
}

function limitHeaders(
  parts: DecisionParts,
  reported: PolicyOutcome | undefined,
  context: RenderContext,
): Record<string, string> {
  const { render } = context;
  if (
    reported !== undefined &&
    render.legacyHeaders &&
    render.standardHeaders === undefined &&
    parts.degraded === undefined &&
    !anyShadowDenied(parts.outcomes)
  ) {
    // The usual case, as one literal (one allocation, one hidden class).
    return {
      'X-RateLimit-Limit': text(0, reported.limit),
      'X-RateLimit-Remaining': String(reported.remaining),
      'X-RateLimit-Reset': text(1, Math.ceil(reported.resetAt / 1000)),
    };
  }
  const headers: Record<string, string> = {};
  if (reported !== undefined) {
    if (render.legacyHeaders) {
      headers['X-RateLimit-Limit'] = text(0, reported.limit);
      headers['X-RateLimit-Remaining'] = String(reported.remaining);
      headers['X-RateLimit-Reset'] = text(1, Math.ceil(reported.resetAt / 1000));
    }
    if (render.standardHeaders !== undefined) {
      const enforced: PolicyOutcome[] = [];
      const identities: string[] = [];
      parts.outcomes.forEach((outcome, i) => {
        if (outcome.shadow) return;
        enforced.push(outcome);
        identities.push(parts.charges?.[i]?.identity ?? '');
      });
      Object.assign(headers, standardHeaders(render.standardHeaders, reported, enforced, identities, context.now));
    }
  }
  let shadowed: string | undefined;
  for (const outcome of parts.outcomes) {
    if (outcome.shadow && !outcome.allowed)
      shadowed = shadowed === undefined ? outcome.name : `${shadowed}, ${outcome.name}`;
  }
  if (shadowed !== undefined) headers['X-RateLimit-Shadow'] = shadowed;
  if (parts.degraded !== undefined) headers['X-RateLimit-Degraded'] = parts.degraded;
  return headers;
}

function anyShadowDenied(outcomes: readonly PolicyOutcome[]): boolean {
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i] as PolicyOutcome;
    if (outcome.shadow && !outcome.allowed) return true;
  }
  return false;
}

/**
 * A decision as the engine makes it: the public `Decision` fields, plus, in a private
 * field (not enumerable, not in JSON), the parts it was made from, which a later mount of
 * the same limiter reads (see `RequestFacts.prior`). A class rather than a literal with a
 * symbol key: every field is in the object itself, one shape for every decision, and no
 * property is added after it is built.
 */
class MadeDecision implements Decision {
  readonly allowed: boolean;
  readonly status: number;
  readonly code: string | undefined;
  readonly tier: string | undefined;
  readonly identity: string | undefined;
  readonly limits: ResolvedTier | undefined;
  readonly policy: PolicyOutcome | undefined;
  readonly policies: readonly PolicyOutcome[];
  readonly limit: number;
  readonly remaining: number;
  readonly resetAt: number;
  readonly retryAfterMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ErrorBody | ProblemBody | undefined;
  readonly skipped: boolean;
  readonly degraded: 'local' | 'open' | undefined;
  readonly #parts: DecisionParts;

  get inFlight(): boolean {
    return this.#parts.held?.live === true;
  }

  release(): void {
    this.#parts.held?.release();
  }

  constructor(
    parts: DecisionParts,
    reported: PolicyOutcome | undefined,
    allowed: boolean,
    status: number,
    code: string | undefined,
    retryAfterMs: number,
    headers: Readonly<Record<string, string>>,
    body: ErrorBody | ProblemBody | undefined,
  ) {
    this.allowed = allowed;
    this.status = status;
    this.code = code;
    this.tier = parts.tier;
    this.identity = parts.identity;
    this.limits = parts.limits;
    this.policy = reported;
    this.policies = parts.outcomes;
    this.limit = reported === undefined ? 0 : reported.limit;
    this.remaining = reported === undefined ? 0 : reported.remaining;
    this.resetAt = reported === undefined ? 0 : reported.resetAt;
    this.retryAfterMs = retryAfterMs;
    this.headers = headers;
    this.body = body;
    this.skipped = false;
    this.degraded = parts.degraded;
    this.#parts = parts;
  }

  static partsOf(decision: Decision): DecisionParts | undefined {
    return #parts in decision ? (decision as MadeDecision).#parts : undefined;
  }
}

/** An admitted request: headers of the (enforced) policy closest to exhaustion. */
export function allowedDecision(parts: DecisionParts, context: RenderContext): Decision {
  const reported = closestToExhaustion(parts.outcomes);
  return new MadeDecision(parts, reported, true, 200, undefined, 0, limitHeaders(parts, reported, context), undefined);
}

/** The error part of a refused decision: headers for the body and the body itself, in the configured format. */
function refusal(
  context: RenderContext,
  status: number,
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>> | undefined,
): { headers: Record<string, string>; body: ErrorBody | ProblemBody } {
  const requestId = context.requestId();
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'X-Request-Id': requestId };
  if (context.render.errorFormat === 'problem') {
    headers['Content-Type'] = 'application/problem+json';
    return { headers, body: problemBody(status, code, message, details, requestId, context.now) };
  }
  return { headers, body: errorBody(code, message, details, requestId, context.now) };
}

/**
 * A 429: headers, Retry-After and body of the denying policy with the longest wait. A
 * suspended caller gets the distinct `SUSPENDED` code and message (SPEC section 3).
 */
export function limitedDecision(parts: DecisionParts, context: RenderContext): Decision {
  const reported = longestDenial(parts.outcomes) as PolicyOutcome;
  const retryAfter = retryAfterSeconds(reported.retryAfterMs);
  const wait = `Retry after ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`;
  const code = reported.suspended ? 'SUSPENDED' : 'RATE_LIMITED';
  const slots = reported.algorithm === 'concurrency';
  const message = reported.suspended
    ? `Temporarily suspended for sending requests after being rate limited. ${wait}`
    : slots
      ? `Too many requests in flight: at most ${reported.limit} at once. ${wait}`
      : `Rate limit exceeded. ${wait}`;
  const details = reported.suspended
    ? { policy: reported.name, retryAfter, suspendedUntil: isoTimestamp(context.now + retryAfter * 1000) }
    : slots
      ? { limit: reported.limit, inFlight: true, retryAfter, policy: reported.name }
      : { limit: reported.limit, window: windowText(reported), retryAfter, policy: reported.name };
  const error = refusal(context, 429, code, message, details);
  const headers = { ...limitHeaders(parts, reported, context), 'Retry-After': String(retryAfter), ...error.headers };
  return new MadeDecision(parts, reported, false, 429, code, reported.retryAfterMs, headers, error.body);
}

/** The window of a 429 body: "1 minute", or for a calendar quota its period ("1 month"). */
function windowText(outcome: PolicyOutcome): string {
  return outcome.per === undefined ? describeDuration(outcome.windowMs) : `1 ${outcome.per}`;
}

/** Any other refusal (400, 401, 413, 503): the error body, with the headers of `reported` if any. */
export function refusedDecision(
  parts: DecisionParts,
  context: RenderContext,
  refused: {
    readonly status: number;
    readonly code: string;
    readonly message: string;
    readonly details?: Readonly<Record<string, unknown>> | undefined;
    readonly reported?: PolicyOutcome | undefined;
    readonly retryAfterMs?: number;
  },
): Decision {
  const reported = refused.reported ?? closestToExhaustion(parts.outcomes);
  const error = refusal(context, refused.status, refused.code, refused.message, refused.details);
  const headers = { ...limitHeaders(parts, reported, context), ...error.headers };
  if (refused.retryAfterMs !== undefined) headers['Retry-After'] = String(retryAfterSeconds(refused.retryAfterMs));
  return new MadeDecision(
    parts,
    reported,
    false,
    refused.status,
    refused.code,
    refused.retryAfterMs ?? 0,
    headers,
    error.body,
  );
}
