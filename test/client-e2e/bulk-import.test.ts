/**
 * The client against the real demo servers on loopback (issue 6, "done when"): a bulk
 * import of thousands of events with demo-pro arrives complete and exactly once, with at
 * most a handful of 429s, at 90% or more of the rate the tier allows; and the same import
 * through a proxy that injects 503s and dropped connections still loses and duplicates
 * nothing. The demos count distinct events per key (GET /api/v1/events/stats) and drop
 * repeated event ids, which is what makes retries exactly-once.
 */
import { createClient } from '@tierlimit/client';
import { startChaosProxy } from '../support/chaos-proxy';
import { type DemoProcess, startDemo, stopDemo } from '../support/demo-process';

/** demo-pro's event bucket: 10,000 per minute, burst 1,000. */
const PRO = { rate: 10_000, perMs: 60_000, burst: 1_000 };

function* events(count: number, tag: string) {
  for (let i = 0; i < count; i++) yield { name: 'import', properties: { tag, i } };
}

describe.each(['express', 'fastify'])('bulk import against the %s demo', (framework) => {
  let demo: DemoProcess;

  beforeAll(async () => {
    demo = await startDemo(framework);
  }, 30_000);

  afterAll(() => stopDemo(demo));

  test('3,000 events with demo-pro: complete, exactly once, few 429s, at least 90% of the allowed rate', async () => {
    const client = createClient({ baseUrl: demo.url, apiKey: 'demo-pro', rateLimit: PRO });
    const started = performance.now();
    const report = await client.bulkImport(events(3_000, 'plain'));
    const seconds = (performance.now() - started) / 1_000;

    expect(report.failed).toEqual([]);
    expect(report.sent).toBe(3_000);
    expect(report.rateLimited).toBeLessThanOrEqual(5);
    expect(await client.stats()).toEqual({ received: 3_000, duplicates: 0 });

    // The most the tier can admit in `seconds`: the burst plus the refill.
    const allowed = PRO.burst + (PRO.rate / PRO.perMs) * 1_000 * seconds;
    console.log(
      `${framework}: 3,000 events in ${seconds.toFixed(1)} s, ${(3_000 / allowed).toFixed(2)} of what demo-pro allows in that time, ${report.rateLimited} 429s`,
    );
    expect(3_000 / allowed).toBeGreaterThanOrEqual(0.9);
  }, 60_000);

  test('through a proxy injecting 503s and dropped connections: nothing lost, nothing stored twice', async () => {
    const proxy = await startChaosProxy(demo.url, { unavailable: 0.1, dropBefore: 0.05, dropAfter: 0.1, seed: 42 });
    try {
      const client = createClient({
        baseUrl: proxy.url,
        apiKey: 'demo-starter',
        rateLimit: { rate: 2_500, perMs: 60_000, burst: 250 },
        retries: 10,
        baseDelayMs: 50,
        maxDelayMs: 500,
      });
      const report = await client.bulkImport(events(1_000, 'chaos'), { batchSize: 50 });
      expect(report.failed).toEqual([]);
      expect(report.sent).toBe(1_000);
      expect(report.retried).toBeGreaterThan(0);
      expect(proxy.stats.droppedAfter).toBeGreaterThan(0);
      const stats = await createClient({ baseUrl: demo.url, apiKey: 'demo-starter' }).stats();
      // Every event stored once; the repeats the proxy caused were recognised by id.
      expect(stats.received).toBe(1_000);
      expect(stats.duplicates).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});
