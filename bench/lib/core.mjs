/** Section 4: the core microbenchmarks, each in its own process (bench/micro/*.mjs) so heaps never mix. */
import { fileURLToPath } from 'node:url';
import { track } from './processes.mjs';

function runMicro(file, settings, nodeArgs = []) {
  const path = fileURLToPath(new URL(`../micro/${file}`, import.meta.url));
  const child = track(process.execPath, ['--expose-gc', ...nodeArgs, path, JSON.stringify(settings)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return new Promise((resolve, reject) => {
    let result;
    child.on('message', (message) => {
      result = message;
    });
    child.once('exit', (code, signal) => {
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`bench/micro/${file} failed (${signal ?? code})`));
    });
  });
}

/** `only` ('hot' or 'new') runs one part of the tierlimit microbenchmark, without the comparison (for profiles). */
export async function runCore({ settings, log, nodeArgs = [], only }) {
  log('  tierlimit core (createRateLimiter().check, default memory store)...');
  const tierlimit = await runMicro(
    'core.mjs',
    {
      keys: settings.coreKeys,
      // New API keys cost a SHA-256 each: a fifth of the keys shows the rate and the memory.
      apiKeys: Math.max(1_000, Math.round(settings.coreKeys / 5)),
      hotSamples: 5,
      stallSeconds: settings.stallSeconds,
      // A profile of new keys covers the fill only, not the expiry that follows.
      ...(only === undefined ? {} : { only, expiry: false }),
    },
    nodeArgs,
  );
  const parts = [];
  if (tierlimit.hot) parts.push(`hot key ${fmt(tierlimit.hot.decisionsPerSecond)}/s`);
  if (tierlimit.newAddresses) {
    const n = tierlimit.newAddresses;
    parts.push(
      `new addresses ${fmt(n.decisionsPerSecond)}/s, ${n.bytesPerKey.toFixed(0)} bytes/key${n.expiry ? `, expiry stall ${n.expiry.maxGapMs.toFixed(1)} ms` : ''}`,
    );
  }
  if (tierlimit.newApiKeys) parts.push(`new API keys ${fmt(tierlimit.newApiKeys.decisionsPerSecond)}/s`);
  log(`    ${parts.join(', ')}`);
  if (only !== undefined) return { tierlimit };
  log("  rate-limiter-flexible's RateLimiterMemory...");
  const flexible = await runMicro('flexible.mjs', {
    keys: settings.coreKeys,
    hotSamples: 5,
    durationSeconds: settings.flexibleDurationSeconds,
  });
  log(
    `    hot key ${fmt(flexible.hot.decisionsPerSecond)}/s, new keys ${fmt(flexible.newKeys.decisionsPerSecond)}/s, ${flexible.newKeys.bytesPerKey.toFixed(0)} bytes/key, expiry stall ${flexible.newKeys.expiry.maxGapMs.toFixed(1)} ms`,
  );
  const watched = flexible.newKeys.expiry;
  if (watched.keysAfterWatch !== undefined && watched.keysAfterWatch > 0.01 * settings.coreKeys) {
    log(`    WARNING: rate-limiter-flexible's keys did not all expire while watched (${watched.keysAfterWatch} left)`);
  }
  return { tierlimit, flexible };
}

function fmt(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`;
}
