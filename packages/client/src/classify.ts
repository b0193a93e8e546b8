/**
 * What is worth retrying. A retry is only useful when the same request can succeed
 * later: the server was busy (429, 503), failed transiently (5xx), or the request never
 * got a clean answer (a network error or a timeout). Any other 4xx is the request's own
 * fault and fails identically every time.
 */

/** A fetch `Response` or anything shaped like one (undici, node-fetch, a polyfill from another realm). */
export function isResponseLike(value: unknown): value is Response {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { status?: unknown }).status === 'number' &&
    typeof (value as { headers?: { get?: unknown } }).headers?.get === 'function'
  );
}

/**
 * 408 Request Timeout, 429 Too Many Requests, and every 5xx (SPEC section 5: retry 429,
 * 5xx and network errors, never another 4xx). 501 and 505 are retried too, bounded by
 * `retries` like any other: a gateway in front of the API can send them transiently.
 * Opt out per status with `shouldRetry`.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * Messages of the TypeError that `fetch` rejects with on a network failure, by runtime.
 * A TypeError is also what a plain bug throws, so the message is checked rather than
 * retrying every TypeError.
 */
const FETCH_NETWORK_MESSAGES = new Set([
  'fetch failed', // Node (undici)
  'terminated', // Node (undici), connection closed mid-body
  'Failed to fetch', // Chromium
  'network error', // Chromium, body errors
  'NetworkError when attempting to fetch resource.', // Firefox
  'Load failed', // Safari 17+
  'The Internet connection appears to be offline.', // Safari 16
  'The network connection was lost.', // Safari
  'Network request failed', // React Native, whatwg-fetch
]);

/** Socket-level error codes (Node core and undici) that mean "no clean answer", worth another try. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * True for errors that mean the request got no clean answer: fetch's network TypeError,
 * a socket error code (on the error or its `cause`, where undici puts it), or a
 * `TimeoutError` (what `AbortSignal.timeout()` and the per-attempt timeout abort with).
 * An `AbortError` is not: someone chose to cancel.
 */
export function isNetworkError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, message, code, cause } = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    cause?: unknown;
  };
  if (name === 'TimeoutError') return true;
  if (name === 'AbortError') return false;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  // By name, not instanceof: a fetch from another realm (an iframe, a test VM) throws another realm's TypeError.
  if (name === 'TypeError' && typeof message === 'string' && FETCH_NETWORK_MESSAGES.has(message)) return true;
  const causeCode = (cause as { code?: unknown } | null | undefined)?.code;
  return typeof causeCode === 'string' && NETWORK_CODES.has(causeCode);
}
