/**
 * What the WebSocket suites share: a guarded `ws` server on 127.0.0.1, and real `ws`
 * clients that report either an open socket or the HTTP refusal of their upgrade.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createRateLimiter, type RateLimiter } from '@tierlimit/core';
import {
  type ConnectionHandler,
  type GuardedConnection,
  type WebSocketGuard,
  type WebSocketGuardOptions,
  webSocketGuard,
} from '@tierlimit/ws';
import { type ClientOptions, type RawData, WebSocket, WebSocketServer } from 'ws';

export interface GuardServer {
  readonly url: string;
  readonly server: Server;
  readonly wss: WebSocketServer;
  readonly guard: WebSocketGuard;
  /** Server side of every connection admitted so far, in order. */
  readonly accepted: GuardedConnection[];
  close(): Promise<void>;
}

/** Echo with `ack`, and `{"type":"subscribe","channel"}` through `conn.subscribe`. */
export const echoProtocol: ConnectionHandler = (conn) => {
  conn.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { type?: string; channel?: string; id?: number };
    if (message.type === 'subscribe') {
      conn.send(JSON.stringify({ type: conn.subscribe(String(message.channel)) ? 'subscribed' : 'refused' }));
    } else if (message.type === 'unsubscribe') {
      conn.unsubscribe(String(message.channel));
      conn.send(JSON.stringify({ type: 'unsubscribed' }));
    } else {
      conn.send(JSON.stringify({ type: 'ack', id: message.id }));
    }
  });
};

export async function startGuardServer(
  guardOptions: WebSocketGuardOptions,
  options: {
    readonly onConnection?: ConnectionHandler;
    readonly perMessageDeflate?: boolean;
    readonly wss?: (guard: WebSocketGuard) => WebSocketServer;
  } = {},
): Promise<GuardServer> {
  const guard = webSocketGuard(guardOptions);
  const wss =
    options.wss?.(guard) ??
    new WebSocketServer({
      noServer: true,
      perMessageDeflate: options.perMessageDeflate ?? false,
      ...guard.serverOptions,
    });
  const accepted: GuardedConnection[] = [];
  const onConnection = options.onConnection ?? echoProtocol;
  const server = createServer((_req, res) => res.end());
  server.on('upgrade', (req, socket, head) =>
    guard.handleUpgrade(wss, req, socket, head, (conn, request) => {
      accepted.push(conn);
      // Passed on, so that the guard sees the promise an async handler returns.
      return onConnection(conn, request);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    server,
    wss,
    guard,
    accepted,
    async close() {
      await guard.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export type Upgrade =
  | { readonly ok: true; readonly ws: WebSocket }
  | {
      readonly ok: false;
      readonly status: number;
      readonly headers: Readonly<Record<string, string | string[] | undefined>>;
      readonly body: string;
    };

/** Opens a client; resolves with the open socket, or with the HTTP response that refused it. */
export function connect(url: string, key?: string, options: ClientOptions = {}): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ...options,
      headers: { ...(key === undefined ? {} : { 'x-api-key': key }), ...options.headers },
    });
    ws.once('open', () => resolve({ ok: true, ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    ws.once('error', reject);
  });
}

/** Like `connect`, but the upgrade must succeed. */
export async function open(url: string, key?: string, options?: ClientOptions): Promise<WebSocket> {
  const result = await connect(url, key, options);
  if (!result.ok) throw new Error(`upgrade refused with ${result.status}: ${result.body}`);
  return result.ws;
}

/** Like `connect`, but the upgrade must be refused. */
export async function refused(
  url: string,
  key?: string,
  options?: ClientOptions,
): Promise<Extract<Upgrade, { ok: false }>> {
  const result = await connect(url, key, options);
  if (result.ok) {
    result.ws.terminate();
    throw new Error('upgrade was admitted');
  }
  return result;
}

/** Collects a client's text frames, parsed as JSON. */
export function collect(ws: WebSocket): unknown[] {
  const frames: unknown[] = [];
  ws.on('message', (data: RawData) => frames.push(JSON.parse(data.toString())));
  return frames;
}

/** Resolves with the next frame, parsed as JSON. */
export function nextFrame(ws: WebSocket): Promise<unknown> {
  return new Promise((resolve) => ws.once('message', (data: RawData) => resolve(JSON.parse(data.toString()))));
}

/** Resolves with the close code (and reason) the client saw. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** Polls `condition` every 20 ms until it holds, for at most `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Closes every client and waits until each is closed. */
export async function closeAll(clients: readonly WebSocket[]): Promise<void> {
  await Promise.all(
    clients.map((ws) => {
      const done = closed(ws);
      ws.terminate();
      return done;
    }),
  );
}

/** Test keys and their tiers (of `defaultTiers`). */
export const resolveTier = (apiKey: string): string | null =>
  ({ 'key-free': 'free', 'key-free-2': 'free', 'key-starter': 'starter', 'key-pro': 'pro' })[apiKey] ?? null;

/** Collects the guard's warnings. */
export function warnings(): { readonly codes: string[]; readonly onWarning: (warning: { code: string }) => void } {
  const codes: string[] = [];
  return { codes, onWarning: (warning) => codes.push(warning.code) };
}

export interface GuardSuite {
  /** This test's limiter: a fresh `createRateLimiter({ resolveTier })`, closed after it. */
  limiter(): RateLimiter;
  /** `startGuardServer`, closed after the test. */
  start(...args: Parameters<typeof startGuardServer>): Promise<GuardServer>;
  /** `open` on the server's URL (as `key-free` unless told), closed after the test. */
  client(server: GuardServer, key?: string, options?: ClientOptions): Promise<WebSocket>;
  /** Runs `step` after the test, before its clients, servers and limiter are closed. */
  onCleanup(step: () => void): void;
}

/**
 * The lifecycle of an in-process guard suite: registers its `beforeEach` (a fresh limiter)
 * and `afterEach` (the cleanup steps, then every client, every server and the limiter are
 * closed), so call it inside a `describe`.
 */
export function guardSuite(): GuardSuite {
  let limiter: RateLimiter | undefined;
  const servers: GuardServer[] = [];
  const clients: WebSocket[] = [];
  const steps: Array<() => void> = [];

  beforeEach(() => {
    limiter = createRateLimiter({ resolveTier });
  });

  afterEach(async () => {
    for (const step of steps.splice(0)) step();
    await closeAll(clients.splice(0));
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await limiter?.close();
  });

  return {
    limiter() {
      if (limiter === undefined) throw new Error('the limiter exists only inside a test');
      return limiter;
    },
    async start(...args) {
      const server = await startGuardServer(...args);
      servers.push(server);
      return server;
    },
    async client(server, key = 'key-free', options) {
      const ws = await open(server.url, key, options);
      clients.push(ws);
      return ws;
    },
    onCleanup(step) {
      steps.push(step);
    },
  };
}

export interface FixtureProcess {
  /** The fixture's WebSocket URL, `ws://127.0.0.1:<port>/ws`. */
  readonly url: string;
  readonly child: ChildProcess;
  /** All the process has written to stderr so far. */
  readonly stderr: () => string;
}

/**
 * Runs `test/websocket/fixtures/<name>.ts` as its own process (on a free port, with `env`
 * added) and resolves once it prints `listening on http://127.0.0.1:<port>`; rejects if it
 * exits first or takes more than 20 s. Node itself with tsx as a loader, not the tsx CLI:
 * the CLI runs the script in a child process, which a SIGKILL to the CLI could not reach,
 * so the test talks to (and can kill) that very process.
 */
export function startFixture(name: string, env: Record<string, string> = {}): Promise<FixtureProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', `test/websocket/fixtures/${name}.ts`], {
    cwd: join(__dirname, '..', '..'),
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${name} fixture did not start in 20 s`)), 20_000);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: `ws://${match[1]}/ws`, child, stderr: () => stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the ${name} fixture exited with ${code}: ${output}${stderr}`));
    });
  });
}
