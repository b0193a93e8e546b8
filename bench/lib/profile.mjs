/** Reads a V8 .cpuprofile and lists the functions with the most self time. */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/** Which package a function belongs to: `@tierlimit/core`, `ioredis`, `node` internals, or `native` (syscalls, GC). */
function moduleOf(functionName, url) {
  if (!url) return functionName.startsWith('(') ? functionName : 'native (syscalls, builtins)';
  if (url.startsWith('node:')) return 'node';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const tierlimit = /\/packages\/([^/]+)\/dist\//.exec(path);
  if (tierlimit) return `@tierlimit/${tierlimit[1]}`;
  const inModules = /.*node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (inModules) return inModules[1];
  if (path.includes('/bench/')) return 'bench harness';
  return path;
}

function shortUrl(url, root) {
  if (!url) return '';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/(.+)$/.exec(path);
  if (pnpm) return pnpm[1];
  return path.startsWith('/') ? relative(root, path) : path;
}

/**
 * @returns {{ totalMs: number, busyMs: number, top: Array<{ name: string, where: string, selfMs: number, percentOfBusy: number }> }}
 */
export function summarizeProfile(file, { root, limit = 20 } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfById = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfById.set(id, (selfById.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map();
  const byModule = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfById) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    totalUs += us;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const module = moduleOf(functionName, url);
    byModule.set(module, (byModule.get(module) ?? 0) + us);
    const where = url ? `${shortUrl(url, root)}:${lineNumber + 1}` : '';
    const key = `${functionName}\u0000${where}`;
    const entry = byFunction.get(key) ?? { name: functionName || '(anonymous)', where, selfUs: 0 };
    entry.selfUs += us;
    byFunction.set(key, entry);
  }
  const busyUs = totalUs - idleUs;
  const top = [...byFunction.values()]
    .sort((a, b) => b.selfUs - a.selfUs)
    .slice(0, limit)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.selfUs / 1000, percentOfBusy: (100 * e.selfUs) / busyUs }));
  const modules = [...byModule.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, selfMs: us / 1000, percentOfBusy: (100 * us) / busyUs }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, top, modules };
}

export function formatProfile(title, summary) {
  const lines = [
    `${title}: ${summary.busyMs.toFixed(0)} ms busy of ${summary.totalMs.toFixed(0)} ms sampled`,
    `  by module: ${summary.modules
      .filter((m) => m.percentOfBusy >= 1)
      .map((m) => `${m.name} ${m.percentOfBusy.toFixed(1)}%`)
      .join(', ')}`,
    '  self %   self ms  function (where)',
  ];
  for (const entry of summary.top) {
    lines.push(
      `  ${entry.percentOfBusy.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(0).padStart(7)}  ${entry.name}${entry.where ? ` (${entry.where})` : ''}`,
    );
  }
  return lines.join('\n');
}
