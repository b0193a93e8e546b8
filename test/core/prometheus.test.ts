/**
 * Prometheus metrics: a scrape shows the expected counters by tier, policy and outcome,
 * store latency, and never an API key.
 */
import { createRateLimiter, type Store } from '@tierlimit/core';
import { prometheusMetrics } from '@tierlimit/core/prometheus';
import { Registry } from 'prom-client';
import { ManualClock } from '../support/clock';

const as = (key?: string) => ({ ip: '198.51.100.1', headers: key === undefined ? {} : { 'x-api-key': key } });

test('a scrape shows decisions by tier, policy and outcome, and no API key anywhere', async () => {
  const clock = new ManualClock();
  const registry = new Registry();
  const limiter = createRateLimiter({
    resolveTier: (key) => (key === 'sk_live_secret' ? 'free' : null),
    now: clock.now,
    tiers: {
      free: { api: { limit: 2, windowMs: 60_000 }, events: { limit: 60, windowMs: 60_000, burst: 5, shadow: true } },
    },
    suspension: { threshold: 2 },
  });
  const metrics = prometheusMetrics(limiter, { registry });
  for (let i = 0; i < 5; i++) await limiter.check(as('sk_live_secret'));
  await limiter.check(as('sk_live_secret'), { policy: 'events', cost: 6 });
  await limiter.check(as());
  const scrape = await registry.metrics();

  expect(scrape).toContain('tierlimit_decisions_total{tier="free",policy="api",outcome="allowed"} 2');
  expect(scrape).toContain('tierlimit_decisions_total{tier="free",policy="api",outcome="limited"} 1');
  expect(scrape).toContain('tierlimit_decisions_total{tier="free",policy="api",outcome="suspended"} 2');
  expect(scrape).toContain('tierlimit_decisions_total{tier="none",policy="ip",outcome="refused"} 1');
  expect(scrape).toContain('tierlimit_suspensions_total{policy="api"} 1');
  expect(scrape).toContain('tierlimit_shadow_limited_total{tier="free",policy="events"} 1');
  expect(scrape).toMatch(/tierlimit_store_duration_seconds_count \d+/);
  expect(scrape).toContain('tierlimit_memory_store_keys ');
  expect(scrape).toContain('tierlimit_store_degraded 0');
  expect(scrape).not.toContain('sk_live_secret');
  metrics.close();
  expect(await registry.metrics()).toBe('\n');
});

test('store errors and degraded decisions are counted', async () => {
  const registry = new Registry();
  const failing: Store = { consume: () => Promise.reject(new Error('down')) };
  const limiter = createRateLimiter({ resolveTier: () => 'free', store: failing, onWarning: () => undefined });
  prometheusMetrics(limiter, { registry });
  await limiter.check(as('k'));
  const scrape = await registry.metrics();
  expect(scrape).toContain('tierlimit_store_errors_total 1');
  expect(scrape).toContain('tierlimit_degraded_total{tier="free",mode="local"} 1');
  expect(scrape).toContain('tierlimit_store_degraded 1');
});

test('a full memory store reports the units it forgot and the requests it refused (issue 13)', async () => {
  const { MemoryStore } = await import('@tierlimit/core');
  const registry = new Registry();
  const tiers = { free: { api: { limit: 10, windowMs: 60_000 } } };
  const evicting = new MemoryStore({ maxKeys: 2, sweepIntervalMs: 0, onFull: () => undefined });
  const limiter = createRateLimiter({ resolveTier: () => 'free', tiers, ip: false, store: evicting });
  const metrics = prometheusMetrics(limiter, { registry });
  for (const key of ['a', 'a', 'a', 'b', 'c']) await limiter.check(as(key));
  expect(await registry.metrics()).toContain('tierlimit_memory_store_evicted_units_total 1');
  metrics.close();

  const refusing = new MemoryStore({ maxKeys: 1, sweepIntervalMs: 0, whenFull: 'refuse', onFull: () => undefined });
  const strict = createRateLimiter({ resolveTier: () => 'free', tiers, ip: false, store: refusing });
  prometheusMetrics(strict, { registry });
  for (const key of ['a', 'b', 'c']) await strict.check(as(key));
  const scrape = await registry.metrics();
  expect(scrape).toContain('tierlimit_memory_store_refused_total 2');
  expect(scrape).toContain('tierlimit_decisions_total{tier="free",policy="none",outcome="unavailable"} 2');
});
