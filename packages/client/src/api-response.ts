/**
 * Reading the events API's answers: JSON bodies and the JSON error shape
 * (`{"error": {"code", "message", "details", "requestId", "timestamp"}}`, SPEC section 2),
 * tolerating bodies that are not JSON (a proxy's HTML 502 page) without throwing.
 */
import { ApiError } from './errors.js';

/** The parsed JSON body, or `undefined` when it is empty or not JSON. */
export async function readJson(response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** An ApiError for an error response, with the body's code, message, details and request id when present. */
export async function apiErrorFrom(response: Response): Promise<ApiError> {
  const error = record(record(await readJson(response))?.error);
  const code = typeof error?.code === 'string' && error.code.length > 0 ? error.code : `HTTP_${response.status}`;
  const message =
    typeof error?.message === 'string' && error.message.length > 0
      ? error.message
      : `The API answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`;
  const requestId =
    typeof error?.requestId === 'string' ? error.requestId : (response.headers.get('x-request-id') ?? undefined);
  return new ApiError(response.status, code, message, { details: record(error?.details), requestId });
}

/** A non-negative integer field of a JSON object, else `undefined`. */
export function countField(body: unknown, field: string): number | undefined {
  const value = record(body)?.[field];
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
