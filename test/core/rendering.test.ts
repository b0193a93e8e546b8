import { batchSize, describeDuration, errorResponse, RequestError, retryAfterSeconds } from '@tierlimit/core';

describe('describeDuration', () => {
  test.each([
    [60_000, '1 minute'],
    [120_000, '2 minutes'],
    [1_000, '1 second'],
    [6_000, '6 seconds'],
    [90_000, '90 seconds'],
    [3_600_000, '1 hour'],
    [86_400_000, '1 day'],
    [1_500, '1500 milliseconds'],
    [250, '250 milliseconds'],
  ])('%i ms is "%s"', (ms, text) => {
    expect(describeDuration(ms)).toBe(text);
  });
});

describe('retryAfterSeconds', () => {
  test.each([
    [0, 1],
    [1, 1],
    [999, 1],
    [1_000, 1],
    [1_001, 2],
    [59_500, 60],
  ])('%i ms waits %i s (whole seconds, rounded up, at least 1)', (ms, seconds) => {
    expect(retryAfterSeconds(ms)).toBe(seconds);
  });
});

describe('errorResponse', () => {
  const now = Date.UTC(2025, 0, 21, 10, 0, 0);

  test('a body-parser JSON error becomes 400 INVALID_JSON without quoting the body', () => {
    const error = Object.assign(new SyntaxError('Unexpected token s in JSON at position 9: {"secret'), {
      status: 400,
      type: 'entity.parse.failed',
    });
    const response = errorResponse(error, { 'x-request-id': 'abc' }, { now });
    expect(response).toEqual({
      status: 400,
      headers: { 'Cache-Control': 'no-store', 'X-Request-Id': 'abc' },
      body: {
        error: {
          code: 'INVALID_JSON',
          message: 'The request body is not valid JSON.',
          requestId: 'abc',
          timestamp: '2025-01-21T10:00:00Z',
        },
      },
    });
  });

  test.each([
    [{ statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }, 400, 'INVALID_JSON'],
    [{ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }, 413, 'PAYLOAD_TOO_LARGE'],
    [{ status: 413, type: 'entity.too.large' }, 413, 'PAYLOAD_TOO_LARGE'],
    [{ statusCode: 415 }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [{ status: 404 }, 404, 'BAD_REQUEST'],
    [new RequestError(422, 'INVALID_EVENT', 'Bad event.', { index: 3 }), 422, 'INVALID_EVENT'],
  ])('%p becomes %i %s', (error, status, code) => {
    const response = errorResponse(error, {});
    expect(response?.status).toBe(status);
    expect(response?.body.error.code).toBe(code);
    expect(response?.body.error.requestId).toMatch(/^req-/);
  });

  test.each([new Error('boom'), { status: 500 }, { statusCode: 503 }, null, 'text', 42])(
    '%p is not a client error and is left to the framework',
    (error) => {
      expect(errorResponse(error, {})).toBeUndefined();
    },
  );
});

describe('batchSize', () => {
  test('counts a non-empty array', () => {
    expect(batchSize({ events: [{}, {}, {}] })).toBe(3);
    expect(batchSize({ items: [1] }, 'items')).toBe(1);
  });

  test.each([
    [null, 'Expected a JSON object with an `events` array.'],
    [[1, 2], 'Expected a JSON object with an `events` array.'],
    ['events', 'Expected a JSON object with an `events` array.'],
    [{}, 'Expected `events` to be an array, got nothing.'],
    [{ events: 'x' }, 'Expected `events` to be an array, got a string.'],
    [{ events: { length: 5 } }, 'Expected `events` to be an array, got an object.'],
    [{ events: [] }, 'Expected `events` to contain at least one item.'],
  ])('%p is a 400 INVALID_BATCH: %s', (body, text) => {
    expect(() => batchSize(body)).toThrow(new RequestError(400, 'INVALID_BATCH', text));
    try {
      batchSize(body);
    } catch (error) {
      expect((error as RequestError).status).toBe(400);
      expect((error as RequestError).code).toBe('INVALID_BATCH');
    }
  });

  test('RequestError refuses a non-4xx status', () => {
    expect(() => new RequestError(500, 'X', 'no')).toThrow(/400 to 499/);
  });
});
