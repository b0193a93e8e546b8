/**
 * One benchmark server, run by bench/run.mjs as a child process:
 *   node [--expose-gc] bench/servers/server.mjs <express|koa|fastify> <variant>
 * It listens on 127.0.0.1 (a free port), reports `{ type: 'ready', port }` over IPC and
 * answers the runner's questions: `stats` (its CPU time, requests served, Redis commands
 * sent, store errors) and `memory` (heap after a full GC). It exits when the runner goes.
 */
import { connecting, counters } from './common.mjs';

const [framework, variant] = process.argv.slice(2);
const frameworks = {
  express: () => import('./express.mjs'),
  koa: () => import('./koa.mjs'),
  fastify: () => import('./fastify.mjs'),
};

function memory() {
  if (typeof globalThis.gc !== 'function') throw new Error('start the server with --expose-gc to measure memory');
  // Several passes: the first may only promote, weak references need a second.
  for (let i = 0; i < 4; i++) globalThis.gc();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers, rss: usage.rss };
}

const answers = {
  stats: () => ({ cpu: process.cpuUsage(), ...counters }),
  memory,
};

async function main() {
  const load = frameworks[framework];
  if (load === undefined) throw new Error(`unknown framework ${framework}`);
  const module = await load();
  if (!module.variants.includes(variant)) throw new Error(`unknown variant ${framework}/${variant}`);
  const server = await module.start(variant);
  await Promise.all(connecting);
  process.on('message', (message) => {
    try {
      process.send({ id: message.id, value: answers[message.type]() });
    } catch (error) {
      process.send({ id: message.id, error: String(error?.stack ?? error) });
    }
  });
  // The runner went away (finished, crashed or Ctrl-C): never outlive it.
  process.on('disconnect', () => {
    server.close();
    process.exit(0);
  });
  process.send({ type: 'ready', port: server.port });
}

main().catch((error) => {
  console.error(`[bench server] ${framework}/${variant} failed to start:`, error);
  process.exit(1);
});
