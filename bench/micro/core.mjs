/**
 * Core microbenchmark (no HTTP), on the built @tierlimit/core (dist):
 *   node --expose-gc bench/micro/core.mjs '{"keys":1000000,"hotSamples":5,"stallSeconds":5}'
 *
 * - decisions/s for one hot key: `limiter.check()` with the default memory store and the
 *   benchmark tier config (per-IP policy + per-key `api` policy, headers rendered);
 * - decisions/s and heap per key for `keys` new client addresses (one new store key each,
 *   answered synchronously), and for `apiKeys` new API keys (resolver, SHA-256, tier cache);
 * - the event-loop stall while the store reclaims those keys once its clock is moved past
 *   the window (the longest gap of a 1 ms interval), and the time of one explicit full sweep.
 */
import { performance } from 'node:perf_hooks';
import { createRateLimiter } from '@tierlimit/core';
import { tierlimitOptions, WINDOW_MS } from '../servers/common.mjs';
import { eventLoopGaps, heapAfterGc, median, rateOver, report, sleep } from './measure.mjs';

const settings = {
  keys: 1_000_000,
  apiKeys: 1_000_000,
  hotSamples: 5,
  hotMs: 1_000,
  stallSeconds: 5,
  ...JSON.parse(process.argv[2] ?? '{}'),
};
const quiet = { onWarning: () => undefined };

function ipOf(i) {
  return `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

async function hotKey() {
  const limiter = createRateLimiter(tierlimitOptions(quiet));
  const facts = { ip: '10.0.0.1', headers: { 'x-api-key': 'bench-hot' } };
  await limiter.check(facts); // the first check of a key asks the resolver (async); the rest are synchronous
  let refused = 0;
  const body = () => {
    const decision = limiter.check(facts);
    if (decision.allowed !== true) refused++;
  };
  rateOver(settings.hotMs, body); // warm-up
  const samples = [];
  for (let i = 0; i < settings.hotSamples; i++) samples.push(rateOver(settings.hotMs, body));
  if (refused > 0) throw new Error(`hot key: ${refused} checks were not allowed (promise or refusal)`);
  await limiter.close();
  return { decisionsPerSecond: median(samples), samples };
}

/** `count` new client addresses through one limiter with a clock we control; then their expiry. */
async function newAddresses() {
  let clock = Date.now();
  const limiter = createRateLimiter(tierlimitOptions({ ...quiet, now: () => clock }));
  const store = limiter.store;
  const headers = { 'x-api-key': 'bench-hot' };
  await limiter.check({ ip: '10.255.255.255', headers });
  const facts = new Array(settings.keys);
  for (let i = 0; i < settings.keys; i++) facts[i] = { ip: ipOf(i), headers };
  const sizeBefore = store.size;
  const before = heapAfterGc();
  const start = performance.now();
  for (let i = 0; i < facts.length; i++) {
    const decision = limiter.check(facts[i]);
    if (decision.allowed !== true) throw new Error(`new address ${i}: not allowed synchronously`);
  }
  const seconds = (performance.now() - start) / 1000;
  const after = heapAfterGc();
  const tracked = store.size - sizeBefore;

  const fill = {
    decisions: settings.keys,
    keys: tracked,
    decisionsPerSecond: settings.keys / seconds,
    seconds,
    bytesPerKey: (after.total - before.total) / tracked,
    heapBytesPerKey: (after.heapUsed - before.heapUsed) / tracked,
    externalBytesPerKey: (after.external - before.external) / tracked,
  };
  if (settings.expiry === false) {
    await limiter.close();
    return fill;
  }

  // Expiry: idle baseline, then the store's clock moves past the window and its own
  // background sweep reclaims the keys while a 1 ms interval watches the event loop.
  const idle = await eventLoopGaps(1_000);
  clock += WINDOW_MS + 1_000;
  const sizeAtExpiry = store.size;
  const stall = await eventLoopGaps(settings.stallSeconds * 1_000);
  const reclaimedInWindow = sizeAtExpiry - store.size;
  const sweepStart = performance.now();
  const reclaimedBySweep = store.sweep();
  const fullSweepMs = performance.now() - sweepStart;
  const afterSweep = heapAfterGc();
  facts.length = 0;
  await limiter.close();
  return {
    ...fill,
    expiry: {
      idleMaxGapMs: idle.maxGapMs,
      maxGapMs: stall.maxGapMs,
      p99GapMs: stall.p99GapMs,
      watchedSeconds: settings.stallSeconds,
      reclaimedInWindow,
      fullSweepMs,
      reclaimedBySweep,
      sizeAfter: store.size,
      bytesAfterSweep: afterSweep.total - before.total,
    },
  };
}

/** `count` new API keys: a resolver call, a SHA-256 and a tier-cache entry each (promises, awaited in batches). */
async function newApiKeys() {
  const limiter = createRateLimiter(tierlimitOptions(quiet));
  const store = limiter.store;
  const count = settings.apiKeys;
  const facts = new Array(count);
  for (let i = 0; i < count; i++) facts[i] = { ip: '10.0.0.1', headers: { 'x-api-key': `bench-k${i}` } };
  await limiter.check({ ip: '10.0.0.1', headers: { 'x-api-key': 'bench-warm' } });
  const sizeBefore = store.size;
  const before = heapAfterGc();
  const start = performance.now();
  const batch = [];
  for (let i = 0; i < count; i++) {
    batch.push(limiter.check(facts[i]));
    if (batch.length === 1_000 || i === count - 1) {
      for (const decision of await Promise.all(batch)) {
        if (decision.allowed !== true) throw new Error('new API key: not allowed');
      }
      batch.length = 0;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  const after = heapAfterGc();
  const tracked = store.size - sizeBefore;
  facts.length = 0;
  await limiter.close();
  return {
    keys: tracked,
    decisionsPerSecond: count / seconds,
    seconds,
    bytesPerKey: (after.total - before.total) / tracked,
  };
}

// `only` narrows the run to one part, for `bench profile core/hot` and `core/new`.
const only = settings.only;
const result = {};
if (only === undefined || only === 'hot') result.hot = await hotKey();
await sleep(100);
if (only === undefined || only === 'new') result.newAddresses = await newAddresses();
if (only === undefined && settings.apiKeys > 0) result.newApiKeys = await newApiKeys();
report(result);
