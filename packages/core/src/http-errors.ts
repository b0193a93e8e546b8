/**
 * Renders client errors raised before or around the limiter (a body that is not JSON, a
 * body too large, a RequestError) in the same JSON error shape as a 429, so clients parse
 * one format. Framework body parsers signal them with a 4xx `status` or `statusCode`
 * (body-parser and co-body via http-errors, Fastify via FST_ERR_CTP_* errors).
 */
import type { ErrorBody } from './decision.js';
import { isRequestError } from './errors.js';
import type { RequestHeaders } from './identity.js';
import { requestIdFrom } from './request-id.js';
import { errorBody } from './response.js';

/** A rendered error response. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ErrorBody;
}

const BY_STATUS: Readonly<Record<number, readonly [code: string, message: string]>> = {
  400: ['BAD_REQUEST', 'The request could not be understood.'],
  413: ['PAYLOAD_TOO_LARGE', 'The request body is too large.'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type; send application/json.'],
};

function statusOf(error: unknown): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : statusCode;
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 499 ? value : undefined;
}

function isJsonParseError(error: object): boolean {
  const { type, code, name } = error as { type?: unknown; code?: unknown; name?: unknown };
  return (
    type === 'entity.parse.failed' ||
    code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    name === 'SyntaxError'
  );
}

/**
 * The JSON error response for a client error (any error carrying a 4xx status, or a
 * RequestError), or `undefined` for anything else, which should go on to the framework's
 * own error handling. Messages are generic: a parser's message can quote the body.
 */
export function errorResponse(
  error: unknown,
  headers: RequestHeaders,
  options: { readonly requestIdHeader?: string; readonly now?: number } = {},
): ErrorResponse | undefined {
  let status: number;
  let code: string;
  let message: string;
  let details: Readonly<Record<string, unknown>> | undefined;
  if (isRequestError(error)) {
    ({ status, code, message, details } = error);
  } else {
    const found = statusOf(error);
    if (found === undefined) return undefined;
    status = found;
    if (found === 400 && isJsonParseError(error as object)) {
      [code, message] = ['INVALID_JSON', 'The request body is not valid JSON.'];
    } else {
      [code, message] = BY_STATUS[found] ?? ['BAD_REQUEST', 'The request was rejected.'];
    }
  }
  const requestId = requestIdFrom(headers, options.requestIdHeader ?? 'x-request-id');
  return {
    status,
    headers: { 'Cache-Control': 'no-store', 'X-Request-Id': requestId },
    body: errorBody(code, message, details, requestId, options.now ?? Date.now()),
  };
}
