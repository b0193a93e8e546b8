/**
 * Section 3: memory per tracked key over HTTP. Each server (started with --expose-gc, the
 * peers keyed by the X-API-Key header instead of the address) is warmed up, measured (heap
 * plus external memory after full GCs), sent `keys` requests each with a new API key, and
 * measured again: the difference over the keys it served is what each key costs it. The
 * bare framework is the control: whatever it shows is the harness's own noise.
 */
import { ROUTE } from '../servers/route.mjs';
import { load } from './load.mjs';
import { ServerProcess } from './server-process.mjs';

export const KEY_VARIANTS = ['bare', 'tierlimit-memory', 'peer-memory'];

export async function runKeys({ settings, log }) {
  const rows = [];
  for (const framework of settings.frameworks) {
    for (const variant of KEY_VARIANTS) {
      const server = await ServerProcess.start({
        framework,
        variant,
        env: { BENCH_KEY_MODE: 'header', BENCH_KEY_CAPACITY: String(settings.keys + 50_000) },
        nodeArgs: ['--expose-gc'],
      });
      try {
        const url = `http://127.0.0.1:${server.port}${ROUTE}`;
        const connections = settings.connections;
        await load({ url, connections, amount: Math.min(5_000, settings.keys), uniqueKeys: 'warm' });
        const before = await server.ask('memory');
        const stats0 = await server.ask('stats');
        // The bare control only shows the harness's noise: fewer keys do.
        const amount = variant === 'bare' ? Math.min(settings.keys, 20_000) : settings.keys;
        const result = await load({ url, connections, amount, uniqueKeys: 'run' });
        const stats1 = await server.ask('stats');
        const after = await server.ask('memory');
        const keys = stats1.served - stats0.served;
        const row = {
          framework,
          variant,
          keys,
          bytesPerKey: (after.heapUsed + after.external - (before.heapUsed + before.external)) / keys,
          heapBytesPerKey: (after.heapUsed - before.heapUsed) / keys,
          externalBytesPerKey: (after.external - before.external) / keys,
          rssBytesPerKey: (after.rss - before.rss) / keys,
          rps: result.rps,
          non2xx: result.non2xx,
        };
        rows.push(row);
        log(
          `  ${framework.padEnd(8)}${variant.padEnd(18)}${row.bytesPerKey.toFixed(0).padStart(6)} bytes/key  (${keys} keys, ${Math.round(row.rps)} new keys/s${row.non2xx ? `, ${row.non2xx} non-2xx` : ''})`,
        );
      } finally {
        await server.close();
      }
    }
  }
  return rows;
}
