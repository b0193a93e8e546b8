/**
 * createClient against an in-memory events API with the demos' behaviour (token bucket
 * per key, X-RateLimit-*, 429 + Retry-After, 413 BATCH_TOO_LARGE, 400 for a whole batch,
 * dedupe by id), in virtual time: track, trackBatch, bulkImport and stats, and the
 * promises they make: ids kept across retries, batches cut to the burst, pacing that
 * avoids 429s, every item accounted for.
 */
import {
  ApiError,
  BulkImportError,
  type BulkImportProgress,
  type ClientOptions,
  createClient,
  EventValidationError,
  RetryAfterTooLongError,
  TrackBatchError,
} from '@tierlimit/client';
import { FakeEventsApi, type FakeEventsApiOptions } from './support/fake-events-api';
import { START, seededRandom, VirtualTime } from './support/virtual-time';

function setup(apiOptions: Partial<FakeEventsApiOptions> = {}, clientOptions: Partial<ClientOptions> = {}) {
  const time = new VirtualTime();
  const api = new FakeEventsApi({ clock: time, ...apiOptions });
  let ids = 0;
  const client = createClient({
    baseUrl: 'http://api.test',
    apiKey: 'demo-free',
    fetch: api.fetch as typeof fetch,
    now: time.now,
    sleep: time.sleep,
    random: seededRandom(),
    generateId: () => `id-${++ids}`,
    ...clientOptions,
  });
  return { time, api, client };
}

function events(count: number, from = 0) {
  return Array.from({ length: count }, (_, i) => ({ name: 'page_view', n: from + i }));
}

const batchSizes = (api: FakeEventsApi) =>
  api.requests.filter((r) => r.path === '/api/v1/events/batch').map((r) => r.events?.length);

describe('track', () => {
  test('sends one event with the API key and a fresh id', async () => {
    const { time, api, client } = setup();
    const event = { name: 'signup', plan: 'pro' };
    const result = await time.run(client.track(event));
    expect(result).toEqual({ id: 'id-1', duplicate: false });
    expect(api.requests[0]).toMatchObject({ method: 'POST', path: '/api/v1/events', apiKey: 'demo-free' });
    expect(api.stored.get('id-1')).toEqual({ name: 'signup', plan: 'pro', id: 'id-1' });
    expect(event).toEqual({ name: 'signup', plan: 'pro' }); // the caller's object is not mutated
  });

  test('keeps an id the caller set', async () => {
    const { time, client } = setup();
    await expect(time.run(client.track({ name: 'a', id: 'mine' }))).resolves.toEqual({ id: 'mine', duplicate: false });
  });

  test('a 429 is retried after Retry-After with the same id', async () => {
    const { time, api, client } = setup();
    api.tokens = 0;
    const result = await time.run(client.track({ name: 'later' }));
    expect(api.requests.map((r) => r.status)).toEqual([429, 202]);
    expect(api.requests.map((r) => r.events?.[0]?.id)).toEqual(['id-1', 'id-1']);
    expect(result.id).toBe('id-1');
    expect(api.stored.size).toBe(1);
  });

  test('a lost response is retried with the same id, and the server stores the event once', async () => {
    const { time, api, client } = setup();
    api.interceptors.push(() => 'lose');
    const result = await time.run(client.track({ name: 'once' }));
    expect(api.requests.map((r) => r.status)).toEqual([202, 202]);
    expect(result).toEqual({ id: 'id-1', duplicate: true });
    expect(api.stored.size).toBe(1);
  });

  test('an attempt that times out is retried with the same id', async () => {
    const { time, api, client } = setup({}, { attemptTimeoutMs: 2_000 });
    api.interceptors.push(() => 'hang');
    await time.run(client.track({ name: 'slow' }));
    expect(api.requests.map((r) => r.events?.[0]?.id)).toEqual(['id-1', 'id-1']);
    expect(api.stored.size).toBe(1);
  });

  test('an invalid event fails before any request', async () => {
    const { time, api, client } = setup();
    await expect(time.run(client.track({ name: '' }))).rejects.toBeInstanceOf(EventValidationError);
    await expect(time.run(client.track({ name: 'x', id: 42 } as never))).rejects.toMatchObject({
      code: 'INVALID_EVENT',
    });
    expect(api.requests).toHaveLength(0);
  });

  test('a 400 from the server is an ApiError with its code, not retried', async () => {
    const { time, api, client } = setup({}, { validateEvent: () => undefined });
    const error = await time.run(client.track({ name: '' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'INVALID_EVENT', status: 400, requestId: 'req-test' });
    expect(api.requests).toHaveLength(1);
  });

  test('a wrong key is a 401 ApiError, and the key is in no message', async () => {
    const { time, client } = setup({}, { apiKey: 'sk_live_secret' });
    const error = (await time.run(client.track({ name: 'a' })).catch((e: unknown) => e)) as ApiError;
    expect(error).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(JSON.stringify({ message: error.message, stack: error.stack })).not.toContain('sk_live_secret');
  });

  test('a Retry-After beyond maxRetryAfterMs fails fast', async () => {
    const { time, api, client } = setup({}, { maxRetryAfterMs: 60_000 });
    api.interceptors.push(() => new Response('{}', { status: 429, headers: { 'Retry-After': '86400' } }));
    const started = time.now();
    await expect(time.run(client.track({ name: 'a' }))).rejects.toBeInstanceOf(RetryAfterTooLongError);
    expect(time.now()).toBe(started);
    expect(api.requests).toHaveLength(1);
  });

  test('when retries run out, the last status is thrown as an ApiError', async () => {
    const { time, api, client } = setup({}, { retries: 2 });
    const unavailable = () =>
      new Response(JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE', message: 'Try later.' } }), {
        status: 503,
        headers: { 'Retry-After': '1' },
      });
    api.interceptors.push(unavailable, unavailable, unavailable);
    await expect(time.run(client.track({ name: 'a' }))).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      status: 503,
    });
    expect(api.requests).toHaveLength(3);
  });

  test('a burst of calls is smoothed to the plan: no 429, every event stored once', async () => {
    const { time, api, client } = setup({}, { rateLimit: { rate: 500, perMs: 60_000, burst: 50 } });
    const results = await time.run(Promise.all(events(200).map((event) => client.track(event))));
    expect(new Set(results.map((r) => r.id)).size).toBe(200);
    expect(api.rateLimited).toBe(0);
    expect(api.stored.size).toBe(200);
    // 50 at once, then 150 at 500 a minute: 18 s.
    expect(time.now() - START).toBeGreaterThanOrEqual(18_000);
    expect(time.now() - START).toBeLessThan(18_000 * 1.1);
  });

  test('onRetry hears about every retry', async () => {
    const seen: string[] = [];
    const { time, api, client } = setup({}, { onRetry: (info) => seen.push(`${info.attempt}:${info.reason}`) });
    api.tokens = 0;
    await time.run(client.track({ name: 'a' }));
    expect(seen).toEqual(['1:HTTP 429']);
  });
});

describe('trackBatch', () => {
  test('learns the burst capacity and cuts batches to it, paced so that no 429 is seen', async () => {
    const { time, api, client } = setup(); // free tier: burst 50, 500 per minute
    const result = await time.run(client.trackBatch(events(120)));
    // One event probes the limit; then batches of exactly the burst.
    expect(batchSizes(api)).toEqual([1, 50, 50, 19]);
    expect(api.rateLimited).toBe(0);
    expect(result.sent).toBe(120);
    expect(result.ids).toEqual(Array.from({ length: 120 }, (_, i) => `id-${i + 1}`));
    expect(api.stored.size).toBe(120);
    expect(client.batchCapacity).toBe(50);
  });

  test('a 413 BATCH_TOO_LARGE splits the batch and remembers the limit from its details', async () => {
    // No rate-limit headers: the client cannot learn the burst before the 413 tells it.
    const { time, api, client } = setup({ headers: false }, { maxBatchSize: 200 });
    await time.run(client.trackBatch(events(201)));
    const sizes = batchSizes(api);
    expect(sizes.slice(0, 2)).toEqual([1, 200]);
    expect(api.requests[1]?.status).toBe(413);
    expect(sizes.slice(2).every((size) => (size ?? 0) <= 50)).toBe(true);
    expect(api.stored.size).toBe(201);
    expect(client.batchCapacity).toBe(50);
  });

  test('a 413 without a stated limit splits the batch in half', async () => {
    const { time, api, client } = setup({ burst: 1_000, perMinute: 60_000 });
    await time.run(client.track({ name: 'warm-up' })); // learn the capacity: no probe in trackBatch
    api.interceptors.push(
      () => new Response(JSON.stringify({ error: { code: 'PAYLOAD_TOO_LARGE' } }), { status: 413 }),
    );
    await time.run(client.trackBatch(events(8)));
    expect(batchSizes(api)).toEqual([8, 4, 4]);
    expect(api.stored.size).toBe(9);
  });

  test('a 400 for a batch is bisected: only the bad events fail, the rest are stored', async () => {
    const { time, api, client } = setup({ burst: 1_000, perMinute: 60_000 }, { validateEvent: () => undefined });
    await time.run(client.track({ name: 'warm-up' }));
    const batch = events(8);
    batch[2] = { name: '', n: 2 };
    batch[6] = { name: '', n: 6 };
    const error = (await time.run(client.trackBatch(batch)).catch((e: unknown) => e)) as TrackBatchError;
    expect(error).toBeInstanceOf(TrackBatchError);
    expect(error.code).toBe('TRACK_BATCH_FAILED');
    expect(error.sent).toBe(6);
    expect(error.failed.map((f) => (f.item as { n: number }).n)).toEqual([2, 6]);
    expect(error.failed.every((f) => (f.error as ApiError).code === 'INVALID_EVENT')).toBe(true);
    expect(api.stored.size).toBe(7);
    // The 400s report the IP policy's limit (10,000); that is not the events burst.
    expect(client.batchCapacity).toBe(1_000);
  });

  test('an event that cannot be serialised fails alone', async () => {
    const { time, api, client } = setup({ burst: 1_000, perMinute: 60_000 });
    await time.run(client.track({ name: 'warm-up' }));
    const batch: Array<Record<string, unknown> & { name: string }> = events(4);
    batch[1] = { name: 'big', value: 10n };
    const error = (await time.run(client.trackBatch(batch)).catch((e: unknown) => e)) as TrackBatchError;
    expect(error.failed).toHaveLength(1);
    expect(error.failed[0]?.error).toBeInstanceOf(EventValidationError);
    expect(api.stored.size).toBe(4);
  });
});

describe('bulkImport', () => {
  test('pulls lazily with bounded memory, paces to the server without 429s, and sends everything', async () => {
    const { time, api, client } = setup(); // free tier
    let pulled = 0;
    let maxAhead = 0;
    async function* source() {
      for (let i = 0; i < 1_000; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - api.stored.size);
        yield { name: 'import', n: i };
      }
    }
    const report = await time.run(client.bulkImport(source()));
    expect(report).toMatchObject({ sent: 1_000, duplicates: 0, failed: [], pulled: 1_000, rateLimited: 0, retried: 0 });
    expect(report.stopReason).toBeUndefined();
    expect(api.stored.size).toBe(1_000);
    // concurrency (4) + one queued + one being filled, of 50 each.
    expect(maxAhead).toBeLessThanOrEqual(6 * 50);
    // The sustainable rate: a full bucket of 50, then 950 at 500 a minute = 114 s. Pacing costs little on top.
    expect(report.durationMs).toBeGreaterThanOrEqual(114_000);
    expect(report.durationMs).toBeLessThan(114_000 * 1.15);
  });

  test('works over arrays and sync iterables too', async () => {
    const { time, client } = setup({ burst: 1_000, perMinute: 600_000 });
    const fromArray = await time.run(client.bulkImport(events(30)));
    const fromSet = await time.run(client.bulkImport(new Set(events(20, 30))));
    expect([fromArray.sent, fromSet.sent]).toEqual([30, 20]);
  });

  test('lost responses and 503s are retried with the same ids: each event is stored exactly once', async () => {
    const { time, api, client } = setup({ burst: 100, perMinute: 60_000 });
    const unavailable = () =>
      new Response(JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE' } }), {
        status: 503,
        headers: { 'Retry-After': '2' },
      });
    api.interceptors.push(
      () => undefined,
      () => 'lose',
      unavailable,
      () => 'lose',
      () => new TypeError('fetch failed'),
    );
    const report = await time.run(client.bulkImport(events(500)));
    expect(report.sent).toBe(500);
    expect(report.failed).toEqual([]);
    expect(report.retried).toBeGreaterThanOrEqual(4);
    // A batch stored but unconfirmed was sent again: the server recognised every event of it by id.
    expect(report.duplicates).toBeGreaterThanOrEqual(100);
    expect(report.duplicates).toBe(api.duplicates);
    expect(api.stored.size).toBe(500);
  });

  test('invalid items fail without a request and are reported as given; the rest is sent', async () => {
    const { time, api, client } = setup({ burst: 100, perMinute: 60_000 });
    const items = [{ name: 'ok' }, 42, null, { nome: 'typo' }, { name: 'x', id: '' }, ['name'], { name: 'ok too' }];
    const report = await time.run(client.bulkImport(items));
    expect(report.sent).toBe(2);
    expect(report.pulled).toBe(7);
    expect(report.failed.map((f) => f.item)).toEqual([42, null, { nome: 'typo' }, { name: 'x', id: '' }, ['name']]);
    expect(report.failed.every((f) => (f.error as EventValidationError).code === 'INVALID_EVENT')).toBe(true);
    expect(api.stored.size).toBe(2);
  });

  test('failed items keep their assigned ids, so re-importing them cannot duplicate', async () => {
    const { time, api, client } = setup({ burst: 100, perMinute: 60_000 }, { retries: 0 });
    api.interceptors.push(
      () => undefined,
      () => 'lose',
    ); // the probe passes; the next batch is stored but unconfirmed
    const first = await time.run(client.bulkImport(events(50)));
    expect(first.failed).toHaveLength(49);
    const again = await time.run(client.bulkImport(first.failed.map((f) => f.item)));
    expect(again).toMatchObject({ sent: 49, duplicates: 49 });
    expect(api.stored.size).toBe(50);
  });

  test('a 401 stops the import early instead of sending the rest to the same wall', async () => {
    const { time, api, client } = setup({}, { apiKey: 'revoked' });
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 100_000; i++) {
        pulled++;
        yield { name: 'e', n: i };
      }
    }
    const report = await time.run(client.bulkImport(source()));
    expect(report.stopReason).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(report.sent).toBe(0);
    expect(report.failed).toHaveLength(report.pulled);
    expect(pulled).toBeLessThan(10);
    expect(api.requests.length).toBe(1);
  });

  test('aborting stops pulling, aborts requests in flight, and still accounts for every pulled item', async () => {
    const { time, client } = setup(); // free tier: slow enough to abort mid-way
    const controller = new AbortController();
    const reason = new Error('operator stop');
    const progress: BulkImportProgress[] = [];
    const run = client.bulkImport(events(10_000), {
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p);
        if (p.sent >= 200) controller.abort(reason);
      },
    });
    const report = await time.run(run);
    expect(report.stopReason).toBe(reason);
    expect(report.sent + report.failed.length).toBe(report.pulled);
    expect(report.pulled).toBeLessThan(600);
    expect(report.failed.every((f) => f.error === reason)).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
  });

  test('onProgress reports growing totals; if it throws, the import stops with that error', async () => {
    const { time, client } = setup({ burst: 100, perMinute: 60_000 });
    const seen: number[] = [];
    await time.run(client.bulkImport(events(300), { onProgress: (p) => seen.push(p.sent) }));
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(300);

    const broken = new Error('progress bar crashed');
    const report = await time.run(
      client.bulkImport(events(300), {
        onProgress: () => {
          throw broken;
        },
      }),
    );
    expect(report.stopReason).toBe(broken);
    expect(report.sent + report.failed.length).toBe(report.pulled);
  });

  test('a throwing source rejects with BulkImportError carrying the report of what was pulled', async () => {
    const { time, client } = setup({ burst: 100, perMinute: 60_000 });
    async function* source() {
      yield { name: 'a' };
      yield { name: 'b' };
      throw new Error('disk on fire');
    }
    const error = (await time.run(client.bulkImport(source())).catch((e: unknown) => e)) as BulkImportError;
    expect(error).toBeInstanceOf(BulkImportError);
    expect(error.code).toBe('BULK_IMPORT_SOURCE_FAILED');
    expect((error.cause as Error).message).toBe('disk on fire');
    expect(error.report).toMatchObject({ sent: 2, pulled: 2, failed: [] });
  });

  test('when retries run out the items fail with the last status, and the import goes on', async () => {
    const { time, api, client } = setup({ burst: 100, perMinute: 60_000 }, { retries: 1 });
    const unavailable = () => new Response('<html>bad gateway</html>', { status: 502 });
    api.interceptors.push(() => undefined, unavailable, unavailable);
    const report = await time.run(client.bulkImport(events(150), { concurrency: 1 }));
    expect(report.failed).toHaveLength(100);
    expect(report.failed[0]?.error).toMatchObject({ code: 'HTTP_502', status: 502 });
    expect(report.sent).toBe(50);
  });

  test('batchSize and concurrency options', async () => {
    const { time, api, client } = setup({ burst: 100, perMinute: 60_000 });
    await time.run(client.bulkImport(events(61), { batchSize: 20, concurrency: 2 }));
    expect(batchSizes(api)).toEqual([1, 20, 20, 20]);
    await expect(client.bulkImport([], { batchSize: 0 })).rejects.toThrow(
      'Expected `batchSize` to be a positive integer, got 0.',
    );
  });
});

test('stats reads the server counters', async () => {
  const { time, client } = setup();
  await time.run(client.track({ name: 'a', id: 'x' }));
  await time.run(client.track({ name: 'a', id: 'x' }));
  await expect(time.run(client.stats())).resolves.toEqual({ received: 1, duplicates: 1 });
});

describe('configuration', () => {
  test.each([
    [{ baseUrl: undefined }, 'Expected `baseUrl` to be an absolute http(s) URL, got undefined.'],
    [{ baseUrl: 'api.example.com' }, 'Expected `baseUrl` to be an absolute http(s) URL, got "api.example.com".'],
    [{ baseUrl: 'ftp://example.com' }, 'Expected `baseUrl` to be an absolute http(s) URL, got "ftp://example.com".'],
    [{ apiKey: '' }, 'Expected `apiKey` to be a non-empty string, got an empty string.'],
    [{ apiKey: 'abc\nX-Evil: 1' }, 'Expected `apiKey` to be a single-line string; it contains a line break or NUL.'],
    [{ maxBatchSize: 0 }, 'Expected `maxBatchSize` to be a positive integer, got 0.'],
    [{ retries: -1 }, 'Expected `retries` to be a non-negative integer, got -1.'],
    [{ concurrency: 1.5 }, 'Expected `concurrency` to be a positive integer, got 1.5.'],
    [{ rateLimit: { rate: 1, burts: 5 } }, 'Unknown rateLimit option `burts`.'],
    [{ timeout: 5 }, 'Unknown client option `timeout`.'],
  ])('%j is refused at construction', (bad, message) => {
    expect(() =>
      createClient({
        baseUrl: 'https://api.example.com',
        apiKey: 'k',
        fetch: async () => new Response(),
        ...bad,
      } as ClientOptions),
    ).toThrow(message);
  });

  test('a trailing slash or path prefix in baseUrl is kept correctly', async () => {
    const urls: string[] = [];
    const client = createClient({
      baseUrl: 'https://api.example.com/tenant-1/',
      apiKey: 'k',
      fetch: async (url) => {
        urls.push(String(url));
        return new Response('{"received":0,"duplicates":0}');
      },
    });
    await client.stats();
    expect(urls).toEqual(['https://api.example.com/tenant-1/api/v1/events/stats']);
  });

  test('endpoints and the batch body are options: events of another shape go where the API wants them', async () => {
    const time = new VirtualTime();
    const api = new FakeEventsApi({ clock: time, burst: 50 });
    const seen: Array<{ path: string; body: unknown }> = [];
    // The API under test speaks /v2/signals with { signals: [...] }; the fake behind it speaks tierlimit's paths.
    const paths: Record<string, string> = {
      '/v2/signals': '/api/v1/events',
      '/v2/signals/bulk': '/api/v1/events/batch',
      '/v2/signals/counters': '/api/v1/events/stats',
    };
    const fetch = async (input: string | URL | Request, init: RequestInit = {}) => {
      const url = new URL(String(input));
      const body = typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
      seen.push({ path: url.pathname, body });
      const events = (body?.signals as Array<Record<string, unknown>> | undefined)?.map((e) => ({
        ...e,
        name: e.type,
      }));
      const translated = events === undefined ? init.body : JSON.stringify({ events });
      return api.fetch(`http://api.test${paths[url.pathname]}`, { ...init, body: translated ?? null });
    };
    const client = createClient<{ type: string }>({
      baseUrl: 'http://api.test',
      apiKey: 'demo-free',
      fetch: fetch as typeof globalThis.fetch,
      now: time.now,
      sleep: time.sleep,
      endpoints: { track: '/v2/signals', batch: '/v2/signals/bulk', stats: '/v2/signals/counters' },
      batchBody: (signals) => ({ signals }),
      validateEvent: (event) => (typeof event.type === 'string' ? undefined : 'a signal needs a type'),
      generateId: (() => {
        let n = 0;
        return () => `s-${++n}`;
      })(),
    });
    await time.run(client.trackBatch([{ type: 'a' }, { type: 'b' }]));
    await expect(time.run(client.stats())).resolves.toEqual({ received: 2, duplicates: 0 });
    await expect(time.run(client.trackBatch([{ kind: 'x' } as never]))).rejects.toMatchObject({
      failed: [{ error: expect.objectContaining({ code: 'INVALID_EVENT', message: 'a signal needs a type' }) }],
    });
    expect(seen.map((request) => request.path)).toEqual([
      '/v2/signals/bulk',
      '/v2/signals/bulk',
      '/v2/signals/counters',
    ]);
    expect(seen[1]?.body).toEqual({ signals: [{ type: 'b', id: 's-2' }] });
  });

  test.each([
    [{ endpoints: { track: 'events' } }, 'Expected `endpoints.track` to be a path starting with `/`'],
    [{ endpoints: { tracks: '/e' } }, 'Unknown endpoints option `tracks`'],
    [{ batchBody: 'events' }, 'Expected `batchBody` to be a function'],
  ])('%j is refused at construction', (bad, message) => {
    expect(() => createClient({ baseUrl: 'https://api.example.com', apiKey: 'k', ...bad } as ClientOptions)).toThrow(
      message,
    );
  });
});
