/**
 * createRateLimitedFetch (issue 16) against a scripted fetch, in virtual time: what is
 * retried and what is not, Retry-After in seconds and as an HTTP date, request weights,
 * concurrency, aborts, pacing from the API's headers, and a 429 pausing every caller of
 * the budget (while a timeout pauses nobody).
 */
import {
  CostExceedsBurstError,
  createRateLimitedFetch,
  localBudget,
  type RateLimitedFetchOptions,
  RetryAfterTooLongError,
} from '@tierlimit/client';
import { START, seededRandom, VirtualTime } from './support/virtual-time';

const URL_ = 'https://api.test/v1/things';

interface Call {
  readonly url: string;
  readonly init: RequestInit;
  /** ms after START. */
  readonly at: number;
  readonly body: string | undefined;
}

type Reply = Response | Error | 'hang' | ((call: Call) => Response | Promise<Response>);

/** A fetch that answers from a script (the last reply repeats), recording every call. */
function scriptedFetch(time: VirtualTime, replies: Reply[]) {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const body = typeof init.body === 'string' ? init.body : request === undefined ? undefined : await request.text();
    const call: Call = { url: String(request?.url ?? input), init, at: time.now() - START, body };
    calls.push(call);
    init.signal?.throwIfAborted();
    const reply = replies.length > 1 ? (replies.shift() as Reply) : (replies[0] as Reply);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (reply === 'hang') {
        return await new Promise<Response>((_, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
        });
      }
      if (reply instanceof Error) throw reply;
      return typeof reply === 'function' ? await reply(call) : reply.clone();
    } finally {
      inFlight--;
    }
  };
  return {
    fetch: fetch as typeof globalThis.fetch,
    calls,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

const status = (code: number, headers: Record<string, string> = {}) =>
  new Response(code === 204 ? null : '{}', { status: code, headers });
const ok = () => status(200);

function setup(replies: Reply[], options: RateLimitedFetchOptions = {}) {
  const time = new VirtualTime();
  const api = scriptedFetch(time, replies);
  const limitedFetch = createRateLimitedFetch({
    fetch: api.fetch,
    now: time.now,
    sleep: time.sleep,
    random: seededRandom(),
    ...options,
  });
  return { time, api, limitedFetch };
}

describe('what is retried', () => {
  test.each([429, 408, 500, 502, 503, 504])('HTTP %i is retried, then the success is returned', async (code) => {
    const { time, api, limitedFetch } = setup([status(code), ok()]);
    const response = await time.run(limitedFetch(URL_));
    expect(response.status).toBe(200);
    expect(api.calls).toHaveLength(2);
  });

  test.each([400, 401, 403, 404, 409, 413, 422])('HTTP %i is never retried', async (code) => {
    const { time, api, limitedFetch } = setup([status(code), ok()]);
    const response = await time.run(limitedFetch(URL_));
    expect(response.status).toBe(code);
    expect(api.calls).toHaveLength(1);
  });

  test('a network error is retried; a TypeError that is a bug is not', async () => {
    const network = setup([new TypeError('fetch failed'), ok()]);
    expect((await network.time.run(network.limitedFetch(URL_))).status).toBe(200);
    expect(network.api.calls).toHaveLength(2);

    const bug = setup([new TypeError('x is not a function'), ok()]);
    await expect(bug.time.run(bug.limitedFetch(URL_))).rejects.toThrow('x is not a function');
    expect(bug.api.calls).toHaveLength(1);
  });

  test('when retries run out, the last response is returned as fetch would', async () => {
    const { time, api, limitedFetch } = setup([status(503)], { retry: { maxRetries: 2 } });
    const response = await time.run(limitedFetch(URL_));
    expect(response.status).toBe(503);
    expect(api.calls).toHaveLength(3);
  });

  test('`retry: false` sends once', async () => {
    const { time, api, limitedFetch } = setup([status(500), ok()], { retry: false });
    expect((await time.run(limitedFetch(URL_))).status).toBe(500);
    expect(api.calls).toHaveLength(1);
  });

  test('the same method, headers and body are sent again, also for a Request object', async () => {
    const { time, api, limitedFetch } = setup([status(502), ok()]);
    const request = new Request(URL_, { method: 'PUT', body: '{"a":1}', headers: { 'x-trace': 't' } });
    await time.run(limitedFetch(request));
    expect(api.calls.map((call) => call.body)).toEqual(['{"a":1}', '{"a":1}']);
    expect(request.bodyUsed).toBe(false);
  });

  test('a stream body, which can be sent only once, is not retried', async () => {
    const { time, api, limitedFetch } = setup([status(503), ok()]);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('x'));
        controller.close();
      },
    });
    const response = await time.run(limitedFetch(URL_, { method: 'POST', body, duplex: 'half' } as RequestInit));
    expect(response.status).toBe(503);
    expect(api.calls).toHaveLength(1);
  });
});

describe('how long it waits', () => {
  test('Retry-After in seconds is honoured over the backoff (plus at most the jitter)', async () => {
    const { time, api, limitedFetch } = setup([status(429, { 'retry-after': '7' }), ok()], {
      retry: { retryAfterJitterMs: 0 },
    });
    await time.run(limitedFetch(URL_));
    expect(api.calls.map((call) => call.at)).toEqual([0, 7_000]);
  });

  test('Retry-After as an HTTP date is measured against the response Date header', async () => {
    // The client's clock is 10 minutes fast; the server's Date and Retry-After agree on a 30 s wait.
    const serverNow = new Date(START - 600_000);
    const retryAt = new Date(START - 600_000 + 30_000);
    const { time, api, limitedFetch } = setup(
      [status(503, { date: serverNow.toUTCString(), 'retry-after': retryAt.toUTCString() }), ok()],
      { retry: { retryAfterJitterMs: 0 } },
    );
    await time.run(limitedFetch(URL_));
    expect(api.calls.map((call) => call.at)).toEqual([0, 30_000]);
  });

  test('without Retry-After: exponential backoff with full jitter, below the cap', async () => {
    const { time, api, limitedFetch } = setup([status(500), status(500), status(500), ok()], {
      retry: { baseDelayMs: 1_000, maxDelayMs: 1_500 },
      random: () => 0.999,
    });
    await time.run(limitedFetch(URL_));
    const gaps = api.calls.slice(1).map((call, i) => call.at - (api.calls[i] as Call).at);
    expect(gaps).toEqual([999, 1_498, 1_498]);
  });

  test('a Retry-After beyond maxRetryAfterMs fails fast', async () => {
    const { time, limitedFetch } = setup([status(429, { 'retry-after': '3600' })]);
    await expect(time.run(limitedFetch(URL_))).rejects.toBeInstanceOf(RetryAfterTooLongError);
    expect(time.now()).toBe(START);
  });
});

describe('the budget', () => {
  test('each request takes its weight in units: a batch of 40 waits for the refill of 40', async () => {
    const { time, api, limitedFetch } = setup([ok()], { budget: { rate: 10, perMs: 1_000, burst: 50 } });
    await time.run(limitedFetch(URL_, { weight: 30 }));
    await time.run(limitedFetch(URL_, { weight: 40 }));
    await time.run(limitedFetch(URL_));
    // 50 at first; 30 taken; the batch of 40 needs 20 more (2 s); then one more unit (0.1 s).
    expect(api.calls.map((call) => call.at)).toEqual([0, 2_000, 2_100]);
  });

  test('a weight above the burst rejects without a request; a bad weight too', async () => {
    const { time, api, limitedFetch } = setup([ok()], { budget: { rate: 10, burst: 20 } });
    await expect(time.run(limitedFetch(URL_, { weight: 21 }))).rejects.toBeInstanceOf(CostExceedsBurstError);
    await expect(time.run(limitedFetch(URL_, { weight: 0 }))).rejects.toThrow(RangeError);
    expect(api.calls).toHaveLength(0);
  });

  test('`weight` is not passed on to fetch', async () => {
    const { time, api, limitedFetch } = setup([ok()], { budget: { rate: 10 } });
    await time.run(limitedFetch(URL_, { weight: 2, method: 'POST' }));
    expect(api.calls[0]?.init).not.toHaveProperty('weight');
    expect(api.calls[0]?.init.method).toBe('POST');
  });

  test('a 429 pauses every caller of the budget until its Retry-After, then they go at the lowered pace', async () => {
    const time = new VirtualTime();
    const budget = localBudget({ rate: 10, perMs: 1_000, burst: 10, now: time.now, sleep: time.sleep });
    const first = scriptedFetch(time, [status(429, { 'retry-after': '2' }), ok()]);
    const second = scriptedFetch(time, [ok()]);
    const common = { budget, now: time.now, sleep: time.sleep, random: () => 0 };
    const fetchA = createRateLimitedFetch({ ...common, fetch: first.fetch });
    const fetchB = createRateLimitedFetch({ ...common, fetch: second.fetch });

    const a = fetchA(URL_);
    await time.settle();
    // A got its 429 at 0: B, another function with the same budget, may not send before 2 s.
    const b = fetchB(URL_);
    await time.run(Promise.all([a, b]));
    // Nobody before 2 s; then the budget starts empty, at 95% of its rate: one unit every 105.3 ms.
    expect(second.calls.map((call) => call.at)).toEqual([2_106]);
    expect(first.calls.map((call) => call.at)).toEqual([0, 2_212]);
    expect(budget.pace).toBeCloseTo(0.95, 2);
  });

  test('a timeout is retried as a timeout: it pauses nobody and leaves the pace alone', async () => {
    const time = new VirtualTime();
    const budget = localBudget({ rate: 10, now: time.now, sleep: time.sleep });
    const slow = scriptedFetch(time, ['hang', ok()]);
    const other = scriptedFetch(time, [ok()]);
    const common = { budget, now: time.now, sleep: time.sleep, random: () => 0.5 };
    const retries: Array<{ status: number | undefined; error: string | undefined }> = [];
    const fetchA = createRateLimitedFetch({
      ...common,
      fetch: slow.fetch,
      attemptTimeoutMs: 5_000,
      retry: { onRetry: (info) => retries.push({ status: info.status, error: (info.error as Error)?.name }) },
    });
    const fetchB = createRateLimitedFetch({ ...common, fetch: other.fetch });
    const a = fetchA(URL_);
    await time.settle();
    const b = time.run(fetchB(URL_));
    await b;
    expect(other.calls[0]?.at).toBe(0);
    expect((await time.run(a)).status).toBe(200);
    expect(retries).toEqual([{ status: undefined, error: 'TimeoutError' }]);
    expect(slow.calls.map((call) => call.at)).toEqual([0, 5_500]);
    expect(budget.pace).toBe(1);
  });

  test('a 503 with Retry-After holds this function but does not lower the shared pace', async () => {
    const time = new VirtualTime();
    const budget = localBudget({ rate: 10, now: time.now, sleep: time.sleep });
    const { fetch, calls } = scriptedFetch(time, [status(503, { 'retry-after': '3' }), ok()]);
    const limitedFetch = createRateLimitedFetch({ budget, fetch, now: time.now, sleep: time.sleep, random: () => 0 });
    await time.run(Promise.all([limitedFetch(URL_), limitedFetch(`${URL_}/2`)]));
    expect(calls.map((call) => call.at)).toEqual([0, 3_000, 3_000]);
    expect(budget.pace).toBe(1);
  });
});

describe('concurrency and aborts', () => {
  test('at most `concurrency` requests are in flight', async () => {
    const { time, api, limitedFetch } = setup(
      [
        async () => {
          await time.sleep(100);
          return ok();
        },
      ],
      { concurrency: 3 },
    );
    await time.run(Promise.all(Array.from({ length: 10 }, (_, i) => limitedFetch(`${URL_}/${i}`))));
    expect(api.calls).toHaveLength(10);
    expect(api.maxInFlight).toBe(3);
    expect(time.now() - START).toBe(400);
  });

  test('aborting while waiting for the budget rejects with the reason and sends nothing', async () => {
    const { time, api, limitedFetch } = setup([ok()], { budget: { rate: 1, perMs: 10_000, burst: 1 } });
    await time.run(limitedFetch(URL_));
    const controller = new AbortController();
    const waiting = limitedFetch(URL_, { signal: controller.signal });
    await time.settle();
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(api.calls).toHaveLength(1);
  });

  test('aborting during a backoff wait or a request rejects at once', async () => {
    const backoff = setup([status(500)]);
    const controller = new AbortController();
    const during = backoff.limitedFetch(URL_, { signal: controller.signal });
    await backoff.time.settle();
    controller.abort(new Error('enough'));
    await expect(during).rejects.toThrow('enough');
    expect(backoff.api.calls).toHaveLength(1);

    const hanging = setup(['hang']);
    const deadline = hanging.limitedFetch(URL_, { signal: AbortSignal.abort(new Error('gone')) });
    await expect(deadline).rejects.toThrow('gone');
  });
});

describe('learning from the API headers', () => {
  test('X-RateLimit-Remaining 0 holds the next request until X-RateLimit-Reset', async () => {
    const { time, api, limitedFetch } = setup([
      status(200, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '5' }),
      ok(),
    ]);
    await time.run(limitedFetch(URL_));
    await time.run(limitedFetch(URL_));
    expect(api.calls.map((call) => call.at)).toEqual([0, 5_000]);
  });

  test('the IETF RateLimit fields pace the same way', async () => {
    const { time, api, limitedFetch } = setup([
      status(200, { ratelimit: '"default";r=0;t=3', 'ratelimit-policy': '"default";q=10;w=60' }),
      ok(),
    ]);
    await time.run(limitedFetch(URL_));
    await time.run(limitedFetch(URL_));
    expect(api.calls.map((call) => call.at)).toEqual([0, 3_000]);
  });

  test('`adaptive: false` ignores them', async () => {
    const { time, api, limitedFetch } = setup(
      [status(200, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '5' })],
      { adaptive: false },
    );
    await time.run(limitedFetch(URL_));
    await time.run(limitedFetch(URL_));
    expect(api.calls.map((call) => call.at)).toEqual([0, 0]);
  });
});

describe('options', () => {
  test.each([
    [{ concurrency: 0 }, /concurrency/],
    [{ retry: { retries: 3 } }, /Unknown retry option `retries`/],
    [{ retry: { maxRetries: -1 } }, /retry\.retries|retry\.maxRetries|non-negative/],
    [{ budget: { rate: 0 } }, /budget\.rate/],
    [{ budget: { rate: 10, per: 1 } }, /Unknown budget option `per`/],
    [{ attemptTimeout: 1 }, /Unknown createRateLimitedFetch option/],
  ])('%j is refused at construction', (options, message) => {
    expect(() => createRateLimitedFetch(options as RateLimitedFetchOptions)).toThrow(message);
  });
});
