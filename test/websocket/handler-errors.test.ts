/**
 * Errors from the app's own code on a connection (issue 13): one non-JSON frame sent to a
 * handler doing a bare `JSON.parse` used to throw inside ws's socket listener and end the
 * process. Now every throw or rejection from `onConnection` or a listener on the connection
 * goes to the guard's `onError` (default: a `TL_WS_HANDLER_FAILED` warning and a 1011 close
 * of that connection only). The crash test runs the server as its own process, so a crash
 * is seen as one; the rest runs in process with real `ws` clients on 127.0.0.1.
 */
import type { ChildProcess } from 'node:child_process';
import type { GuardedConnection } from '@tierlimit/ws';
import type { RawData, WebSocket } from 'ws';
import {
  closeAll,
  closed,
  eventually,
  type FixtureProcess,
  guardSuite,
  nextFrame,
  open,
  startFixture,
  warnings,
} from './helpers';

/** `promise`, or a rejection after `ms`: a dead server must fail the test, not hang it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Sends `message` and resolves with the reply, parsed as JSON. */
function request(ws: WebSocket, message: string): Promise<unknown> {
  const reply = nextFrame(ws);
  ws.send(message);
  return within(reply, 5_000, `reply to ${message}`);
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

describe('a non-JSON frame to a handler with a bare JSON.parse (its own process, guard defaults)', () => {
  let fixture: FixtureProcess | undefined;
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    fixture = await startFixture('bare-json-server');
  }, 30_000);

  afterEach(() => closeAll(clients.splice(0)));

  afterAll(async () => {
    const child = fixture?.child;
    if (child === undefined || !alive(child)) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  });

  async function client(path = ''): Promise<WebSocket> {
    const ws = await open(`${(fixture as FixtureProcess).url}${path}`, 'key-free');
    clients.push(ws);
    return ws;
  }

  test.each([
    ['a listener that throws', ''],
    ['an async listener that rejects', '?async'],
  ])('%s: that connection gets 1011, the process and the other clients carry on', async (_name, path) => {
    const { child, stderr } = fixture as FixtureProcess;
    const calm = await client();
    expect(await request(calm, JSON.stringify({ id: 1 }))).toEqual({ echo: 1 });

    const rude = await client(path);
    const rudeClosed = closed(rude);
    rude.send('this is not JSON');
    expect(await within(rudeClosed, 5_000, 'the close of the rude client')).toEqual({
      code: 1011,
      reason: 'internal error',
    });

    expect(alive(child)).toBe(true);
    expect(await request(calm, JSON.stringify({ id: 2 }))).toEqual({ echo: 2 });
    const newcomer = await client(path);
    expect(await request(newcomer, JSON.stringify({ id: 3 }))).toEqual({ echo: 3 });
    // The documented place for it by default: a warning with a stable code on stderr, once
    // per process (as every guard warning), and the 1011 above, which only it sends.
    await eventually(() => stderr().includes('[tierlimit] TL_WS_HANDLER_FAILED'));
    expect(stderr()).toMatch(/TL_WS_HANDLER_FAILED: .*SyntaxError/);
    expect(stderr().match(/TL_WS_HANDLER_FAILED/g)).toHaveLength(1);
    expect(alive(child)).toBe(true);
  });
});

describe('onError', () => {
  const { limiter, start, client } = guardSuite();

  test('receives the error and its connection; the app decides, here to answer and keep the connection', async () => {
    const errors: Array<{ error: unknown; conn: GuardedConnection }> = [];
    const seenByLogger: string[] = [];
    const server = await start(
      {
        limiter: limiter(),
        onError: (error, conn) => {
          errors.push({ error, conn });
          conn.send(JSON.stringify({ type: 'error', ...conn.errorBody('INVALID_MESSAGE', 'Expected JSON.') }));
        },
      },
      {
        onConnection: (conn) => {
          conn.on('message', (data) => {
            const message = JSON.parse(data.toString()) as { id?: unknown };
            conn.send(JSON.stringify({ echo: message.id }));
          });
          // A second listener still gets every message when the first one throws.
          conn.on('message', (data) => seenByLogger.push(data.toString()));
        },
      },
    );
    const rude = await client(server);
    const calm = await client(server, 'key-free-2');

    expect(await request(rude, '{not json')).toMatchObject({ type: 'error', error: { code: 'INVALID_MESSAGE' } });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.error).toBeInstanceOf(SyntaxError);
    expect(errors[0]?.conn).toBe(server.accepted[0]);
    expect(seenByLogger).toEqual(['{not json']);

    // The connection is still open and serves valid messages; the other client never noticed.
    expect(await request(rude, JSON.stringify({ id: 'a' }))).toEqual({ echo: 'a' });
    expect(await request(calm, JSON.stringify({ id: 'b' }))).toEqual({ echo: 'b' });
    expect(rude.readyState).toBe(rude.OPEN);
    expect(errors).toHaveLength(1);
  });

  test('also receives rejections of async listeners and of an async onConnection, and throws in close listeners', async () => {
    const errors: Array<{ message: string; conn: GuardedConnection }> = [];
    const server = await start(
      {
        limiter: limiter(),
        onError: (error, conn) => errors.push({ message: (error as Error).message, conn }),
      },
      {
        onConnection: async (conn) => {
          conn.on('message', async (data: RawData) => {
            await Promise.resolve();
            throw new Error(`cannot handle ${data.toString()}`);
          });
          conn.on('close', () => {
            throw new Error('close listener failed');
          });
          await Promise.resolve();
          throw new Error('async onConnection failed');
        },
      },
    );
    const ws = await client(server);
    await eventually(() => errors.length === 1);
    ws.send('hello');
    await eventually(() => errors.length === 2);
    const done = closed(ws);
    ws.close(1000);
    await done;
    await eventually(() => errors.length === 3);
    expect(errors.map((entry) => entry.message)).toEqual([
      'async onConnection failed',
      'cannot handle hello',
      'close listener failed',
    ]);
    expect(errors.every((entry) => entry.conn === server.accepted[0])).toBe(true);
  });

  test('an onError that throws falls back to the default: a warning, and 1011 for that connection only', async () => {
    const seen = warnings();
    const server = await start(
      {
        limiter: limiter(),
        onWarning: seen.onWarning,
        onError: () => {
          throw new Error('the error handler has a bug too');
        },
      },
      {
        onConnection: (conn) =>
          conn.on('message', (data) => {
            const message = JSON.parse(data.toString()) as { id?: unknown };
            conn.send(JSON.stringify({ echo: message.id }));
          }),
      },
    );
    const rude = await client(server);
    const calm = await client(server, 'key-free-2');
    const rudeClosed = closed(rude);
    rude.send('nope');
    expect(await rudeClosed).toEqual({ code: 1011, reason: 'internal error' });
    expect(seen.codes).toEqual(['TL_WS_HANDLER_FAILED']);
    expect(await request(calm, JSON.stringify({ id: 7 }))).toEqual({ echo: 7 });
  });
});
