/**
 * `/ws` on each demo, as a user runs it: the demo started as its own process on a free
 * port on 127.0.0.1, real `ws` clients, the real clock. Checks the "done when":
 * the 11th concurrent demo-free connection is a 429 before the handshake, the 11th message
 * in a second an error frame, the 51st subscription refused, a 65 KB message a 1009.
 */
import type { WebSocket } from 'ws';
import { type DemoProcess, startDemo, stopDemo } from '../support/demo-process';
import { closeAll, closed, collect, connect, eventually, nextFrame, open, refused, sleep } from './helpers';

interface Frame {
  readonly type?: string;
  readonly channel?: string;
  readonly error?: { readonly code: string; readonly details?: Record<string, unknown> };
}

describe.each(['express', 'koa', 'fastify'])('%s demo /ws', (framework) => {
  let demo: DemoProcess | undefined;
  let url = '';
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    demo = await startDemo(framework);
    url = `${demo.url.replace(/^http/, 'ws')}/ws`;
  }, 30_000);

  afterEach(() => closeAll(clients.splice(0)));

  afterAll(() => stopDemo(demo));

  async function client(key = 'demo-free'): Promise<WebSocket> {
    const ws = await open(url, key);
    clients.push(ws);
    return ws;
  }

  /** Sends one message and waits for its reply; backs off and resends if the rate refused it. */
  async function request(ws: WebSocket, message: unknown): Promise<Frame> {
    for (;;) {
      const reply = nextFrame(ws) as Promise<Frame>;
      ws.send(JSON.stringify(message));
      const frame = await reply;
      if (frame.error?.code !== 'RATE_LIMITED') return frame;
      await sleep(200);
    }
  }

  test('other paths: 404 before the handshake; no key: the JSON 401', async () => {
    const notFound = await refused(url.replace(/\/ws$/, '/socket'), 'demo-free');
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body)).toEqual({ error: { code: 'NOT_FOUND', message: 'No such endpoint.' } });
    const anonymous = await refused(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['content-type']).toMatch(/^application\/json/);
  });

  test('the 11th concurrent demo-free connection is refused with 429 before the handshake', async () => {
    for (let i = 0; i < 10; i++) await client();
    const response = await refused(url, 'demo-free');
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('30');
    const body = JSON.parse(response.body) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({
      code: 'RATE_LIMITED',
      details: { limit: 10, retryAfter: 30, policy: 'connections' },
      requestId: response.headers['x-request-id'],
    });
    // demo-starter has its own 50.
    await client('demo-starter');
    // Closing connections frees their slots.
    await closeAll(clients.splice(0));
    await eventually(async () => {
      const result = await connect(url, 'demo-free');
      if (result.ok) clients.push(result.ws);
      return result.ok;
    });
  });

  test('the 11th message inside one second gets an error frame', async () => {
    // 11 messages sent back to back reach the server within a few ms, well inside the 100 ms
    // it takes to refill one token; a sample slower than that is taken again (fresh socket).
    for (let attempt = 1; ; attempt++) {
      const ws = await client();
      const frames = collect(ws) as Frame[];
      const sentAt = Date.now();
      for (let i = 0; i < 11; i++) ws.send(JSON.stringify({ type: 'event', name: 'tick', i }));
      await eventually(() => frames.length === 11);
      if (Date.now() - sentAt < 100 || attempt === 3) {
        expect(frames.slice(0, 10).every((frame) => frame.type === 'ack')).toBe(true);
        expect(frames[10]).toEqual({
          error: {
            code: 'RATE_LIMITED',
            message: 'Rate limit exceeded. Retry after 1 second.',
            details: { limit: 10, window: '1 second', retryAfter: 1, policy: 'messages' },
            requestId: expect.any(String),
            timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
          },
        });
        return;
      }
      await closeAll(clients.splice(0));
    }
  });

  test('the 51st subscription is refused; unsubscribing frees a place', async () => {
    const ws = await client();
    for (let i = 1; i <= 50; i++) {
      expect(await request(ws, { type: 'subscribe', channel: `scores-${i}` })).toEqual({
        type: 'subscribed',
        channel: `scores-${i}`,
      });
      // Stay inside 10 messages a second.
      await sleep(100);
    }
    const refusal = await request(ws, { type: 'subscribe', channel: 'scores-51' });
    expect(refusal).toMatchObject({
      type: 'error',
      error: { code: 'TOO_MANY_SUBSCRIPTIONS', details: { limit: 50, channel: 'scores-51' } },
    });
    expect(await request(ws, { type: 'unsubscribe', channel: 'scores-1' })).toEqual({
      type: 'unsubscribed',
      channel: 'scores-1',
    });
    expect(await request(ws, { type: 'subscribe', channel: 'scores-51' })).toEqual({
      type: 'subscribed',
      channel: 'scores-51',
    });
  }, 20_000);

  test('a 65 KB message closes the connection with 1009', async () => {
    const ws = await client();
    expect(await request(ws, { type: 'event', name: 'small' })).toEqual({ type: 'ack' });
    const done = closed(ws);
    ws.send(JSON.stringify({ type: 'event', pad: 'x'.repeat(65 * 1024) }));
    expect((await done).code).toBe(1009);
  });
});
