import { randomUUID } from 'node:crypto';
import type { RequestHeaders } from './identity.js';

/** Characters a request id may carry: safe in a header, a log line and JSON without escaping. */
const REQUEST_ID = /^[A-Za-z0-9._:/+=@-]{1,128}$/;

/**
 * The caller's request id from `header` when present and well-formed, else a fresh
 * unique one (`req-<uuid>`). A malformed incoming id is replaced, never echoed.
 */
export function requestIdFrom(headers: RequestHeaders, header: string): string {
  const incoming = headers[header];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req-${randomUUID()}`;
}
