/**
 * Prometheus metrics for a limiter, through prom-client (an optional peer dependency:
 * import this entry, `@tierlimit/core/prometheus`, only if you use it). Every metric is
 * fed by the limiter's events; labels are tier, policy and outcome, never an API key or
 * an address.
 */
import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from 'prom-client';
import type { Decision } from './decision.js';
import type { RateLimiter } from './limiter.js';

/** Options of {@link prometheusMetrics}. */
export interface PrometheusOptions {
  /** Registry to register the metrics in. Default: prom-client's global `register`. */
  readonly registry?: Registry;
  /** Metric name prefix. Default `'tierlimit_'`. */
  readonly prefix?: string;
  /** Store latency histogram buckets, in seconds. Default: 0.5 ms to 1 s. */
  readonly latencyBuckets?: readonly number[];
}

/**
 * Registers and feeds, for `limiter`:
 *
 * - `<prefix>decisions_total{tier, policy, outcome}` (counter): `outcome` is `allowed`,
 *   `limited` (429 for a limit), `suspended` (429 for a suspension), `refused` (400, 401,
 *   413), `unavailable` (503); `tier` is `none` before a key resolves; `policy` is the
 *   policy the response reported, or `none`;
 * - `<prefix>shadow_limited_total{tier, policy}`: requests a shadow policy would have refused;
 * - `<prefix>degraded_total{tier, mode}`: decisions made without the store;
 * - `<prefix>suspensions_total{policy}`: suspensions started;
 * - `<prefix>store_errors_total`, `<prefix>store_degraded` (1 while the store is failing);
 * - `<prefix>store_duration_seconds` (histogram): store call latency;
 * - `<prefix>memory_store_keys` (gauge): keys held by a memory store;
 * - `<prefix>memory_store_evicted_units_total` (counter): units of live state a full memory
 *   store forgot to make room (`whenFull: 'evict'`): the most it over-admitted;
 * - `<prefix>memory_store_refused_total` (counter): requests a full memory store refused.
 *
 * Returns a handle whose `close()` stops feeding and unregisters the metrics.
 */
export function prometheusMetrics(limiter: RateLimiter, options: PrometheusOptions = {}): { close(): void } {
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? 'tierlimit_';
  const registers = [registry];
  const decisions = new Counter({
    name: `${prefix}decisions_total`,
    help: 'Rate-limit decisions by tier, reported policy and outcome.',
    labelNames: ['tier', 'policy', 'outcome'] as const,
    registers,
  });
  const shadowLimited = new Counter({
    name: `${prefix}shadow_limited_total`,
    help: 'Requests a shadow policy would have refused (they were not refused for it).',
    labelNames: ['tier', 'policy'] as const,
    registers,
  });
  const degraded = new Counter({
    name: `${prefix}degraded_total`,
    help: 'Decisions made without the store (storeFaults.mode local or open).',
    labelNames: ['tier', 'mode'] as const,
    registers,
  });
  const suspensions = new Counter({
    name: `${prefix}suspensions_total`,
    help: 'Suspensions started (an identity kept sending after being limited).',
    labelNames: ['policy'] as const,
    registers,
  });
  const storeErrors = new Counter({
    name: `${prefix}store_errors_total`,
    help: 'Failed or timed-out store calls.',
    registers,
  });
  const storeDegraded = new Gauge({
    name: `${prefix}store_degraded`,
    help: '1 while the store is failing and requests are answered per storeFaults.mode.',
    registers,
    collect() {
      this.set(limiter.degraded ? 1 : 0);
    },
  });
  const storeDuration = new Histogram({
    name: `${prefix}store_duration_seconds`,
    help: 'Store call latency.',
    buckets: [...(options.latencyBuckets ?? [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])],
    registers,
  });
  const memoryKeys = new Gauge({
    name: `${prefix}memory_store_keys`,
    help: 'Keys held by the memory store (0 for other stores).',
    registers,
    collect() {
      // Duck-typed, not instanceof: this entry's CJS build has its own copy of the classes.
      const size = (limiter.store as { size?: unknown }).size;
      this.set(typeof size === 'number' ? size : 0);
    },
  });

  // Duck-typed, as above. A counter only goes up: add what the store counted since the last scrape.
  const storeCounter = (name: string, help: string, field: 'evictedUnits' | 'refusedForSpace') => {
    let seen = 0;
    return new Counter({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        const value = (limiter.store as unknown as Record<string, unknown>)[field];
        if (typeof value === 'number' && value > seen) {
          this.inc(value - seen);
          seen = value;
        }
      },
    });
  };
  const evictedUnits = storeCounter(
    'memory_store_evicted_units_total',
    "Units of live state a full memory store forgot to make room for new keys (whenFull: 'evict'): the most it over-admitted.",
    'evictedUnits',
  );
  const refusedForSpace = storeCounter(
    'memory_store_refused_total',
    'Requests a full memory store refused (503) because it had no room for their new key.',
    'refusedForSpace',
  );

  const record = (outcome: string) => (decision: Decision) => {
    const tier = decision.tier ?? 'none';
    const suspended = decision.code === 'SUSPENDED';
    decisions.inc({
      tier,
      policy: decision.policy?.policy ?? 'none',
      outcome: suspended ? 'suspended' : decision.status === 503 ? 'unavailable' : outcome,
    });
    if (decision.degraded !== undefined) degraded.inc({ tier, mode: decision.degraded });
  };
  const listeners = {
    allowed: record('allowed'),
    limited: record('limited'),
    refused: record('refused'),
    shadowLimited: ({ policy, decision }: { policy: string; decision: Decision }) =>
      shadowLimited.inc({ tier: decision.tier ?? 'none', policy }),
    suspended: ({ policy }: { policy: string }) => suspensions.inc({ policy }),
    storeError: () => storeErrors.inc(),
    storeLatency: (ms: number) => storeDuration.observe(ms / 1000),
  };
  for (const [event, listener] of Object.entries(listeners)) limiter.on(event as 'allowed', listener as never);

  return {
    close() {
      for (const [event, listener] of Object.entries(listeners)) limiter.off(event as 'allowed', listener as never);
      for (const metric of [
        decisions,
        shadowLimited,
        degraded,
        suspensions,
        storeErrors,
        storeDegraded,
        storeDuration,
        memoryKeys,
        evictedUnits,
        refusedForSpace,
      ]) {
        registry.removeSingleMetric((metric as unknown as { name: string }).name);
      }
    },
  };
}
