/**
 * withRetry: what is retried and what is not, how long it waits (backoff with full
 * jitter, or Retry-After, never shortened), the fail-fast limit on Retry-After, aborts,
 * attempt timeouts and the onRetry hook. Time is virtual: nothing sleeps for real.
 */
import { RetryAfterTooLongError, type RetryInfo, type RetryOptions, withRetry } from '@tierlimit/client';
import { VirtualTime } from './support/virtual-time';

function response(status: number, headers: Record<string, string> = {}, body = ''): Response {
  return new Response(status === 204 || status === 304 ? null : body, { status, headers });
}

/** A fn that answers from a script, one entry per attempt; records attempts. */
function scripted(...steps: unknown[]) {
  const calls: number[] = [];
  const fn = async ({ attempt }: { attempt: number }): Promise<Response> => {
    calls.push(attempt);
    const step = steps[Math.min(attempt, steps.length) - 1];
    // Not instanceof Response: jest's VM realm and Node's fetch classes differ; anything else is thrown.
    if (typeof (step as { status?: unknown }).status === 'number') return step as Response;
    throw step;
  };
  return { fn, calls };
}

function setup(extra: Partial<RetryOptions> = {}) {
  const time = new VirtualTime();
  const retries: RetryInfo[] = [];
  const options: RetryOptions = {
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
    onRetry: (info) => retries.push(info),
    ...extra,
  };
  return { time, retries, options };
}

describe('what is retried', () => {
  test.each([429, 408, 500, 501, 502, 503, 504, 505, 599])('HTTP %i is retried', async (status) => {
    const { time, options } = setup();
    const { fn, calls } = scripted(response(status), response(200));
    const result = await time.run(withRetry(fn, options));
    expect(result.status).toBe(200);
    expect(calls).toEqual([1, 2]);
  });

  test.each([200, 201, 204, 301, 400, 401, 403, 404, 409, 413, 422])(
    'HTTP %i is returned as is, never retried',
    async (status) => {
      const { time, options } = setup();
      const { fn, calls } = scripted(response(status), response(200));
      const result = await time.run(withRetry(fn, options));
      expect(result.status).toBe(status);
      expect(calls).toEqual([1]);
    },
  );

  test.each([
    ['undici', Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })],
    ['Chromium', new TypeError('Failed to fetch')],
    ['Firefox', new TypeError('NetworkError when attempting to fetch resource.')],
    ['Safari', new TypeError('Load failed')],
    ['a socket error code', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a cause with a socket code', new Error('request failed', { cause: { code: 'UND_ERR_SOCKET' } })],
    ['a timeout', new DOMException('The operation timed out.', 'TimeoutError')],
  ])('a network error (%s) is retried', async (_, error) => {
    const { time, options } = setup();
    const { fn, calls } = scripted(error, response(200));
    expect((await time.run(withRetry(fn, options))).status).toBe(200);
    expect(calls).toEqual([1, 2]);
  });

  test.each([
    ['a programming TypeError', new TypeError('undefined is not a function')],
    ['an AbortError not from our signal', new DOMException('aborted', 'AbortError')],
    ['a plain Error', new Error('boom')],
    ['a string', 'nope'],
  ])('%s is rethrown at once', async (_, error) => {
    const { time, options } = setup();
    const { fn, calls } = scripted(error, response(200));
    await expect(time.run(withRetry(fn, options))).rejects.toBe(error);
    expect(calls).toEqual([1]);
  });

  test('a non-Response result is a success and is returned as is', async () => {
    const { time, options } = setup();
    const value = { parsed: true };
    await expect(time.run(withRetry(async () => value, options))).resolves.toBe(value);
  });

  test('when retries run out, the last response is returned', async () => {
    const { time, options, retries } = setup({ retries: 2 });
    const { fn, calls } = scripted(response(503), response(503), response(502));
    expect((await time.run(withRetry(fn, options))).status).toBe(502);
    expect(calls).toEqual([1, 2, 3]);
    expect(retries).toHaveLength(2);
  });

  test('when retries run out on errors, the last error is rethrown', async () => {
    const { time, options } = setup({ retries: 1 });
    const last = new TypeError('fetch failed');
    const { fn } = scripted(new TypeError('fetch failed'), last);
    await expect(time.run(withRetry(fn, options))).rejects.toBe(last);
  });

  test('retries: 0 makes one attempt', async () => {
    const { time, options } = setup({ retries: 0 });
    const { fn, calls } = scripted(response(429), response(200));
    expect((await time.run(withRetry(fn, options))).status).toBe(429);
    expect(calls).toEqual([1]);
  });

  test('shouldRetry overrides the classification, undefined keeps it', async () => {
    const { time, options } = setup({
      shouldRetry: ({ response: r }) => (r?.status === 409 ? true : r?.status === 503 ? false : undefined),
    });
    const a = scripted(response(409), response(200));
    expect((await time.run(withRetry(a.fn, options))).status).toBe(200);
    const b = scripted(response(503), response(200));
    expect((await time.run(withRetry(b.fn, options))).status).toBe(503);
    const c = scripted(response(429), response(200));
    expect((await time.run(withRetry(c.fn, options))).status).toBe(200);
  });
});

describe('how long it waits', () => {
  test('exponential backoff with full jitter: uniform below base × 2^(n-1), capped', async () => {
    const { time, options, retries } = setup({ retries: 9, random: () => 0.999_999 });
    const { fn } = scripted(response(500));
    await time.run(withRetry(fn, options));
    expect(retries.map((r) => r.delayMs)).toEqual([999, 1_999, 3_999, 7_999, 15_999, 31_999, 59_999, 59_999, 59_999]);
  });

  test('full jitter can wait nothing at all', async () => {
    const { time, options, retries } = setup({ retries: 3, random: () => 0 });
    await time.run(withRetry(scripted(response(500)).fn, options));
    expect(retries.map((r) => r.delayMs)).toEqual([0, 0, 0]);
  });

  test('base and cap are configurable', async () => {
    const { time, options, retries } = setup({ retries: 4, random: () => 0.5, baseDelayMs: 100, maxDelayMs: 300 });
    await time.run(withRetry(scripted(response(500)).fn, options));
    expect(retries.map((r) => r.delayMs)).toEqual([50, 100, 150, 150]);
  });

  test('Retry-After in seconds wins over the backoff and is never shortened', async () => {
    const { time, options, retries } = setup({ random: () => 0 });
    const { fn } = scripted(response(429, { 'Retry-After': '7' }), response(200));
    const started = time.now();
    await time.run(withRetry(fn, options));
    expect(retries[0]).toMatchObject({ delayMs: 7_000, retryAfterMs: 7_000, status: 429 });
    expect(time.now() - started).toBe(7_000);
  });

  test('jitter on a Retry-After is only ever added, up to retryAfterJitterMs', async () => {
    const { time, options, retries } = setup({ random: () => 0.5, retryAfterJitterMs: 1_000 });
    await time.run(withRetry(scripted(response(503, { 'Retry-After': '2' }), response(200)).fn, options));
    expect(retries[0]?.delayMs).toBe(2_500);
  });

  test('Retry-After as an HTTP date', async () => {
    const { time, options, retries } = setup({ random: () => 0 });
    const at = new Date(time.now() + 42_000).toUTCString();
    await time.run(withRetry(scripted(response(429, { 'Retry-After': at }), response(200)).fn, options));
    expect(retries[0]?.delayMs).toBe(42_000);
  });

  test('an HTTP-date Retry-After is measured against the response Date (server clock)', async () => {
    const { time, options, retries } = setup({ random: () => 0 });
    const serverNow = time.now() - 300_000; // the server's clock is 5 minutes behind ours
    const headers = {
      'Retry-After': new Date(serverNow + 10_000).toUTCString(),
      Date: new Date(serverNow).toUTCString(),
    };
    await time.run(withRetry(scripted(response(429, headers), response(200)).fn, options));
    expect(retries[0]?.delayMs).toBe(10_000);
  });

  test('an invalid Retry-After falls back to backoff', async () => {
    const { time, options, retries } = setup({ random: () => 0.5 });
    await time.run(withRetry(scripted(response(429, { 'Retry-After': 'soon' }), response(200)).fn, options));
    expect(retries[0]).toMatchObject({ delayMs: 500, retryAfterMs: undefined });
  });

  test('a Retry-After beyond maxRetryAfterMs fails fast with a named error carrying the response and the wait', async () => {
    const { time, options } = setup({ maxRetryAfterMs: 60_000 });
    const tooLong = response(429, { 'Retry-After': '3600' });
    const { fn, calls } = scripted(tooLong, response(200));
    const error = await time.run(withRetry(fn, options)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryAfterTooLongError);
    expect(error).toMatchObject({ code: 'RETRY_AFTER_TOO_LONG', waitMs: 3_600_000, maxRetryAfterMs: 60_000 });
    expect((error as RetryAfterTooLongError).response).toBe(tooLong);
    expect(calls).toEqual([1]);
    expect(time.sleeps).toEqual([]);
  });

  test('a Retry-After exactly at the maximum is honoured', async () => {
    const { time, options } = setup({ maxRetryAfterMs: 5_000, random: () => 0 });
    const result = await time.run(
      withRetry(scripted(response(503, { 'Retry-After': '5' }), response(200)).fn, options),
    );
    expect(result.status).toBe(200);
  });
});

describe('onRetry', () => {
  test('receives the attempt, the delay, and the reason as status or error', async () => {
    const { time, options, retries } = setup({ random: () => 0.5 });
    const networkError = new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
    const limited = response(429, { 'Retry-After': '1' });
    await time.run(withRetry(scripted(limited, networkError, response(200)).fn, { ...options, retryAfterJitterMs: 0 }));
    expect(retries).toEqual([
      {
        attempt: 1,
        delayMs: 1_000,
        reason: 'HTTP 429',
        status: 429,
        error: undefined,
        response: limited,
        retryAfterMs: 1_000,
      },
      {
        attempt: 2,
        delayMs: 1_000,
        reason: 'TypeError: fetch failed (ECONNRESET)',
        status: undefined,
        error: networkError,
        response: undefined,
        retryAfterMs: undefined,
      },
    ]);
  });

  test('if it throws, withRetry rejects with that error and does not retry', async () => {
    const { time, options } = setup();
    const veto = new Error('veto');
    const { fn, calls } = scripted(response(503), response(200));
    await expect(
      time.run(
        withRetry(fn, {
          ...options,
          onRetry: () => {
            throw veto;
          },
        }),
      ),
    ).rejects.toBe(veto);
    expect(calls).toEqual([1]);
  });

  test('the body of a response that is retried is cancelled, freeing its connection', async () => {
    const { time, options } = setup();
    let cancelled = false;
    const body = new ReadableStream({
      cancel() {
        cancelled = true;
      },
    });
    await time.run(withRetry(scripted(new Response(body, { status: 503 }), response(200)).fn, options));
    expect(cancelled).toBe(true);
  });
});

describe('aborting', () => {
  test('an abort during a wait rejects promptly with the signal reason', async () => {
    const { time, options } = setup();
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const { fn, calls } = scripted(response(503, { 'Retry-After': '60' }), response(200));
    const promise = withRetry(fn, { ...options, signal: controller.signal });
    await time.settle(); // the first attempt runs and the wait starts
    expect(time.pendingTimers).toBe(1);
    controller.abort(reason);
    await expect(promise).rejects.toBe(reason);
    expect(calls).toEqual([1]);
    expect(time.pendingTimers).toBe(0);
  });

  test('an abort during a wait rejects promptly even if the injected sleep ignores signals', async () => {
    const controller = new AbortController();
    let sleeping = false;
    const promise = withRetry(scripted(response(503), response(200)).fn, {
      signal: controller.signal,
      sleep: () => {
        sleeping = true;
        return new Promise(() => {});
      },
    });
    while (!sleeping) await new Promise((resolve) => setImmediate(resolve));
    controller.abort('stop');
    await expect(promise).rejects.toBe('stop');
  });

  test('an abort during an attempt is not retried, and the attempt sees its signal abort', async () => {
    const { time, options } = setup();
    const controller = new AbortController();
    let attemptSignal: AbortSignal | undefined;
    const promise = withRetry(
      ({ signal }) => {
        attemptSignal = signal;
        return new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      },
      { ...options, signal: controller.signal },
    );
    await time.settle();
    controller.abort(new Error('gone'));
    await expect(promise).rejects.toThrow('gone');
    expect(attemptSignal?.aborted).toBe(true);
  });

  test('an already aborted signal rejects without calling fn', async () => {
    const { fn, calls } = scripted(response(200));
    await expect(withRetry(fn, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(calls).toEqual([]);
  });
});

describe('attempt timeouts', () => {
  test('an attempt that runs out of time is aborted with a TimeoutError and retried', async () => {
    const { time, options, retries } = setup({ attemptTimeoutMs: 5_000 });
    const signals: AbortSignal[] = [];
    const promise = withRetry(({ attempt, signal }) => {
      signals.push(signal);
      if (attempt === 1) return new Promise<Response>(() => {}); // hangs, ignoring its signal
      return response(200);
    }, options);
    expect((await time.run(promise)).status).toBe(200);
    expect(signals[0]?.reason).toMatchObject({ name: 'TimeoutError' });
    expect(retries[0]?.error).toMatchObject({ name: 'TimeoutError' });
  });

  test('a finished attempt cancels its timer', async () => {
    const { time, options } = setup({ attemptTimeoutMs: 5_000 });
    await time.run(withRetry(async () => response(200), options));
    expect(time.pendingTimers).toBe(0);
  });
});

describe('configuration', () => {
  test.each([
    [{ retries: -1 }, 'Expected `retries` to be a non-negative integer, got -1.'],
    [{ retries: 1.5 }, 'Expected `retries` to be a non-negative integer, got 1.5.'],
    [{ baseDelayMs: 0 }, 'Expected `baseDelayMs` to be a finite positive number, got 0.'],
    [{ maxRetryAfterMs: Number.NaN }, 'Expected `maxRetryAfterMs` to be a finite number of at least 0, got NaN.'],
    [{ onRetry: 'log' }, 'Expected `onRetry` to be a function, got "log".'],
    [{ retry: 3 }, 'Unknown withRetry option `retry`.'],
  ])('%j is rejected with a clear message', async (options, message) => {
    await expect(withRetry(async () => 1, options as RetryOptions)).rejects.toThrow(message);
  });
});
