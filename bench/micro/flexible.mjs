/**
 * The same measurements on rate-limiter-flexible's RateLimiterMemory, for comparison:
 *   node --expose-gc bench/micro/flexible.mjs '{"keys":1000000}'
 *
 * Its API is asynchronous (consume() returns a promise), so decisions are issued in
 * batches of 1,000 and awaited together. It keeps one timer per key: the keys are created
 * in one synchronous pass, so their timers share one start and expire together, which is
 * when the event loop is watched.
 */
import { performance } from 'node:perf_hooks';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { UNREACHABLE } from '../servers/common.mjs';
import { eventLoopGaps, heapAfterGc, median, report, sleep } from './measure.mjs';

const settings = {
  keys: 1_000_000,
  hotSamples: 5,
  hotMs: 1_000,
  durationSeconds: 15,
  ...JSON.parse(process.argv[2] ?? '{}'),
};

async function rateOverAsync(ms, consume) {
  let calls = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  const batch = new Array(1_000);
  while (now < end) {
    for (let i = 0; i < batch.length; i++) batch[i] = consume();
    await Promise.all(batch);
    calls += batch.length;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

async function hotKey() {
  const limiter = new RateLimiterMemory({ points: UNREACHABLE, duration: 60 });
  const consume = () => limiter.consume('10.0.0.1');
  await rateOverAsync(settings.hotMs, consume);
  const samples = [];
  for (let i = 0; i < settings.hotSamples; i++) samples.push(await rateOverAsync(settings.hotMs, consume));
  return { decisionsPerSecond: median(samples), samples };
}

async function newKeys() {
  const limiter = new RateLimiterMemory({ points: UNREACHABLE, duration: settings.durationSeconds });
  await limiter.consume('warm');
  const names = new Array(settings.keys);
  for (let i = 0; i < settings.keys; i++) names[i] = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
  const before = heapAfterGc();
  // A fresh event-loop turn, so libuv's cached clock (every timer's start) is now: the
  // timers then expire where this process expects them to.
  await sleep(20);
  // One synchronous pass: every key's timer gets the same start, as when a burst of new
  // clients arrives within one event-loop turn.
  const start = performance.now();
  let pending = new Array(settings.keys);
  for (let i = 0; i < settings.keys; i++) pending[i] = limiter.consume(names[i]);
  const created = performance.now();
  await Promise.all(pending);
  pending = undefined;
  const seconds = (performance.now() - start) / 1000;
  const after = heapAfterGc();
  const expiresAt = start + settings.durationSeconds * 1000;
  if (expiresAt - performance.now() < 3_500) {
    throw new Error(`the keys took too long to create; raise durationSeconds (${settings.durationSeconds})`);
  }
  const idle = await eventLoopGaps(1_000);
  await sleep(Math.max(0, expiresAt - performance.now() - 2_000));
  // The storage map, to check that the expiry really happened while we watched.
  const storage = limiter._memoryStorage?._storage;
  const sizeBefore = storage?.size;
  // Each key's timer started when the key was created, so they expire over as long as the
  // pass took: watch until the last one has gone.
  const stall = await eventLoopGaps(settings.durationSeconds * 1_000, () => storage?.size === 0);
  const sizeAfter = storage?.size;
  const afterExpiry = heapAfterGc();
  names.length = 0;
  return {
    keys: settings.keys,
    decisionsPerSecond: settings.keys / seconds,
    seconds,
    syncPassSeconds: (created - start) / 1000,
    bytesPerKey: (after.total - before.total) / settings.keys,
    heapBytesPerKey: (after.heapUsed - before.heapUsed) / settings.keys,
    expiry: {
      idleMaxGapMs: idle.maxGapMs,
      maxGapMs: stall.maxGapMs,
      p99GapMs: stall.p99GapMs,
      watchedSeconds: stall.watchedMs / 1000,
      keysBeforeWatch: sizeBefore,
      keysAfterWatch: sizeAfter,
      bytesAfterExpiry: afterExpiry.total - before.total,
    },
  };
}

const result = { hot: await hotKey() };
result.newKeys = await newKeys();
report(result);
