/**
 * Starts private redis-server processes on free loopback ports for tests, and breaks them
 * on demand (pause with SIGSTOP, kill, restart, flush the script cache).
 *
 * Without redis-server on PATH the Redis suites skip with a message, except under CI
 * (`CI=true`), where a missing Redis fails the run: .ci/run installs Debian's redis-server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export function redisAvailable(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI)
      throw new Error('redis-server is not installed: CI must run the Redis tests (.ci/run installs it).');
    return false;
  }
}

/** `describe` when redis-server exists, else `describe.skip` with the reason printed once. */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisAvailable()) {
    describe(name, body);
  } else {
    console.warn(`skipping "${name}": redis-server is not installed (apt-get install redis-server)`);
    describe.skip(name, body);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  readonly port: number;
  readonly #extraArgs: string[];
  #process: ChildProcess | undefined;

  private constructor(port: number, extraArgs: string[]) {
    this.port = port;
    this.#extraArgs = extraArgs;
  }

  static async start(extraArgs: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extraArgs);
    await server.restart();
    return server;
  }

  /** A server object for a free port where nothing listens yet (Redis "down at boot"). */
  static async reserve(): Promise<RedisServer> {
    return new RedisServer(await freePort(), []);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or starts again) redis-server on this port and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.#process && this.#process.exitCode === null && this.#process.signalCode === null) return;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.#extraArgs],
      { stdio: 'ignore' },
    );
    this.#process = child;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.cli('PING') === 'PONG') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** Runs a redis-cli command against this server; returns its output, or undefined if it failed. */
  cli(...args: string[]): string | undefined {
    try {
      return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args], {
        encoding: 'utf8',
        timeout: 2_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return undefined;
    }
  }

  pause(): void {
    this.#process?.kill('SIGSTOP');
  }

  resume(): void {
    this.#process?.kill('SIGCONT');
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

/** A three-master Redis Cluster on loopback, for the store suite's cluster target. */
export class RedisCluster {
  readonly nodes: RedisServer[];

  private constructor(nodes: RedisServer[]) {
    this.nodes = nodes;
  }

  static async start(size = 3): Promise<RedisCluster> {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'tierlimit-cluster-'));
    const nodes: RedisServer[] = [];
    for (let i = 0; i < size; i++) {
      nodes.push(
        await RedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir]),
      );
    }
    execFileSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { stdio: 'ignore', timeout: 30_000 },
    );
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (nodes.every((node) => node.cli('CLUSTER', 'INFO')?.includes('cluster_state:ok')))
        return new RedisCluster(nodes);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the Redis Cluster did not reach cluster_state:ok');
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}
