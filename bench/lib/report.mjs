/** Renders the results as Markdown: bench/results/latest.md and the README's Benchmarks section. */
import { PEERS } from './http.mjs';

const NOISE = 0.05;
const FRAMEWORK_NAMES = { express: 'Express', koa: 'Koa', fastify: 'Fastify' };

export const f0 = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
export const f1 = (n) => (Number.isFinite(n) ? n.toFixed(1) : '–');
export const f2 = (n) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const millions = (n) => (Number.isFinite(n) ? `${(n / 1e6).toFixed(2)} M` : '–');

function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function describeVariant(framework, variant, versions) {
  const peer = PEERS[framework];
  switch (variant) {
    case 'bare':
      return `${FRAMEWORK_NAMES[framework]} ${versions[framework] ?? ''}, no limiter`;
    case 'tierlimit-memory':
      return 'tierlimit, memory store';
    case 'tierlimit-redis':
      return 'tierlimit, Redis store';
    case 'peer-memory':
      return peer.memory;
    case 'peer-redis':
      return peer.redis;
    case 'headers-only':
      return 'no limiter, the three X-RateLimit-* headers only (the floor)';
    case 'ping-redis':
      return 'no limiter, one Redis PING per request (the floor)';
    default:
      return variant;
  }
}

/** "met" / "missed by x" for a ratio target (higher is better). */
export function ratioVerdict(value, target) {
  if (!Number.isFinite(value)) return 'not measured';
  if (value >= target) return `met (≥ ${f2(target)})`;
  const gap = target - value;
  return `**missed** (≥ ${f2(target)}; short by ${f2(gap)}${gap < NOISE ? ', within noise' : ''})`;
}

function atLeast(value, target, unit) {
  if (!Number.isFinite(value)) return 'not measured';
  return value >= target ? `met (≥ ${unit(target)})` : `**missed** (≥ ${unit(target)})`;
}

function atMost(value, target, unit) {
  if (!Number.isFinite(value)) return 'not measured';
  return value <= target ? `met (≤ ${unit(target)})` : `**missed** (≤ ${unit(target)})`;
}

export function header(results) {
  const { machine: m, settings: s } = results;
  return [
    `Measured ${results.date} on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), Node ${m.node}, ${m.os}, redis-server ${m.redis}.`,
    `Load average (1 min) ${results.loadAverage?.start} before the run, ${results.loadAverage?.end} at its end (the benchmark itself keeps about 2 busy)${Number.isFinite(results.http?.otherCores) ? `; other processes used ${f2(results.http.otherCores)} cores on average during the HTTP runs (median ${f2(results.http.otherCoresMedian)}, max ${f2(results.http.otherCoresMax)}); ${results.http.retried} measurements were taken again because of it, ${results.http.noisy} of ${results.http.runs.length} kept still had more than ${results.settings.maxOtherLoad} cores of other load` : ''}.`,
    `\`${results.command}\`: ${s.rounds} rounds, ${s.duration} s per variant per round after a ${s.warmup} s warm-up, ${s.connections} connections (autocannon ${results.versions.autocannon} in the runner process, each server in its own process, all on 127.0.0.1). Wall time ${results.wallTime}.`,
  ].join('\n');
}

export function httpTables(results, { compact = false } = {}) {
  const out = [];
  const summary = results.http?.summary ?? [];
  for (const framework of results.settings.frameworks) {
    const rows = summary.filter((r) => r.framework === framework);
    if (rows.length === 0) continue;
    const body = rows.map((r) => {
      const ratio =
        r.variant === 'bare'
          ? '1.00'
          : r.ratio
            ? `**${f2(r.ratio.median)}** (${f2(r.ratio.min)}–${f2(r.ratio.max)})`
            : '–';
      const redis = r.redis ? f2(r.redis.sentPerRequest) : '';
      const target = r.target === undefined ? '' : ratioVerdict(r.ratio?.median, r.target);
      const cells = [
        describeVariant(framework, r.variant, results.versions),
        f0(r.rps),
        ratio,
        r.variant === 'bare' ? '1.00' : f2(r.cpuRatio),
        f0(r.p99Ms),
        f1(r.cpuMicrosPerRequest),
        f1(r.totalCpuMicrosPerRequest),
        redis,
      ];
      if (!compact) cells.push(target);
      return cells;
    });
    const head = [
      FRAMEWORK_NAMES[framework],
      'req/s',
      'ratio to bare (min–max)',
      'CPU-bound ratio',
      'p99 ms',
      'server CPU µs/req',
      'all CPU µs/req',
      'Redis cmds/req',
    ];
    if (!compact) head.push('target');
    out.push(table(head, body));
  }
  return out.join('\n\n');
}

function redisTables(results) {
  const out = [];
  const rows = (results.http?.summary ?? []).filter((r) => r.redis);
  if (rows.length > 0) {
    out.push(
      table(
        [
          'framework',
          'variant',
          'commands sent/req (client)',
          'script calls/req (server)',
          'commands executed/req (incl. inside scripts)',
          'redis-server CPU µs/req',
        ],
        rows.map((r) => [
          FRAMEWORK_NAMES[r.framework],
          describeVariant(r.framework, r.variant, results.versions),
          f2(r.redis.sentPerRequest),
          f2(r.redis.scriptCallsPerRequest),
          `${f2(r.redis.commandsPerRequest)} (${Object.entries(r.redis.breakdown)
            .map(([k, v]) => `${k} ${f2(v)}`)
            .join(', ')})`,
          f1(r.redis.cpuMicrosPerRequest),
        ]),
      ),
    );
  }
  if (results.roundTrips?.length) {
    out.push(
      'Directly through `limiter.check()` on the Redis store, 1,000 decisions per case:',
      table(
        ['case', 'policies', 'commands sent/decision', 'script calls/decision', 'verdict'],
        results.roundTrips.map((r) => [
          r.case,
          r.policies,
          f2(r.sentPerCheck),
          f2(r.scriptCallsPerCheck),
          Math.abs(r.sentPerCheck - 1) < 0.005 && Math.abs(r.scriptCallsPerCheck - 1) < 0.005 && r.storeErrors === 0
            ? 'one round trip'
            : '**not one round trip**',
        ]),
      ),
    );
  }
  return out.join('\n\n');
}

function keysTable(results) {
  const rows = results.keys ?? [];
  if (rows.length === 0) return '';
  return table(
    ['framework', 'variant', 'keys', 'bytes/key (heap + external)', 'heap', 'external', 'new keys/s'],
    rows.map((r) => [
      FRAMEWORK_NAMES[r.framework],
      r.variant === 'bare' ? 'bare (control)' : describeVariant(r.framework, r.variant, results.versions),
      f0(r.keys),
      `**${f0(r.bytesPerKey)}**`,
      f0(r.heapBytesPerKey),
      f0(r.externalBytesPerKey),
      f0(r.rps),
    ]),
  );
}

export function coreTable(results) {
  const core = results.core;
  if (core === undefined) return '';
  const t = core.tierlimit;
  const x = core.flexible;
  const keys = f0(t.newAddresses.decisions ?? t.newAddresses.keys);
  return table(
    ['measure', 'tierlimit core', "rate-limiter-flexible's RateLimiterMemory", 'target (tierlimit)'],
    [
      [
        'decisions/s, one hot key',
        millions(t.hot.decisionsPerSecond),
        x ? `${millions(x.hot.decisionsPerSecond)} (async, batches of 1,000)` : '–',
        atLeast(t.hot.decisionsPerSecond, 5e6, millions),
      ],
      [
        `decisions/s, ${keys} new keys (new client addresses)`,
        millions(t.newAddresses.decisionsPerSecond),
        x ? millions(x.newKeys.decisionsPerSecond) : '–',
        atLeast(t.newAddresses.decisionsPerSecond, 1e6, millions),
      ],
      [
        `decisions/s, ${f0(t.newApiKeys?.keys)} new API keys (resolver + SHA-256 + tier cache each)`,
        millions(t.newApiKeys?.decisionsPerSecond),
        '',
        atLeast(t.newApiKeys?.decisionsPerSecond, 1e6, millions),
      ],
      [
        `bytes per key after GC, ${keys} keys (heap + external)`,
        `**${f0(t.newAddresses.bytesPerKey)}** (heap ${f0(t.newAddresses.heapBytesPerKey)}, typed arrays ${f0(t.newAddresses.externalBytesPerKey)})`,
        x ? `**${f0(x.newKeys.bytesPerKey)}**` : '–',
        atMost(t.newAddresses.bytesPerKey, 150, (n) => `${n} bytes`),
      ],
      ['bytes per key, new API keys (tier cache included)', f0(t.newApiKeys?.bytesPerKey), '', ''],
      ['timers per key', '0 (one `unref`ed sweep timer per store)', '1', ''],
      [
        `longest event-loop gap while ${keys} keys expire (1 ms interval; idle baseline)`,
        `**${f1(t.newAddresses.expiry.maxGapMs)} ms** (idle ${f1(t.newAddresses.expiry.idleMaxGapMs)} ms; ${f0(t.newAddresses.expiry.reclaimedInWindow)} keys reclaimed by the background sweep in ${t.newAddresses.expiry.watchedSeconds} s)`,
        x
          ? `**${f1(x.newKeys.expiry.maxGapMs)} ms** (idle ${f1(x.newKeys.expiry.idleMaxGapMs)} ms; a timer per key, created in one ${f1(x.newKeys.syncPassSeconds)} s pass, all fired within ${f1(x.newKeys.expiry.watchedSeconds)} s)`
          : '–',
        '',
      ],
      [
        'one explicit `store.sweep()` of the remaining expired keys',
        `${f1(t.newAddresses.expiry.fullSweepMs)} ms for ${f0(t.newAddresses.expiry.reclaimedBySweep)} keys`,
        '',
        '',
      ],
    ],
  );
}

export function targetsList(results) {
  const lines = [];
  for (const r of results.http?.summary ?? []) {
    if (r.target === undefined) continue;
    lines.push(
      `- ${FRAMEWORK_NAMES[r.framework]}, ${r.variant}: ratio ${f2(r.ratio.median)} — ${ratioVerdict(r.ratio.median, r.target)}`,
    );
  }
  for (const r of (results.http?.summary ?? []).filter((s) => s.variant === 'tierlimit-redis')) {
    lines.push(
      `- ${FRAMEWORK_NAMES[r.framework]}, tierlimit-redis: ${f2(r.redis.sentPerRequest)} Redis commands per request — ${r.redis.sentPerRequest < 1.005 ? `met (at most one round trip${r.redis.sentPerRequest < 0.995 ? `; under load about ${Math.round(1 / r.redis.sentPerRequest)} requests share one script call` : ''})` : '**missed**'}`,
    );
  }
  const t = results.core?.tierlimit;
  if (t) {
    lines.push(
      `- Core, one hot key: ${millions(t.hot.decisionsPerSecond)}/s — ${atLeast(t.hot.decisionsPerSecond, 5e6, millions)}`,
    );
    lines.push(
      `- Core, new keys (addresses): ${millions(t.newAddresses.decisionsPerSecond)}/s — ${atLeast(t.newAddresses.decisionsPerSecond, 1e6, millions)}`,
    );
    if (t.newApiKeys)
      lines.push(
        `- Core, new API keys: ${millions(t.newApiKeys.decisionsPerSecond)}/s — ${atLeast(t.newApiKeys.decisionsPerSecond, 1e6, millions)}`,
      );
    lines.push(
      `- Memory store, bytes per tracked key (client addresses): ${f0(t.newAddresses.bytesPerKey)} — ${atMost(t.newAddresses.bytesPerKey, 150, (n) => `${n}`)}; no timer per key`,
    );
    if (t.newApiKeys)
      lines.push(
        `- Memory store, bytes per tracked key (API keys, tier cache included): ${f0(t.newApiKeys.bytesPerKey)} — ${atMost(t.newApiKeys.bytesPerKey, 150, (n) => `${n}`)}`,
      );
  }
  return lines.join('\n');
}

export function renderLatest(results, { json = 'latest.json', chart = 'ratios.svg' } = {}) {
  const sections = [
    '# tierlimit benchmarks',
    header(results),
    `Ratios are requests/s divided by the bare framework's in the same round (median over rounds, min–max in brackets). **Differences under 0.05 are noise on these 2-core machines.** See [bench/README.md](../README.md) for what each variant is and how to read the numbers; raw numbers are in [${json}](${json}).`,
    `![Throughput relative to the bare framework](${chart})`,
    '## Targets',
    targetsList(results),
  ];
  if (results.http) {
    sections.push(
      '## 1. HTTP throughput (interleaved rounds)',
      '"CPU-bound ratio" is the bare server\'s CPU time per request divided by the variant\'s: the throughput ratio a server that owns its core would see. On 2 cores the load generator competes with the server, which squeezes req/s ratios toward 1.',
      httpTables(results),
      '## 2. Redis round trips',
      redisTables(results),
    );
  }
  if (results.keys) {
    sections.push(
      '## 3. Memory per tracked key (HTTP, every request a new API key)',
      "Heap used plus external memory of the server process after full GCs, before and after, divided by the keys it served. Peers are keyed by the `X-API-Key` header for this run; @fastify/rate-limit's LRU is sized to hold every key (its default, 5,000, forgets the rest). tierlimit's figure includes its resolver cache (at most 10,000 entries by default).",
      keysTable(results),
    );
  }
  if (results.core) {
    sections.push('## 4. Core microbenchmark (no HTTP, one process, built dist)', coreTable(results));
  }
  if (results.profiles?.length) {
    sections.push('## Profiles', results.profiles.map((p) => `\`\`\`\n${p.text}\n\`\`\``).join('\n\n'));
  }
  return `${sections.filter(Boolean).join('\n\n')}\n`;
}

/** The README's `## Benchmarks` section: one table, frameworks as columns. */
export function renderReadmeSection(results) {
  const t = results.core?.tierlimit;
  const x = results.core?.flexible;
  const frameworks = results.settings.frameworks;
  const summary = results.http?.summary ?? [];
  const row = (framework, variant) => summary.find((r) => r.framework === framework && r.variant === variant);
  const ratioCell = (r) => (r?.ratio ? `${f2(r.ratio.median)} (${f2(r.ratio.min)}–${f2(r.ratio.max)})` : '–');
  const rows = [
    ['bare framework, req/s', ...frameworks.map((fw) => f0(row(fw, 'bare')?.rps))],
    ['tierlimit, memory store', ...frameworks.map((fw) => `**${ratioCell(row(fw, 'tierlimit-memory'))}**`)],
    ['peer, memory store', ...frameworks.map((fw) => ratioCell(row(fw, 'peer-memory')))],
    ['tierlimit, Redis store', ...frameworks.map((fw) => `**${ratioCell(row(fw, 'tierlimit-redis'))}**`)],
    ['peer, Redis store', ...frameworks.map((fw) => ratioCell(row(fw, 'peer-redis')))],
    [
      'Redis commands per request, tierlimit / peer',
      ...frameworks.map(
        (fw) =>
          `${f2(row(fw, 'tierlimit-redis')?.redis?.sentPerRequest)} / ${f2(row(fw, 'peer-redis')?.redis?.sentPerRequest)}`,
      ),
    ],
  ];
  const keys = results.keys ?? [];
  if (keys.length > 0) {
    const bytes = (fw, variant) => f0(keys.find((r) => r.framework === fw && r.variant === variant)?.bytesPerKey);
    rows.push([
      `bytes per tracked key (${f0(keys.find((r) => r.variant !== 'bare')?.keys)} API keys), tierlimit / peer`,
      ...frameworks.map((fw) => `${bytes(fw, 'tierlimit-memory')} / ${bytes(fw, 'peer-memory')}`),
    ]);
  }
  const peers = frameworks.map((fw) => `${FRAMEWORK_NAMES[fw]}: ${PEERS[fw].memory}, ${PEERS[fw].redis}`).join('; ');
  const other = results.http?.otherCores;
  const lines = [
    '## Benchmarks',
    '',
    `\`pnpm bench\` runs each framework bare, with tierlimit (memory and Redis stores) and with its usual peer, in interleaved rounds, each server in its own process ([bench/README.md](bench/README.md)). Latest full run: ${results.date.slice(0, 10)}, ${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, redis-server ${results.machine.redis}${Number.isFinite(other) ? `; other processes used ${f2(other)} cores on average during it` : ''}. Throughput is the ratio to the bare framework in the same round, median of ${results.settings.rounds} rounds (min–max); differences under 0.05 are noise on this machine.`,
    '',
    table(['', ...frameworks.map((fw) => `${FRAMEWORK_NAMES[fw]} ${results.versions[fw] ?? ''}`)], rows),
    '',
    `Peers: ${peers}.`,
  ];
  if (t) {
    lines.push(
      '',
      `Core, no HTTP (\`createRateLimiter().check()\`, memory store): ${millions(t.hot.decisionsPerSecond)} decisions/s on one hot key, ${millions(t.newAddresses.decisionsPerSecond)}/s on ${f0(t.newAddresses.decisions ?? t.newAddresses.keys)} new keys, ${f0(t.newAddresses.bytesPerKey)} bytes per key, no timer per key, and a ${f1(t.newAddresses.expiry.maxGapMs)} ms longest event-loop gap while they expire${x ? ` (rate-limiter-flexible's RateLimiterMemory: ${millions(x.hot.decisionsPerSecond)}/s, ${millions(x.newKeys.decisionsPerSecond)}/s, ${f0(x.newKeys.bytesPerKey)} bytes per key, a timer per key, ${f1(x.newKeys.expiry.maxGapMs)} ms)` : ''}.`,
    );
  }
  lines.push('', 'Every table, the targets and profiles: [bench/results/latest.md](bench/results/latest.md).', '');
  return lines.join('\n');
}
