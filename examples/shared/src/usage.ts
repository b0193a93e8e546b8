/**
 * `GET /api/v1/usage`, the same on every demo: where the caller's API key stands on every
 * limit of its plan, remaining and reset per limit (SPEC 5b: "a customer can read where
 * they stand without being charged"). The adapters mount it with `policy: false`, so the
 * request is charged to the per-IP limit only and reading usage costs none of the quota it
 * reports; the limiter has already answered a missing or unknown key with 401.
 */
import { errorBody, type RateLimiter, type RequestHeaders, requestIdFrom, TierlimitError } from '@tierlimit/core';
import { apiKeyOf } from './api-key.js';

/** A response for an adapter to write as it is: status, headers, JSON body. */
export interface DemoResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/**
 * The usage page of the request with these `headers`: 200 with `limiter.usage(key)`, or an
 * error in the SPEC's JSON shape. Never rejects, so an adapter needs no error handling
 * (Express 4 does not catch a rejected handler).
 */
export async function usageResponse(limiter: RateLimiter, headers: RequestHeaders): Promise<DemoResponse> {
  try {
    const usage = await limiter.usage(apiKeyOf(headers));
    if (usage !== null) return { status: 200, headers: { 'Cache-Control': 'no-store' }, body: usage };
    // The limiter admitted the key a moment ago; the resolver no longer knows it.
    return failure(headers, 401, 'UNAUTHORIZED', 'Invalid API key.');
  } catch (error) {
    // usage() rejects with a StoreError when the store does not answer in time, or with
    // what the store or the resolver threw: an outage either way, so a 503 (a usage figure
    // is never guessed). An error that is not tierlimit's own is logged here, for the
    // operator; the client never sees it.
    if (!(error instanceof TierlimitError)) console.error('GET /api/v1/usage failed', error);
    return failure(headers, 503, 'SERVICE_UNAVAILABLE', 'Usage is temporarily unavailable. Retry shortly.', {
      'Retry-After': '1',
    });
  }
}

function failure(
  headers: RequestHeaders,
  status: number,
  code: string,
  message: string,
  extra: Readonly<Record<string, string>> = {},
): DemoResponse {
  // `x-request-id` is the limiter's `requestIdHeader`: the demos keep the default.
  const requestId = requestIdFrom(headers, 'x-request-id');
  return {
    status,
    headers: { 'Cache-Control': 'no-store', 'X-Request-Id': requestId, ...extra },
    body: errorBody(code, message, undefined, requestId, Date.now()),
  };
}
