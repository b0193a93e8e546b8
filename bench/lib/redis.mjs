/**
 * A private redis-server on a free loopback port for the Redis variants (as
 * test/support/redis-server.ts does for the tests), and the counters read around each run:
 * INFO commandstats (calls per command, including commands run inside Lua scripts) and
 * INFO cpu (the server's own CPU time).
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/free-port.mjs';
import { stop, track } from './processes.mjs';

export function redisInstalled() {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Commands the runner itself sends between runs; never counted against a variant. */
const HARNESS = new Set(['info', 'flushall', 'config|resetstat', 'ping', 'hello', 'client|setinfo']);

export class RedisServer {
  #child;
  #admin;
  port = 0;

  static async start() {
    const server = new RedisServer();
    server.port = await freePort();
    server.#child = track(
      'redis-server',
      ['--port', String(server.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    server.#admin = new Redis({
      port: server.port,
      host: '127.0.0.1',
      retryStrategy: () => 50,
      maxRetriesPerRequest: 1,
    });
    server.#admin.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on port ${server.port} did not start`)), 10_000);
      server.#child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited at start (${code})`));
      });
      server.#admin.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return server;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid() {
    return this.#child.pid;
  }

  flush() {
    return this.#admin.flushall();
  }

  /** Calls per command since start (commands run by scripts included), without the runner's own. */
  async commandCalls() {
    const text = await this.#admin.info('commandstats');
    const calls = {};
    for (const line of text.split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
      if (match && !HARNESS.has(match[1])) calls[match[1]] = Number(match[2]);
    }
    return calls;
  }

  /** redis-server's CPU time (user + system), in microseconds. */
  async cpuMicros() {
    const text = await this.#admin.info('cpu');
    const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
    return Math.round((field('used_cpu_user') + field('used_cpu_sys')) * 1e6);
  }

  async close() {
    this.#admin?.disconnect();
    if (this.#child) await stop(this.#child);
  }
}

/** Per-command difference of two commandCalls() snapshots. */
export function callsBetween(before, after) {
  const delta = {};
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0);
    if (d > 0) delta[name] = d;
  }
  return delta;
}
