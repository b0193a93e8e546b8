import type { RequestHeaders } from '@tierlimit/core';

/** The API key of a request the limiter admitted (so it is present and well-formed). */
export function apiKeyOf(headers: RequestHeaders): string {
  // `x-api-key` is the limiter's `apiKeyHeader`: the demos keep the default.
  return String(headers['x-api-key']);
}
