/**
 * Runs one README code block as a user would (`tsx file.ts`), on loopback and within a
 * time bound. A server block runs with loopback-listen.cjs preloaded, so whatever it
 * passes to `listen` it binds 127.0.0.1 on a free port; it then gets its request and a
 * second one with the API key `constructor`, and is killed. Any other block must exit
 * with status 0 in time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { CodeBlock } from './snippets';

const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const preload = join(__dirname, 'loopback-listen.cjs');
const LISTENING = /^tierlimit-snippet-listening (\d+)$/m;

export interface RunOptions {
  readonly file: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** The block starts a server: wait for it to listen, send one request, then stop it. */
  readonly server: boolean;
  /** Longest wait for the server to listen, or for any other block to exit, in ms. */
  readonly timeoutMs: number;
}

export interface RunResult {
  /** What went wrong, or undefined when the block did what it should. */
  readonly failure: string | undefined;
  /** The status of the server's answer, for server blocks. */
  readonly status: number | undefined;
  readonly ms: number;
}

const REQUEST_TIMEOUT_MS = 5_000;

export async function runSnippet(block: CodeBlock, options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  // Its own process group, so the stop below also reaches the node process tsx starts.
  const child = spawn(tsx, ['--require', preload, options.file], {
    cwd: options.cwd,
    env: { ...inheritedEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (error) => resolve(error.message));
  });
  // Indented, so that jest does not take the block's stack traces for the test's own.
  const tail = () =>
    output
      .trim()
      .split('\n')
      .slice(-15)
      .map((line) => `  | ${line}`)
      .join('\n');
  const result = (failure: string | undefined, status?: number): RunResult => ({
    failure: failure === undefined ? undefined : `${failure}\n${tail()}`,
    status,
    ms: Math.round(performance.now() - started),
  });

  try {
    if (!options.server) {
      const outcome = await Promise.race([exited, delay(options.timeoutMs)]);
      if (outcome === undefined) return result(`did not finish within ${options.timeoutMs} ms`);
      return result(outcome === 0 ? undefined : `exited with ${outcome}`);
    }

    let exitedWith: number | string | undefined;
    void exited.then((code) => {
      exitedWith = code;
    });
    const deadline = performance.now() + options.timeoutMs;
    let port: string | undefined;
    while (port === undefined && exitedWith === undefined && performance.now() < deadline) {
      await delay(20);
      port = LISTENING.exec(output)?.[1];
    }
    if (port === undefined && exitedWith !== undefined) return result(`exited with ${exitedWith} before listening`);
    if (port === undefined) return result(`did not listen within ${options.timeoutMs} ms`);

    const { get, headers, status: expected } = block.directives;
    const url = `http://127.0.0.1:${port}${get}`;
    const status = await request(url, headers);
    if (typeof status === 'string') return result(`GET ${get} failed: ${status}`);
    if (expected !== undefined ? status !== expected : status >= 500)
      return result(`GET ${get} answered ${status}, expected ${expected ?? 'a status below 500'}`, status);

    // An API key that names an Object.prototype member: a key table written as an object
    // literal (`({ ... })[apiKey]`) answers a function for it, and the resolver fails (503).
    const probe = await request(url, { ...headers, 'x-api-key': 'constructor' });
    if (typeof probe === 'string' || probe >= 500)
      return result(
        `GET ${get} with X-API-Key: constructor answered ${probe}: an unknown key must get a 401, ` +
          'not a server error (look keys up in a Map, not in an object literal)',
        status,
      );
    return result(undefined, status);
  } finally {
    await stop(child, exited);
  }
}

/** This process's environment without the variables the blocks read, so only the suite sets them. */
function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TIERLIMIT_') && name !== 'REDIS_URL'),
  );
}

/** The status of a GET, or why it failed. */
async function request(url: string, headers: Readonly<Record<string, string>>): Promise<number | string> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * SIGTERM to the block's process group, then SIGKILL to whatever is left of it after 2 s
 * (a block may handle SIGTERM itself, and tsx runs the block in a child process).
 */
async function stop(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  const group = child.pid;
  if (group === undefined) return;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-group, name);
    } catch {
      // The group is gone already.
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    signal('SIGTERM');
    await Promise.race([exited, delay(2_000)]);
  }
  signal('SIGKILL');
  await exited;
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}
