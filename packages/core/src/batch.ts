import { RequestError } from './errors.js';

/**
 * The number of items in `body[field]`, for use as a route's cost (a batch of N events
 * costs N, SPEC section 1). Throws a RequestError, rendered as 400 `INVALID_BATCH`, when
 * the body is not an object or the field is not a non-empty array, so bad input never
 * reaches the limiter as a wrong cost.
 *
 * @example
 * app.post('/events/batch', rateLimit(limiter, { policy: 'events', cost: (req) => batchSize(req.body) }), handler)
 */
export function batchSize(body: unknown, field = 'events'): number {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RequestError(400, 'INVALID_BATCH', `Expected a JSON object with an \`${field}\` array.`);
  }
  const items = (body as Record<string, unknown>)[field];
  if (!Array.isArray(items)) {
    throw new RequestError(400, 'INVALID_BATCH', `Expected \`${field}\` to be an array, got ${typeName(items)}.`);
  }
  if (items.length === 0) {
    throw new RequestError(400, 'INVALID_BATCH', `Expected \`${field}\` to contain at least one item.`);
  }
  return items.length;
}

function typeName(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
